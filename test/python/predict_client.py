"""Interop check: a Python grpcio client (a second gRPC implementation) calls Quiver.

Usage: predict_client.py STUBS_DIR ADDRESS
Prints one JSON object with what Predict, BatchPredict and GetModelMetadata returned.
"""
import json
import sys

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
from quiver.v1 import prediction_pb2, prediction_pb2_grpc  # noqa: E402

ROW = [1.5, 2.3, -0.8, 0.1, -1.2, 0.7, 1.8, -0.3, 2.1, 0.9]


def main() -> None:
    channel = grpc.insecure_channel(sys.argv[2])
    stub = prediction_pb2_grpc.PredictionServiceStub(channel)
    features = {f"feature_{i}": v for i, v in enumerate(ROW)}
    res = stub.Predict(prediction_pb2.PredictRequest(model_name="production-model", features=features, id="py"), timeout=10)
    batch = stub.BatchPredict(
        prediction_pb2.BatchPredictRequest(
            model_name="production-model",
            requests=[prediction_pb2.Instance(features=features), prediction_pb2.Instance(features={"feature_0": 1.0})],
        ),
        timeout=10,
    )
    meta = stub.GetModelMetadata(prediction_pb2.GetModelMetadataRequest(model_name="production-model"), timeout=10)
    try:
        stub.Predict(prediction_pb2.PredictRequest(model_name="nope", features=features), timeout=10)
        missing = None
    except grpc.RpcError as err:
        missing = {"code": err.code().name, "details": err.details()}
    print(
        json.dumps(
            {
                "prediction": res.prediction,
                "probability": res.probability,
                "probabilities": list(res.probabilities),
                "model_version": res.model_version,
                "id": res.id,
                "label": list(res.outputs["label"].int64_data),
                "batch_codes": [item.status.code for item in batch.responses],
                "batch_first": list(batch.responses[0].result.probabilities),
                "feature_names": list(meta.feature_names),
                "not_found": missing,
            }
        )
    )


if __name__ == "__main__":
    main()
