/**
 * Reading and rewriting the ModelSpec in a request's protobuf bytes, by protobuf's own rules:
 * any field order, repeated message fields merged, the last member of a oneof wins, unknown
 * fields (payloads) skipped and kept byte for byte, malformed input refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MalformedMessageError, RequestSpec } from '../../../gateway/src/protocols/grpc/model-spec.js';
import { frameMessage } from '../../../gateway/src/tfserving/grpc-wire.js';

const hex = (text: string): Buffer => Buffer.from(text.replace(/[^0-9a-f]/gi, ''), 'hex');
const str = (field: number, value: string): Buffer => {
  const bytes = Buffer.from(value);
  return Buffer.concat([Buffer.from([(field << 3) | 2, bytes.length]), bytes]);
};
const msg = (field: number, ...parts: Buffer[]): Buffer => {
  const body = Buffer.concat(parts);
  assert.ok(body.length < 128);
  return Buffer.concat([Buffer.from([(field << 3) | 2, body.length]), body]);
};
const version = (v: number): Buffer => msg(2, Buffer.from([0x08, v]));
const readModelSpec = (bytes: Buffer, multiInference: boolean): RequestSpec => new RequestSpec(bytes, multiInference);
const withVersion = (bytes: Buffer, multiInference: boolean, v: number): Buffer => new RequestSpec(bytes, multiInference).withVersion(v);

test('the contract example: name half_plus_two, version 123', () => {
  const bytes = Buffer.concat([hex('0A 13 0A 0D'), Buffer.from('half_plus_two'), hex('12 02 08 7B')]);
  assert.deepEqual(readModelSpec(bytes, false).spec, { name: 'half_plus_two', version: 123, versionLabel: undefined, signatureName: undefined });
});

test('field order, payload fields around the spec, merged repeats, the last of the oneof', () => {
  // A PredictRequest: inputs (field 2, a map entry) before the spec, output_filter (3) after.
  const payload = msg(2, str(1, 'x'), msg(2, hex('08 01')));
  const spec = msg(1, str(1, 'm'), str(4, 'canary'), str(3, 'serving_default'));
  const bytes = Buffer.concat([payload, spec, str(3, 'y')]);
  assert.deepEqual(readModelSpec(bytes, false).spec, { name: 'm', version: undefined, versionLabel: 'canary', signatureName: 'serving_default' });
  // The spec split in two occurrences: merged; the version set after the label wins the oneof.
  const split = Buffer.concat([msg(1, str(1, 'm'), str(4, 'canary')), payload, msg(1, version(7))]);
  assert.deepEqual(readModelSpec(split, false).spec, { name: 'm', version: 7, versionLabel: undefined, signatureName: undefined });
  // No spec at all; an empty spec (no name).
  assert.equal(readModelSpec(payload, false).spec, undefined);
  assert.deepEqual(readModelSpec(msg(1), false).spec, { name: '', version: undefined, versionLabel: undefined, signatureName: undefined });
  // An empty Int64Value is version 0.
  assert.equal(readModelSpec(msg(1, str(1, 'm'), msg(2)), false).spec?.version, 0);
});

test('rewrite: the chosen version replaces a label or another version; everything else kept byte for byte', () => {
  const payload = msg(2, str(1, 'x'), msg(2, hex('08 01')));
  const bytes = Buffer.concat([payload, msg(1, str(1, 'm'), str(4, 'canary'), str(3, 'sig')), str(3, 'y')]);
  const rewritten = withVersion(bytes, false, 300);
  assert.deepEqual(readModelSpec(rewritten, false).spec, { name: 'm', version: 300, versionLabel: undefined, signatureName: 'sig' });
  assert.ok(rewritten.includes(payload) && rewritten.includes(str(3, 'y')), 'the payload fields travel unchanged');
  // Byte for byte: the new spec first (name, version 300 = AC 02, signature), the other fields in their order.
  assert.deepEqual(rewritten, Buffer.concat([msg(1, str(1, 'm'), msg(2, hex('08 AC 02')), str(3, 'sig')), payload, str(3, 'y')]));
  // A spec split around a payload field: its parts merged into one, the payload kept between what surrounded it.
  const split = Buffer.concat([str(5, 'a'), msg(1, str(1, 'm')), payload, msg(1, str(4, 'canary')), str(3, 'y')]);
  assert.deepEqual(withVersion(split, false, 2), Buffer.concat([msg(1, str(1, 'm'), version(2)), str(5, 'a'), payload, str(3, 'y')]));
  // No spec: the message as it was.
  assert.deepEqual(withVersion(payload, false, 2), payload);
  // Large versions (int64 in TF; up to 2^53 here).
  assert.equal(readModelSpec(withVersion(bytes, false, 2 ** 40 + 5), false).spec?.version, 2 ** 40 + 5);
});

test('MultiInference: the first task routes; every task is rewritten; task model names are reported', () => {
  const task = (name: string) => msg(1, msg(1, str(1, name), str(4, 'stable')), hex('10 01'));
  const bytes = Buffer.concat([task('a'), task('b'), msg(2, str(1, 'input'))]);
  const read = readModelSpec(bytes, true);
  assert.equal(read.spec?.name, 'a');
  assert.deepEqual(read.taskModels, ['a', 'b']);
  const rewritten = withVersion(bytes, true, 9);
  const tasks = readModelSpec(rewritten, true);
  assert.deepEqual(tasks.taskModels, ['a', 'b']);
  assert.equal(tasks.spec?.version, 9);
  assert.ok(rewritten.includes(msg(2, str(1, 'input'))));
  // Byte for byte: each task's spec replaced in place, the task's other fields and the input kept.
  const expected = (name: string) => msg(1, msg(1, str(1, name), version(9)), hex('10 01'));
  assert.deepEqual(rewritten, Buffer.concat([expected('a'), expected('b'), msg(2, str(1, 'input'))]));
});

test('read inside a framed body, once: the spec from past the prefix, the message written again framed, for each version asked', () => {
  const payload = msg(2, str(1, 'x'), msg(2, hex('08 01')));
  const message = Buffer.concat([payload, msg(1, str(1, 'm'), str(4, 'canary'), str(3, 'sig')), str(3, 'y')]);
  const body = frameMessage(message);
  const read = new RequestSpec(body, false, 5);
  assert.deepEqual(read.spec, { name: 'm', version: undefined, versionLabel: 'canary', signatureName: 'sig' });
  // The prefix is not part of the message: the rewrite is what withVersion writes of the message alone.
  assert.deepEqual(read.withVersion(300), withVersion(message, false, 300));
  assert.deepEqual(read.framedWithVersion(300), frameMessage(withVersion(message, false, 300)));
  assert.deepEqual(read.framedWithVersion(7), frameMessage(withVersion(message, false, 7)));
  // Without a spec the message goes as it was, framed anew; MultiInference the same way.
  assert.deepEqual(new RequestSpec(frameMessage(payload), false, 5).framedWithVersion(2), frameMessage(payload));
  const task = (name: string) => msg(1, msg(1, str(1, name), str(4, 'stable')), hex('10 01'));
  const multi = Buffer.concat([task('a'), task('b')]);
  const framed = new RequestSpec(frameMessage(multi), true, 5);
  assert.deepEqual(framed.taskModels, ['a', 'b']);
  assert.deepEqual(framed.framedWithVersion(9), frameMessage(withVersion(multi, true, 9)));
  // The body itself is left as it was.
  assert.deepEqual(body, frameMessage(message));
});

test('malformed bytes are refused, not guessed at', () => {
  for (const bad of ['0A', '0A 05 0A', '0A 02 0A 7F', '0B 00', '08 FF FF FF FF FF FF FF FF FF FF 01', '00 00']) {
    assert.throws(() => readModelSpec(hex(bad), false), MalformedMessageError, bad);
  }
});
