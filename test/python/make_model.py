"""Builds a model with Debian's python3-onnx (onnx.helper), the way other tools export one.

Usage: make_model.py OUT.onnx
A linear regressor over 3 features named by its graph only: input `input` FLOAT [batch, 3],
output `output` FLOAT [batch, 1] = input @ W + b. Prints W and b as JSON.
"""
import json
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

W = np.array([[0.5], [-1.25], [2.0]], dtype=np.float32)
B = np.array([0.75], dtype=np.float32)

graph = helper.make_graph(
    [helper.make_node("Gemm", ["input", "W", "B"], ["output"])],
    "python_linear",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3])],
    [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1])],
    [numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "B")],
)
model = helper.make_model(graph, producer_name="onnx.helper", opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
onnx.checker.check_model(model, full_check=True)
onnx.save(model, sys.argv[1])
print(json.dumps({"W": W[:, 0].tolist(), "b": float(B[0])}))
