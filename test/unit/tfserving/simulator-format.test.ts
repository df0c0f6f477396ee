import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseExamples, serializeExample } from '../../../simulator/src/example-proto.js';
import { libeventPathAndQuery, reasonPhrase } from '../../../gateway/src/tfserving/libevent.js';
import { protoJson, protoJsonQuote } from '../../../simulator/src/protojson.js';
import { formatFloat, formatG } from '../../../simulator/src/tensors.js';
import { optionsFromArgs } from '../../../simulator/src/cli.js';
import { validatePatch, PatchError } from '../../../simulator/src/control.js';

test('formatFloat: six digits when they round-trip, nine otherwise, ".0" for whole numbers', () => {
  const f = Math.fround;
  const cases: Array<[number, string]> = [
    [2.5, '2.5'],
    [3, '3.0'],
    [-4, '-4.0'],
    [0, '0.0'],
    [-0, '-0.0'],
    [f(0.1), '0.1'],
    [f(1e6), '1e+06'],
    [f(1234567), '1234567.0'],
    [f(0.00003), '3e-05'],
    [f(1435774380), '1.43577434e+09'],
    [f(123.456), '123.456'],
    [NaN, 'NaN'],
    [Infinity, 'Infinity'],
    [-Infinity, '-Infinity'],
    [2 ** -10, '0.0009765625'],
    // An exact tie at the ninth digit rounds half-to-even, as printf does (JS would give ...13).
    [f(1234567.125), '1234567.12'],
    [f(1234567.375), '1234567.38'],
  ];
  for (const [v, s] of cases) assert.equal(formatFloat(v), s, String(v));
});

test('formatG matches printf %g', () => {
  assert.equal(formatG(100000, 6), '100000');
  assert.equal(formatG(1000000, 6), '1e+06');
  assert.equal(formatG(0.0001, 6), '0.0001');
  assert.equal(formatG(0.00001, 6), '1e-05');
  assert.equal(formatG(1.5e-300, 6), '1.5e-300');
  assert.equal(formatG(0.5, 6), '0.5');
  assert.equal(formatG(2.5, 1), '2');
  assert.equal(formatG(3.5, 1), '4');
});

test('libevent strict URI parse: TF 400s what it rejects, and matches on path + query + fragment', () => {
  assert.equal(libeventPathAndQuery('/v1/models/m:predict'), '/v1/models/m:predict');
  assert.equal(libeventPathAndQuery('/v1/models/m?x=1#f'), '/v1/models/m?x=1#f');
  assert.equal(libeventPathAndQuery('http://host:8501/v1/models/m'), '/v1/models/m');
  assert.equal(libeventPathAndQuery('//authority/v1/models/m'), '/v1/models/m');
  assert.equal(libeventPathAndQuery('/v1/models/a%2Fb'), '/v1/models/a%2Fb');
  assert.equal(libeventPathAndQuery('/v1/models/a"b'), null);
  assert.equal(libeventPathAndQuery('/v1/models/a%zz'), null);
  assert.equal(libeventPathAndQuery('/v1/models/a{b}'), null);
  assert.equal(libeventPathAndQuery('/v1/models/\u00e9'), null);
  assert.equal(libeventPathAndQuery('/a#b#c'), null);
  assert.equal(libeventPathAndQuery('1a:b'), null);
  assert.equal(libeventPathAndQuery('http://host:99999/'), null);
});

test('reason phrases come from libevent tables (429 and 499 fall back to the class name)', () => {
  assert.equal(reasonPhrase(200), 'OK');
  assert.equal(reasonPhrase(404), 'Not Found');
  assert.equal(reasonPhrase(429), 'Client Error');
  assert.equal(reasonPhrase(499), 'Client Error');
  assert.equal(reasonPhrase(504), 'Gateway Time-out');
});

test('protobuf JSON printer: one-space indent, newline at the end, protobuf escapes', () => {
  assert.equal(protoJson({ a: [{ b: 'x' }], c: [], d: {} }), '{\n "a": [\n  {\n   "b": "x"\n  }\n ],\n "c": [],\n "d": {}\n}\n');
  assert.equal(protoJsonQuote('<a>\u0001"\\\n'), '"\\u003ca\\u003e\\u0001\\"\\\\\\n"');
});

test('tf.Example round trip through the fast-parsing emulation', () => {
  const bytes = serializeExample(new Map([['x', { kind: 'float', values: [1.5] }]]));
  const config = [
    { name: 'x', defaultValue: null },
    { name: 'x2', defaultValue: 0 },
  ];
  assert.deepEqual(parseExamples([bytes], config), { ok: true, values: [[1.5], [0]] });
  const ints = serializeExample(new Map([['x', { kind: 'int64', values: [1n] }]]));
  assert.deepEqual(parseExamples([bytes, ints], config), {
    ok: false,
    message: "Name: <unknown>, Key: x, Index: 1.  Data types don't match. Data type: int64 but expected type: float",
  });
  const two = serializeExample(new Map([['x', { kind: 'float', values: [1, 2] }]]));
  assert.deepEqual(parseExamples([two], config), {
    ok: false,
    message: 'Name: <unknown>, Key: x, Index: 0.  Number of float values != expected.  Values size: 2 but output shape: [1]',
  });
  assert.deepEqual(parseExamples([Buffer.alloc(0)], config), {
    ok: false,
    message: 'Name: <unknown>, Feature: x (data type: float) is required but could not be found.',
  });
  assert.deepEqual(parseExamples([Buffer.from('garbage')], config), { ok: false, message: "Could not parse example input, value: 'garbage'" });
  // Context bytes come first; the example's own feature (the last one) wins.
  const context = serializeExample(new Map([['x', { kind: 'float', values: [9] }]]));
  assert.deepEqual(parseExamples([Buffer.concat([context, bytes])], config), { ok: true, values: [[1.5], [0]] });
});

test('CLI flags map onto simulator options', () => {
  const o = optionsFromArgs(['--port', '0', '--model', 'm', '--version', '1', '--versions', '2,3', '--behaviour', 'half_plus_three', '--state', '2=loading', '--label', 'stable=1', '--error-rate', '0.5', '--error-status', '503', '--latency-ms', '10', '--hang', '--fault-scope', 'all', '--cors', '--no-control']);
  assert.notEqual(o, 'help');
  if (o === 'help') return;
  assert.equal(o.port, 0);
  assert.deepEqual(o.versions, ['1', '2', '3']);
  assert.equal(o.behaviour, 'half_plus_three');
  assert.deepEqual(o.versionStates, { '2': 'LOADING' });
  assert.deepEqual(o.labels, { stable: '1' });
  assert.deepEqual(o.faults, { errorRate: 0.5, errorStatus: 503, latencyMs: 10, hang: true, scope: 'all' });
  assert.equal(o.cors, true);
  assert.equal(o.controlEndpoint, false);
  assert.equal(optionsFromArgs(['--help']), 'help');
  assert.throws(() => optionsFromArgs(['--version', 'x']), /version numbers are non-negative integers/);
  const per = optionsFromArgs(['--versions', '1,2,3', '--behaviour', '2=half_plus_three', '--behavior', 'half_plus_three', '--behaviour', '3=half_plus_two']);
  assert.notEqual(per, 'help');
  if (per !== 'help') {
    assert.equal(per.behaviour, 'half_plus_three');
    assert.deepEqual(per.behaviours, { '2': 'half_plus_three', '3': 'half_plus_two' });
  }
  assert.equal((optionsFromArgs([]) as { behaviours?: unknown }).behaviours, undefined);
  assert.throws(() => optionsFromArgs(['--behaviour', 'half_plus_two', '--behaviour', 'half_plus_three']), /given twice/);
  assert.throws(() => optionsFromArgs(['--behaviour', '2=half_plus_two', '--behaviour', '2=half_plus_three']), /given twice for version 2/);
  assert.throws(() => optionsFromArgs(['--behaviour', '2=half_plus_four']), /--behaviour 2= must be one of half_plus_two, half_plus_three, got "half_plus_four"/);
  assert.throws(() => optionsFromArgs(['--behaviour', 'v2=half_plus_two']), /expects a version number before "="/);
  assert.throws(() => optionsFromArgs(['--unknown']));
  assert.throws(() => optionsFromArgs(['--tls-cert', 'a.crt']), /--tls-cert and --tls-key go together/);
  assert.throws(() => optionsFromArgs(['--tls-client-ca', 'ca.crt']), /--tls-client-ca needs --tls-cert and --tls-key/);
  assert.throws(() => optionsFromArgs(['--tls-cert', '/nonexistent/a.crt', '--tls-key', '/nonexistent/a.key']), /--tls-cert: cannot read \/nonexistent\/a\.crt/);
});

test('control patches are validated as a whole', () => {
  assert.deepEqual(validatePatch({ versions: { 4: { state: 'AVAILABLE', behaviour: 'half_plus_three' } } }).versions, [
    ['4', { state: 'AVAILABLE', errorCode: 'OK', errorMessage: '', behaviour: 'half_plus_three' }],
  ]);
  assert.deepEqual(validatePatch({ faults: { errorRate: 1 }, versions: { '02': 'END', 3: null }, labels: { canary: 2, old: null } }), {
    faults: { errorRate: 1 },
    versions: [
      ['3', null],
      ['2', { state: 'END', errorCode: 'OK', errorMessage: '' }],
    ],
    labels: [
      ['canary', '2'],
      ['old', null],
    ],
  });
  const bad: Array<[unknown, RegExp]> = [
    [[], /must be a JSON object/],
    [{ nope: 1 }, /unknown field nope/],
    [{ faults: { errorRate: 2 } }, /faults.errorRate must be a number between 0 and 1/],
    [{ faults: { errorStatus: 502 } }, /faults.errorStatus must be one of 400, 401, 403, 404, 409, 429, 499, 500, 501, 503, 504/],
    [{ faults: { latencyMs: -1 } }, /faults.latencyMs/],
    [{ faults: { hang: 'yes' } }, /faults.hang must be true or false/],
    [{ faults: { scope: 'status' } }, /faults.scope/],
    [{ faults: { typo: 1 } }, /unknown field faults.typo/],
    [{ versions: { x: 'END' } }, /versions key "x"/],
    [{ versions: { '1': 'DEAD' } }, /versions\["1"\] must be one of/],
    [{ versions: { '1': { state: 'END', errorCode: 'NOPE' } } }, /errorCode must be one of/],
    [{ versions: { '1': { state: 'END', behaviour: 'half_plus_four' } } }, /versions\["1"\]\.behaviour must be one of half_plus_two, half_plus_three/],
    [{ versions: { '99999999999999999999': 'END' } }, /does not fit in int64/],
    [{ labels: { a: -1 } }, /labels\["a"\]/],
  ];
  for (const [patch, re] of bad) assert.throws(() => validatePatch(patch), (e: unknown) => e instanceof PatchError && re.test(e.message), JSON.stringify(patch));
});
