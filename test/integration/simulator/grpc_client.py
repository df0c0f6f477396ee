#!/usr/bin/env python3
"""A second client for the simulator's gRPC port, to check the wire format with another
implementation: grpcio (grpc C++ underneath) and messages that protoc generated from the project's
.proto files. Run by grpc-python.test.ts with Debian's /usr/bin/python3 (python3-grpcio,
python3-protobuf).

Usage: grpc_client.py <dir of the generated *_pb2 modules> <host:port>
Prints one JSON object: for each call, the answer as protobuf's JSON mapping (field names as in the
.proto files), or {"code": ..., "details": ...} when the call fails.
"""
import json
import sys

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402

from tensorflow.core.framework import types_pb2  # noqa: E402
from tensorflow_serving.apis import classification_pb2  # noqa: E402
from tensorflow_serving.apis import get_model_metadata_pb2  # noqa: E402
from tensorflow_serving.apis import get_model_status_pb2  # noqa: E402
from tensorflow_serving.apis import model_service_pb2  # noqa: E402
from tensorflow_serving.apis import predict_pb2  # noqa: E402
from tensorflow_serving.apis import prediction_service_pb2  # noqa: E402

MODEL = 'half_plus_two'


def method(service_file, service, name, response_type):
    """A unary callable on the path the service descriptor gives (no grpc_tools stubs needed)."""
    descriptor = service_file.DESCRIPTOR.services_by_name[service]
    path = '/%s/%s' % (descriptor.full_name, descriptor.methods_by_name[name].name)
    return CHANNEL.unary_unary(path, request_serializer=lambda m: m.SerializeToString(), response_deserializer=response_type.FromString)


def outcome(call, request):
    try:
        response = call(request, timeout=10)
        return json_format.MessageToDict(response, preserving_proto_field_name=True)
    except grpc.RpcError as e:
        return {'code': e.code().name, 'details': e.details()}


def predict_request(name, alias='x', values=(1.0, 2.0, 5.0)):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    tensor = request.inputs[alias]
    tensor.dtype = types_pb2.DT_FLOAT
    tensor.tensor_shape.dim.add().size = len(values)
    tensor.float_val.extend(values)
    return request


def classify_request():
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = 'classify_x_to_y'
    for x in (1.0, 2.0):
        request.input.example_list.examples.add().features.feature['x'].float_list.value.append(x)
    return request


def status_request(name):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    return request


def signature_defs():
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = MODEL
    request.metadata_field.append('signature_def')
    try:
        response = get_metadata(request, timeout=10)
    except grpc.RpcError as e:
        return {'code': e.code().name, 'details': e.details()}
    signatures = get_model_metadata_pb2.SignatureDefMap()
    if not response.metadata['signature_def'].Unpack(signatures):
        return {'error': 'the Any does not hold a SignatureDefMap: ' + response.metadata['signature_def'].type_url}
    return {
        'model_spec': json_format.MessageToDict(response.model_spec, preserving_proto_field_name=True),
        'serving_default': json_format.MessageToDict(signatures.signature_def['serving_default'], preserving_proto_field_name=True),
    }


CHANNEL = grpc.insecure_channel(sys.argv[2])
predict = method(prediction_service_pb2, 'PredictionService', 'Predict', predict_pb2.PredictResponse)
classify = method(prediction_service_pb2, 'PredictionService', 'Classify', classification_pb2.ClassificationResponse)
get_metadata = method(prediction_service_pb2, 'PredictionService', 'GetModelMetadata', get_model_metadata_pb2.GetModelMetadataResponse)
get_status = method(model_service_pb2, 'ModelService', 'GetModelStatus', get_model_status_pb2.GetModelStatusResponse)

print(json.dumps({
    'predict': outcome(predict, predict_request(MODEL)),
    'status': outcome(get_status, status_request(MODEL)),
    'classify': outcome(classify, classify_request()),
    'metadata': signature_defs(),
    'unknown_model': outcome(predict, predict_request('nope')),
    # Messages that end in a space, which Node's HTTP/2 stack drops: grpc C++ reads them.
    'status_no_name': outcome(get_status, status_request('')),
    'wrong_alias': outcome(predict, predict_request(MODEL, alias='w')),
}))
CHANNEL.close()
