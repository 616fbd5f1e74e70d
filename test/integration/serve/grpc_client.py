"""TF Serving's own Python client (tensorflow-serving-api) against `effscale serve --grpc-port`, next to the
SavedModel export run in Python TensorFlow on the same images.

Usage: grpc_client.py ADDRESS MODEL TOKEN SAVED_MODEL_DIR IMAGES.json
  IMAGES.json: {"batches": [{"shape": [n, h, w, c], "values": [...]}, ...]}
Prints one JSON line: for each batch, the probabilities from gRPC with float input, from gRPC with uint8 input,
and from the SavedModel's serving_default signature; the serving_default SignatureDef GetModelMetadata answers,
next to the one in the SavedModel's own meta graph; and the codes of calls without the token.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import grpc  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from tensorflow.python.tools import saved_model_utils  # noqa: E402
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc  # noqa: E402

address, model, token, saved_model_dir, images_file = sys.argv[1:6]
with open(images_file) as f:
    batches = json.load(f)["batches"]

stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(address))
serve = tf.saved_model.load(saved_model_dir).signatures["serving_default"]
metadata = [("authorization", f"Bearer {token}")]


def predict(images):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = "serving_default"
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(images))
    response = stub.Predict(request, timeout=30, metadata=metadata)
    return tf.make_ndarray(response.outputs["probabilities"]).ravel().tolist()


out = []
for batch in batches:
    images = np.asarray(batch["values"], dtype=np.float32).reshape(batch["shape"])
    out.append(
        {
            "grpc": predict(images),
            "grpcUint8": predict(images.astype(np.uint8)),
            "savedModel": serve(images=tf.constant(images))["probabilities"].numpy().ravel().tolist(),
        }
    )



def message_json(message):
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def metadata_request():
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = model
    request.metadata_field.append("signature_def")
    return request


def code_without_token(call, request):
    try:
        call(request, timeout=30)
        return "accepted"
    except grpc.RpcError as error:
        return error.code().name


response = stub.GetModelMetadata(metadata_request(), timeout=30, metadata=metadata)
signatures = get_model_metadata_pb2.SignatureDefMap()
assert response.metadata["signature_def"].Unpack(signatures), response.metadata["signature_def"].type_url
exported = saved_model_utils.get_meta_graph_def(saved_model_dir, "serve").signature_def["serving_default"]
model_metadata = {
    "modelSpec": message_json(response.model_spec),
    "signatures": sorted(signatures.signature_def.keys()),
    "served": message_json(signatures.signature_def["serving_default"]),
    "exported": message_json(exported),
}

predict_request = predict_pb2.PredictRequest()
predict_request.model_spec.name = model
predict_request.inputs["images"].CopyFrom(tf.make_tensor_proto(np.zeros((1, 4, 4, 1), np.float32)))
unauthenticated = code_without_token(stub.Predict, predict_request)
metadata_unauthenticated = code_without_token(stub.GetModelMetadata, metadata_request())

print(
    json.dumps(
        {
            "tfVersion": tf.__version__,
            "batches": out,
            "modelMetadata": model_metadata,
            "withoutToken": unauthenticated,
            "metadataWithoutToken": metadata_unauthenticated,
        }
    )
)
