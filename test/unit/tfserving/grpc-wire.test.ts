/**
 * The gRPC facts shared by the gateway and the simulator: status numbers from error_codes.proto,
 * the services' method paths, canonical encoding, message framing, grpc-message percent-encoding,
 * TF's 1024-byte cut and grpc-timeout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HTTP_STATUS_OF, type TfErrorCode } from '../../../gateway/src/tfserving/errors.js';
import { frameMessage, parseGrpcTimeout, percentDecode, percentEncode, readMessages, tfGrpcMessage } from '../../../gateway/src/tfserving/grpc-wire.js';
import { grpcStatusCode, messageCodec, statusCodeName, tfServingMethods } from '../../../gateway/src/tfserving/protos.js';

test('every TF error code has its gRPC status number (the numbers are gRPC canonical codes)', () => {
  const canonical: Record<string, number> = {
    OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7,
    RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14,
    DATA_LOSS: 15, UNAUTHENTICATED: 16,
  };
  for (const code of ['OK', ...Object.keys(HTTP_STATUS_OF)] as Array<'OK' | TfErrorCode>) {
    assert.equal(grpcStatusCode(code), canonical[code], code);
    assert.equal(statusCodeName(canonical[code] as number), code);
  }
  assert.equal(statusCodeName(17), undefined);
});

test('the services: exactly the seven unary methods of PredictionService and ModelService', () => {
  assert.deepEqual([...tfServingMethods().keys()].sort(), [
    '/tensorflow.serving.ModelService/GetModelStatus',
    '/tensorflow.serving.ModelService/HandleReloadConfigRequest',
    '/tensorflow.serving.PredictionService/Classify',
    '/tensorflow.serving.PredictionService/GetModelMetadata',
    '/tensorflow.serving.PredictionService/MultiInference',
    '/tensorflow.serving.PredictionService/Predict',
    '/tensorflow.serving.PredictionService/Regress',
  ]);
});

test('encoding is canonical: proto3 defaults left out, except where a oneof case needs them', () => {
  const status = messageCodec<object>('tensorflow.serving.StatusProto');
  assert.equal(Buffer.from(status.encode({ error_code: 'OK', error_message: '' })).length, 0);
  assert.equal(Buffer.from(status.encode({ error_code: 5, error_message: 'x' })).toString('hex'), '0805' + '120178');
  const spec = messageCodec<object>('tensorflow.serving.ModelSpec');
  // version 0 is still a version (field 2 present, empty Int64Value); an empty label still picks the label case.
  assert.equal(Buffer.from(spec.encode({ name: 'm', version: { value: '0' } })).toString('hex'), '0a016d' + '1200');
  assert.equal(Buffer.from(spec.encode({ name: 'm', version_label: '' })).toString('hex'), '0a016d' + '2200');
});

test('frames: 5-byte prefix (flag, big-endian length); a cut message reads as null', () => {
  const two = Buffer.concat([frameMessage(Buffer.from('ab')), frameMessage(Buffer.from('c'), true)]);
  assert.equal(two.toString('hex'), '0000000002' + '6162' + '0100000001' + '63');
  assert.deepEqual(readMessages(two)?.map((m) => [m.compressed, m.payload.toString()]), [
    [false, 'ab'],
    [true, 'c'],
  ]);
  assert.deepEqual(readMessages(Buffer.alloc(0)), []);
  assert.equal(readMessages(two.subarray(0, 6)), null);
  assert.equal(readMessages(two.subarray(0, 3)), null);
});

test('grpc-message: bytes outside 0x20-0x7E and % are %XX; spaces stay; decoding restores the bytes', () => {
  const text = 'Latest(modèle 100%)\n';
  assert.equal(percentEncode(Buffer.from(text)), 'Latest(mod%C3%A8le 100%25)%0A');
  assert.equal(percentDecode(percentEncode(Buffer.from(text))).toString(), text);
  assert.equal(percentDecode('50%').toString(), '50%');
});

test("TF's cut: a message over 1024 bytes keeps its first 1024 bytes and gains ...TRUNCATED", () => {
  assert.equal(tfGrpcMessage('x'.repeat(1024)).toString(), 'x'.repeat(1024));
  assert.equal(tfGrpcMessage('x'.repeat(1025)).toString(), `${'x'.repeat(1024)}...TRUNCATED`);
  // Bytes, not characters: a two-byte character straddling the limit is cut in half.
  const cut = tfGrpcMessage('x'.repeat(1023) + 'é');
  assert.equal(cut.length, 1024 + '...TRUNCATED'.length);
  assert.equal(cut[1023], 0xc3);
});

test('grpc-timeout: up to 8 digits and a unit (H M S m u n), in milliseconds', () => {
  assert.equal(parseGrpcTimeout('1H'), 3_600_000);
  assert.equal(parseGrpcTimeout('2M'), 120_000);
  assert.equal(parseGrpcTimeout('3S'), 3000);
  assert.equal(parseGrpcTimeout('250m'), 250);
  assert.equal(parseGrpcTimeout('1500u'), 1.5);
  assert.equal(parseGrpcTimeout('99999999n'), 99.999999);
  for (const bad of [undefined, '', '100', '123456789S', '1s', '-1S', '1.5S']) assert.equal(parseGrpcTimeout(bad), null, String(bad));
});
