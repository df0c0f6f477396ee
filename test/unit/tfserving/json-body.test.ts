import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { base64Unescape, checkRequestJson, checkRequestJsonHead, inflateTfBody, inflateTfHead, parseRequestJson, readExampleInput } from '../../../gateway/src/tfserving/json-body.js';
import { JsonObject } from '../../../gateway/src/tfserving/rapidjson.js';

const check = (body: string, op?: 'predict' | 'classify' | 'regress'): string | null => checkRequestJson(Buffer.from(body, 'latin1'), op);

test('an empty body gets TF own text, without the period rapidjson would add', () => {
  assert.equal(check(''), 'JSON Parse error: The document is empty');
  assert.equal(check(' \n\t'), 'JSON Parse error: The document is empty. at offset: 3');
});

test('rapidjson parse errors keep their English text and byte offset', () => {
  const cases: Array<[string, string]> = [
    ['instances = [1, 2]', 'Invalid value. at offset: 0'],
    ['{', 'Missing a name for object member. at offset: 1'],
    ['{"instances"', 'Missing a colon after a name of object member. at offset: 12'],
    ['{"instances" [1]}', 'Missing a colon after a name of object member. at offset: 13'],
    ['{"instances":', 'Invalid value. at offset: 13'],
    ['{"instances":[1,2]', "Missing a comma or '}' after an object member. at offset: 18"],
    ['{"a":1 "b":2}', "Missing a comma or '}' after an object member. at offset: 7"],
    ['{"instances":[1 2]}', "Missing a comma or ']' after an array element. at offset: 16"],
    ['{"instances":[1,]}', 'Invalid value. at offset: 16'],
    ['{"a":1,}', 'Missing a name for object member. at offset: 7'],
    ['{,}', 'Missing a name for object member. at offset: 1'],
    ['{"a":"abc', 'Missing a closing quotation mark in string. at offset: 9'],
    ['{"a":"\\x"}', 'Invalid escape character in string. at offset: 6'],
    ['{"a":"\u0001"}', 'Invalid escape character in string. at offset: 6'],
    ['{"a":"\\u12G4"}', 'Incorrect hex digit after \\u escape in string. at offset: 6'],
    ['{"a":"\\uD800"}', 'The surrogate pair in string is invalid. at offset: 6'],
    ['{"a":1.}', 'Miss fraction part in number. at offset: 7'],
    ['{"a":1e}', 'Miss exponent in number. at offset: 7'],
    ['{"a":-}', 'Invalid value. at offset: 6'],
    ['{"a":tru}', 'Invalid value. at offset: 8'],
    ['{"a":Infinit}', 'Invalid value. at offset: 12'],
    ['{"a":1e400}', 'Number too big to be stored in double. at offset: 5'],
    // A lone closing bracket leaves the iterative parser in its start state: "empty".
    ['}', 'The document is empty. at offset: 0'],
    // NUL reads as the end of the stream.
    ['{"a":\u0000}', 'Invalid value. at offset: 5'],
  ];
  for (const [body, expected] of cases) assert.equal(check(body), `JSON Parse error: ${expected}`, body);
});

test('NaN, Infinity and -Infinity are accepted (kParseNanAndInfFlag)', () => {
  assert.equal(check('{"instances":[NaN, Infinity, -Infinity, Inf, -NaN]}'), null);
});

test('trailing data after the root value is not an error (kParseStopWhenDoneFlag)', () => {
  assert.equal(check('{"instances":[1]} garbage {'), null);
  assert.equal(check('{} {}'), null);
});

test('a UTF-8 BOM is skipped and counted in offsets', () => {
  assert.equal(check('\u00ef\u00bb\u00bf{"instances":[1]}'), null);
  assert.equal(check('\u00ef\u00bb\u00bf{'), 'JSON Parse error: Missing a name for object member. at offset: 4');
});

test('a root that is not an object is echoed back with "Is not object"', () => {
  assert.equal(check('5'), 'JSON Value: 5 Is not object');
  assert.equal(check('[1,2.5,"a"]'), 'JSON Value: [1, 2.5, "a"] Is not object');
  assert.equal(check('null'), 'JSON Value: null Is not object');
  // rapidjson's Writer refuses NaN, so the echo is empty.
  assert.equal(check('NaN'), 'JSON Value:  Is not object');
});

test('signature_name must be a string; the whole document is echoed', () => {
  assert.equal(
    check('{ "signature_name": 100 }'),
    `JSON Value: {\n    "signature_name": 100\n} not formatted correctly. 'signature_name' key must be a string value.`,
  );
  assert.equal(
    check('{"instances":[1.0,2],"signature_name":{"a":[true,null]}}'),
    `JSON Value: {\n    "instances": [1.0, 2],\n    "signature_name": {\n        "a": [true, null]\n    }\n} not formatted correctly. 'signature_name' key must be a string value.`,
  );
  assert.equal(check('{"signature_name":"serving_default"}'), null);
});

test('predict bodies are not checked beyond the document before the model lookup', () => {
  // TF needs the model's signature to read instances/inputs: these are checked after the lookup.
  assert.equal(check('{}'), null);
  assert.equal(check('{"instances":[],"inputs":1}'), null);
});

test('classify/regress examples are checked before the model lookup, as TF builds them first', () => {
  assert.equal(check('{}', 'regress'), "JSON Value: {} When method is classify, key 'examples' is expected and was not found");
  assert.equal(check('{"examples":{}}', 'classify'), `JSON Value: {\n    "examples": {}\n} Expecting 'examples' value to be an list/array`);
  assert.equal(check('{"examples":[]}', 'regress'), `JSON Value: {\n    "examples": []\n} 'examples' value is an empty array`);
  assert.equal(check('{"examples":[1]}', 'regress'), 'Example must be JSON object but got JSON Number');
  assert.equal(check('{"context":[],"examples":[{}]}', 'regress'), 'Example must be JSON object but got JSON Array');
  assert.equal(check('{"examples":[{"x":null}]}', 'regress'), 'Feature: x has element with unexpected JSON type: Null');
  assert.equal(check('{"examples":[{"x":[[1]]}]}', 'regress'), 'Feature: x has element with unexpected JSON type: Array');
  assert.equal(check('{"examples":[{"x":{"a":1}}]}', 'regress'), 'Feature: x has element with unexpected JSON type: Object');
  assert.equal(check('{"examples":[{"x":[1.5, 2]}]}', 'regress'), 'Unexpected element type in feature: x expecting type: float');
  assert.equal(check('{"examples":[{"x":[1, "a"]}]}', 'regress'), 'Unexpected element type in feature: x expecting type: int64');
  assert.equal(check('{"examples":[{"x":18446744073709551615}]}', 'regress'), 'Feature: x has uint64_t element. Only int64_t is supported.');
  assert.equal(check('{"examples":[{"x":{"b64":"!!"}}]}', 'regress'), 'Unable to base64 decode');
  assert.equal(check('{"examples":[{"x":1.0},{"x":[true, false]}]}', 'classify'), null);
  // For predict the same body is fine before the lookup.
  assert.equal(check('{"examples":[1]}'), null);
});

test('readExampleInput keeps kinds and values as TF fills the Feature protos', () => {
  const parsed = parseRequestJson(Buffer.from('{"context":{"c":"s"},"examples":[{"x":1.5,"n":[1,true],"b":{"b64":"aGk="},"e":[],"x":2.5}]}'));
  assert.ok(parsed.ok);
  const input = readExampleInput(parsed.request.doc);
  assert.ok(input.ok);
  assert.deepEqual(input.input.context?.get('c'), { kind: 'bytes', values: [Buffer.from('s')] });
  const ex = input.input.examples[0];
  assert.ok(ex !== undefined);
  // A repeated name replaces the earlier feature (proto map semantics).
  assert.deepEqual(ex.get('x'), { kind: 'float', values: [2.5] });
  assert.deepEqual(ex.get('n'), { kind: 'int64', values: [1n, 1n] });
  assert.deepEqual(ex.get('b'), { kind: 'bytes', values: [Buffer.from('hi')] });
  assert.deepEqual(ex.get('e'), { kind: 'none' });
});

test('parseRequestJson exposes the document and the signature name', () => {
  const parsed = parseRequestJson(Buffer.from('{"signature_name":"s","instances":[1]}'));
  assert.ok(parsed.ok);
  assert.equal(parsed.request.signatureName, 's');
  assert.ok(parsed.request.doc instanceof JsonObject);
  const none = parseRequestJson(Buffer.from('{}'));
  assert.ok(none.ok);
  assert.equal(none.request.signatureName, '');
});

test('base64Unescape follows absl: whitespace ignored, padding optional but exact', () => {
  assert.deepEqual(base64Unescape('aGk='), Buffer.from('hi'));
  assert.deepEqual(base64Unescape('aGk'), Buffer.from('hi'));
  assert.deepEqual(base64Unescape(' aG\nk = '), Buffer.from('hi'));
  assert.deepEqual(base64Unescape(''), Buffer.alloc(0));
  assert.equal(base64Unescape('aGk=='), null);
  assert.equal(base64Unescape('a'), null);
  assert.equal(base64Unescape('aGk=x'), null);
  assert.equal(base64Unescape('aG-k'), null);
});

test('inflateTfBody: gzip bodies are inflated as TF does, a broken one reads as empty', async () => {
  const body = Buffer.from('{"instances":[1]}');
  assert.deepEqual(Buffer.from(await inflateTfBody(gzipSync(body), 'gzip')), body);
  assert.deepEqual(Buffer.from(await inflateTfBody(gzipSync(body), ['x-gzip, br'])), body);
  assert.equal((await inflateTfBody(body, 'gzip')).length, 0);
  assert.equal(checkRequestJson(await inflateTfBody(body, 'gzip')), 'JSON Parse error: The document is empty');
  // Matched case-sensitively, and only "gzip".
  assert.equal(await inflateTfBody(body, 'GZIP'), body);
  assert.equal(await inflateTfBody(body, 'deflate'), body);
  assert.equal(await inflateTfBody(body, undefined), body);
});

test('a wide predict body is checked without building it: syntax errors still found, heap stays flat', async () => {
  const { getHeapStatistics } = await import('node:v8');
  const wide = Buffer.from(`{"instances": [${'0,'.repeat(8 * 1024 * 1024)}0]}`, 'latin1');
  const before = getHeapStatistics().total_heap_size;
  assert.equal(checkRequestJson(wide, 'predict'), null);
  const grownMiB = (getHeapStatistics().total_heap_size - before) / 2 ** 20;
  // Built whole, 8 million numbers in JavaScript arrays take hundreds of MiB of heap.
  assert.ok(grownMiB < 64, `the check grew the heap by ${grownMiB.toFixed(0)} MiB for a ${(wide.length / 2 ** 20).toFixed(0)} MiB body`);
  const broken = Buffer.concat([wide.subarray(0, wide.length - 2), Buffer.from('x]}')]);
  assert.equal(checkRequestJson(broken, 'predict'), `JSON Parse error: Missing a comma or ']' after an array element. at offset: ${wide.length - 2}`);
});

test('checkRequestJsonHead: a syntax error well inside the known head is TF\'s, word for word; anything near the cut is unknown', () => {
  const tail = Buffer.from(`,${'1.5,'.repeat(20_000)}1]}`);
  // An error in the head: the same message checkRequestJson gives for the whole body.
  const broken = Buffer.concat([Buffer.from('{"instances": [1.0, 2.0, x'), tail]);
  const whole = checkRequestJson(broken);
  assert.equal(whole, 'JSON Parse error: Invalid value. at offset: 25');
  assert.equal(checkRequestJsonHead(broken.subarray(0, 64 * 1024)), whole);
  // A valid document cut anywhere: unknown, whatever token the cut falls in.
  const valid = Buffer.concat([Buffer.from('{"instances": [true, false, null, "text", 12345.678e-3'), tail]);
  assert.equal(checkRequestJson(valid), null);
  for (let cut = 40; cut < 400; cut++) assert.equal(checkRequestJsonHead(valid.subarray(0, cut)), null, `cut at ${cut}`);
  // The document-level checks need the end: a head of a non-object is unknown, not an error.
  assert.equal(checkRequestJsonHead(Buffer.from('[1, 2, 3, 4')), null);
  assert.equal(checkRequestJsonHead(new Uint8Array(0)), null);
});

test('inflateTfHead: stops at the cap (a bomb costs the cap), whole bodies inflate as TF does, a cut one gives what it has', async () => {
  const json = Buffer.from(`{"instances": [${'1.25,'.repeat(200_000)}1]}`);
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
  const capped = await inflateTfHead(bomb, true, 'gzip', 64 * 1024);
  assert.deepEqual([capped.body.length, capped.complete], [64 * 1024, false]);
  const small = Buffer.from('{"instances": [1.0]}');
  assert.deepEqual(await inflateTfHead(gzipSync(small), true, 'gzip', 64 * 1024), { body: small, complete: true });
  // Not gzip at all: as TF, the body reads as empty.
  assert.deepEqual(await inflateTfHead(small, true, 'gzip', 64 * 1024), { body: new Uint8Array(0), complete: true });
  // The first 4 KiB of a compressed body: the start of the document, not complete.
  const cut = await inflateTfHead(gzipSync(json).subarray(0, 4096), false, 'gzip', 64 * 1024);
  assert.equal(cut.complete, false);
  assert.ok(cut.body.length > 0 && json.subarray(0, cut.body.length).equals(Buffer.from(cut.body)));
  // No gzip: the head itself, capped.
  assert.deepEqual(await inflateTfHead(json, true, undefined, 10), { body: json.subarray(0, 10), complete: false });
  assert.deepEqual(await inflateTfHead(small, true, 'identity', 64 * 1024), { body: small, complete: true });
});
