/** The comparison of a live and a shadow answer: tolerance edges, NaN, shapes, integers, base64, classify. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareRestAnswers, type CompareOutcome, type Comparison } from '../../../gateway/src/analysis/compare.js';
import { compareGrpcAnswers } from '../../../gateway/src/analysis/compare-grpc.js';
import { frameMessage } from '../../../gateway/src/tfserving/grpc-wire.js';
import { messageCodec, type ClassificationResponseMessage, type PredictResponseMessage, type RegressionResponseMessage } from '../../../gateway/src/tfserving/protos.js';

const tol = { abs: 1e-6, rel: 1e-3 };
const b = (v: string): Buffer => Buffer.from(v);

function compared(outcome: CompareOutcome): Comparison {
  assert.ok(outcome.comparable, 'expected the answers to be compared');
  return outcome;
}

function predict(live: string, shadow: string, tolerance = tol): Comparison {
  return compared(compareRestAnswers('predict', b(live), b(shadow), tolerance));
}

test('numbers agree within abs + rel x |live|, and not past it', () => {
  assert.equal(predict('{"predictions":[1000]}', '{"predictions":[1001]}').agree, true, '1 <= 1e-6 + 1e-3 x 1000');
  assert.equal(predict('{"predictions":[1000]}', '{"predictions":[1001.01]}').agree, false);
  assert.equal(predict('{"predictions":[0]}', '{"predictions":[0.000001]}').agree, true, 'the absolute tolerance near zero');
  assert.equal(predict('{"predictions":[0]}', '{"predictions":[0.0000011]}').agree, false);
  const exact = { abs: 0, rel: 0 };
  assert.equal(predict('{"predictions":[0.5]}', '{"predictions":[0.5]}', exact).agree, true);
  assert.equal(predict('{"predictions":[0.5]}', '{"predictions":[0.5000001]}', exact).agree, false);
  const diffs = predict('{"predictions":[[1,2],[3,4]]}', '{"predictions":[[1.5,2],[3,2]]}');
  assert.equal(diffs.agree, false);
  assert.equal(diffs.elements, 4);
  assert.equal(diffs.maxAbsDiff, 2);
  assert.equal(diffs.sumAbsDiff, 2.5);
  assert.equal(diffs.detail, '/predictions/0/0: live 1, shadow 1.5 (off by 0.5)');
});

test('NaN agrees with NaN only; an infinity with the same infinity only', () => {
  assert.equal(predict('{"predictions":[NaN]}', '{"predictions":[NaN]}').agree, true);
  assert.equal(predict('{"predictions":[NaN]}', '{"predictions":[1]}').agree, false);
  assert.equal(predict('{"predictions":[1]}', '{"predictions":[NaN]}').agree, false);
  assert.equal(predict('{"predictions":[Infinity]}', '{"predictions":[Infinity]}').agree, true);
  assert.equal(predict('{"predictions":[Infinity]}', '{"predictions":[-Infinity]}').agree, false);
  assert.equal(predict('{"predictions":[Infinity]}', '{"predictions":[1e308]}').agree, false);
  assert.equal(predict('{"predictions":[NaN, 1]}', '{"predictions":[NaN, 1]}').elements, 1, 'NaN counts in no difference');
});

test('shapes must match: lengths, nesting, fields', () => {
  assert.match(predict('{"predictions":[1,2]}', '{"predictions":[1,2,3]}').detail ?? '', /shapes differ: live 2 elements, shadow 3/);
  assert.equal(predict('{"predictions":[[1]]}', '{"predictions":[1]}').agree, false);
  assert.equal(predict('{"outputs":{"a":[1],"b":[2]}}', '{"outputs":{"b":[2],"a":[1]}}').agree, true, 'field order is not shape');
  assert.equal(predict('{"outputs":{"a":[1]}}', '{"outputs":{"c":[1]}}').agree, false);
  assert.equal(predict('{"predictions":[1]}', '{"outputs":[1]}').agree, false);
});

test('integers are numbers (an int one off disagrees); strings, base64 and booleans must be equal', () => {
  assert.equal(predict('{"predictions":[7]}', '{"predictions":[7]}').agree, true);
  assert.equal(predict('{"predictions":[7]}', '{"predictions":[8]}').agree, false);
  assert.equal(predict('{"predictions":[12345678901234567890]}', '{"predictions":[12345678901234567890]}').agree, true);
  assert.equal(predict('{"predictions":[{"b64":"aGVsbG8="}]}', '{"predictions":[{"b64":"aGVsbG8="}]}').agree, true);
  assert.equal(predict('{"predictions":[{"b64":"aGVsbG8="}]}', '{"predictions":[{"b64":"aGVsbG9="}]}').agree, false);
  assert.equal(predict('{"predictions":["cat"]}', '{"predictions":["dog"]}').agree, false);
  assert.equal(predict('{"predictions":[true]}', '{"predictions":[false]}').agree, false);
});

test('a live answer that cannot be read is not compared; a shadow one that cannot be read disagrees', () => {
  assert.equal(compareRestAnswers('predict', b('not json'), b('{"predictions":[1]}'), tol).comparable, false);
  assert.equal(predict('{"predictions":[1]}', '<html>').agree, false);
  const deep = `${'['.repeat(100)}1${']'.repeat(100)}`;
  // Nesting past the limit is parsed but not built (nor walked): a bounded comparison, no stack overflow.
  assert.equal(compareRestAnswers('predict', b(deep), b(deep), tol).comparable, true);
});

test('classify: the top label must agree and every score be within the tolerance', () => {
  const classify = (live: unknown, shadow: unknown) => compared(compareRestAnswers('classify', b(JSON.stringify({ result: live })), b(JSON.stringify({ result: shadow })), tol));
  assert.equal(classify([[['cat', 0.9], ['dog', 0.1]]], [[['dog', 0.1], ['cat', 0.9]]]).agree, true, 'order of classes does not matter');
  const flipped = classify([[['cat', 0.6], ['dog', 0.4]]], [[['cat', 0.4], ['dog', 0.6]]]);
  assert.equal(flipped.agree, false);
  assert.match(flipped.detail ?? '', /top label: live "cat", shadow "dog"/);
  const drift = classify([[['cat', 0.9], ['dog', 0.1]]], [[['cat', 0.8], ['dog', 0.1]]]);
  assert.equal(drift.agree, false, 'same top label, a score off');
  assert.equal(classify([[['cat', 0.9]]], [[['cat', 0.9], ['dog', 0.1]]]).agree, false);
  assert.equal(classify([[['cat', 0.9]], [['cat', 0.9]]], [[['cat', 0.9]]]).agree, false, 'examples count');
});

test('regress: numbers within the tolerance', () => {
  const regress = (live: number[], shadow: number[]) => compared(compareRestAnswers('regress', b(JSON.stringify({ result: live })), b(JSON.stringify({ result: shadow })), tol));
  assert.equal(regress([2.75, 3.25], [2.75, 3.25]).agree, true);
  assert.equal(regress([2.75, 3.25], [3.75, 4.25]).maxAbsDiff, 1);
});

test('gRPC predict: TensorProto values, typed fields and tensor_content alike; dtype and shape must match', () => {
  const codec = messageCodec<PredictResponseMessage>('tensorflow.serving.PredictResponse');
  const framed = (outputs: PredictResponseMessage['outputs']): Buffer => frameMessage(codec.encode({ outputs }));
  const shape = (...dims: number[]) => ({ dim: dims.map((d) => ({ size: String(d) })) });
  const floats = (values: number[], dims = [values.length]) => ({ dtype: 1, tensor_shape: shape(...dims), float_val: values });
  const content = (values: number[]) => {
    const bytes = Buffer.alloc(values.length * 4);
    values.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
    return { dtype: 1, tensor_shape: shape(values.length), tensor_content: bytes };
  };
  const grpc = (live: Buffer, shadow: Buffer) => compared(compareGrpcAnswers('predict', live, shadow, tol));
  assert.equal(grpc(framed({ y: floats([2.5, 3]) }), framed({ y: floats([2.5, 3]) })).agree, true);
  assert.equal(grpc(framed({ y: floats([2.5, 3]) }), framed({ y: content([2.5, 3]) })).agree, true, 'tensor_content reads as float_val');
  assert.equal(grpc(framed({ y: floats([2.5, 3]) }), framed({ y: floats([3.5, 4]) })).maxAbsDiff, 1);
  assert.match(grpc(framed({ y: floats([1, 2], [2]) }), framed({ y: floats([1, 2], [1, 2]) })).detail ?? '', /shapes differ/);
  assert.match(grpc(framed({ y: floats([1]) }), framed({ y: { dtype: 2, tensor_shape: shape(1), double_val: [1] } })).detail ?? '', /dtype/);
  assert.equal(grpc(framed({ y: floats([Number.NaN]) }), framed({ y: floats([Number.NaN]) })).agree, true);
  assert.equal(grpc(framed({ s: { dtype: 7, tensor_shape: shape(1), string_val: [Buffer.from('a')] } }), framed({ s: { dtype: 7, tensor_shape: shape(1), string_val: [Buffer.from('b')] } })).agree, false);
  assert.equal(grpc(framed({ i: { dtype: 9, tensor_shape: shape(1), int64_val: ['5'] } }), framed({ i: { dtype: 9, tensor_shape: shape(1), int64_val: ['6'] } })).agree, false);
  assert.equal(compareGrpcAnswers('predict', Buffer.from([1, 0, 0, 0, 0]), framed({ y: floats([1]) }), tol).comparable, false, 'a compressed live answer is not read');
});

test('gRPC classify and regress: the top label and scores, the values', () => {
  const classify = messageCodec<ClassificationResponseMessage>('tensorflow.serving.ClassificationResponse');
  const regress = messageCodec<RegressionResponseMessage>('tensorflow.serving.RegressionResponse');
  const classes = (...c: Array<[string, number]>) => frameMessage(classify.encode({ result: { classifications: [{ classes: c.map(([label, score]) => ({ label, score })) }] } }));
  const same = compared(compareGrpcAnswers('classify', classes(['cat', 0.75], ['dog', 0.25]), classes(['dog', 0.25], ['cat', 0.75]), tol));
  assert.equal(same.agree, true);
  const flipped = compared(compareGrpcAnswers('classify', classes(['cat', 0.75], ['dog', 0.25]), classes(['cat', 0.25], ['dog', 0.75]), tol));
  assert.match(flipped.detail ?? '', /top label: live "cat", shadow "dog"/);
  const values = (...v: number[]) => frameMessage(regress.encode({ result: { regressions: v.map((value) => ({ value })) } }));
  assert.equal(compared(compareGrpcAnswers('regress', values(2.5, 3), values(2.5, 3), tol)).agree, true);
  assert.equal(compared(compareGrpcAnswers('regress', values(2.5, 3), values(3.5, 4), tol)).maxAbsDiff, 1);
  assert.match(compared(compareGrpcAnswers('regress', values(2.5), values(2.5, 3), tol)).detail ?? '', /live 1 regressions, shadow 2/);
});
