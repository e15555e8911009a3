"""Interop check: a Python grpcio client calls Quiver's Open Inference Protocol v2 service.

Usage: oip_client.py STUBS_DIR ADDRESS
Stubs are generated at test time from proto/inference/grpc_predict_v2.proto. Prints one
JSON object with what each call returned.
"""
import json
import struct
import sys

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
from inference import grpc_predict_v2_pb2 as pb  # noqa: E402
from inference import grpc_predict_v2_pb2_grpc as pb_grpc  # noqa: E402

ROWS = [
    [1.5, 2.3, -0.8, 0.1, -1.2, 0.7, 1.8, -0.3, 2.1, 0.9],
    [-1.5, -2.3, 0.8, -0.1, 1.2, -0.7, -1.8, 0.3, -2.1, -0.9],
]


def outputs_of(res):
    """Each output's values, from typed contents or raw_output_contents."""
    out = {}
    for i, o in enumerate(res.outputs):
        if len(res.raw_output_contents) > 0:
            raw = res.raw_output_contents[i]
            fmt = {"FP32": "f", "INT64": "q"}[o.datatype]
            values = list(struct.unpack("<%d%s" % (len(raw) // struct.calcsize(fmt), fmt), raw))
        elif o.datatype == "FP32":
            values = list(o.contents.fp32_contents)
        else:
            values = list(o.contents.int64_contents)
        out[o.name] = {"datatype": o.datatype, "shape": list(o.shape), "values": values}
    return out


def main() -> None:
    channel = grpc.insecure_channel(sys.argv[2])
    stub = pb_grpc.GRPCInferenceServiceStub(channel)
    flat = [v for row in ROWS for v in row]
    typed = stub.ModelInfer(
        pb.ModelInferRequest(
            model_name="production-model",
            id="py",
            inputs=[
                pb.ModelInferRequest.InferInputTensor(
                    name="features", datatype="FP32", shape=[2, 10], contents=pb.InferTensorContents(fp32_contents=flat)
                )
            ],
        ),
        timeout=10,
    )
    raw = stub.ModelInfer(
        pb.ModelInferRequest(
            model_name="production-model",
            inputs=[pb.ModelInferRequest.InferInputTensor(name="features", datatype="FP32", shape=[2, 10])],
            outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name="probabilities")],
            raw_input_contents=[struct.pack("<%df" % len(flat), *flat)],
        ),
        timeout=10,
    )
    meta = stub.ModelMetadata(pb.ModelMetadataRequest(name="production-model"), timeout=10)
    try:
        stub.ModelInfer(pb.ModelInferRequest(model_name="nope"), timeout=10)
        missing = None
    except grpc.RpcError as err:
        missing = {"code": err.code().name, "details": err.details()}
    print(
        json.dumps(
            {
                "live": stub.ServerLive(pb.ServerLiveRequest(), timeout=10).live,
                "ready": stub.ServerReady(pb.ServerReadyRequest(), timeout=10).ready,
                "model_ready": stub.ModelReady(pb.ModelReadyRequest(name="production-model"), timeout=10).ready,
                "server": stub.ServerMetadata(pb.ServerMetadataRequest(), timeout=10).name,
                "metadata": {
                    "name": meta.name,
                    "platform": meta.platform,
                    "inputs": [[t.name, t.datatype, list(t.shape)] for t in meta.inputs],
                },
                "typed": {"model_version": typed.model_version, "id": typed.id, "outputs": outputs_of(typed)},
                "raw": {"raw_count": len(raw.raw_output_contents), "outputs": outputs_of(raw)},
                "not_found": missing,
            }
        )
    )


if __name__ == "__main__":
    main()
