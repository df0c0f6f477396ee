import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  JsonNumber,
  JsonObject,
  PrettyWriter,
  jsonValueToDebugString,
  parseRapidJson,
  rapidjsonDouble,
  type JsonValue,
} from '../../../gateway/src/tfserving/rapidjson.js';

function parse(text: string): JsonValue {
  const r = parseRapidJson(Buffer.from(text, 'utf8'));
  if (!r.ok) throw new Error(`${text}: ${r.code} at ${r.offset}`);
  return r.value;
}

function num(text: string): JsonNumber {
  const v = parse(text);
  assert.ok(v instanceof JsonNumber, text);
  return v;
}

test('numbers keep rapidjson integer/double typing', () => {
  assert.equal(num('1').isDouble, false);
  assert.equal(num('1.0').isDouble, true);
  assert.equal(num('1e2').isDouble, true);
  assert.equal(num('1e2').value, 100);
  assert.equal(num('-0').value, 0);
  assert.ok(Object.is(num('-0').value, 0));
  assert.ok(Object.is(num('-0.0').value, -0));
  assert.equal(num('2147483647').isInt(), true);
  assert.equal(num('2147483648').isInt(), false);
  const u64 = num('18446744073709551615');
  assert.equal(u64.isDouble, false);
  assert.equal(u64.big, 18446744073709551615n);
  assert.equal(u64.isInt64(), false);
  assert.equal(u64.isUint64(), true);
  assert.equal(num('-9223372036854775808').big, -9223372036854775808n);
  assert.equal(num('-9223372036854775808').isInt64(), true);
  // One past the int64/uint64 ranges: a double.
  assert.equal(num('18446744073709551616').isDouble, true);
  assert.equal(num('-9223372036854775809').isDouble, true);
  assert.ok(Number.isNaN(num('NaN').value));
  assert.equal(num('-Infinity').value, -Infinity);
  assert.equal(num('Inf').value, Infinity);
  assert.equal(num('0.1e-320').value, 1e-321);
  // rapidjson quirk: after NaN/Infinity the fraction is parsed on its own.
  assert.equal(num('NaN.5').value, 0.5);
});

test('objects keep member order and duplicates; lookups find the first', () => {
  const v = parse('{"a":1,"b":2,"a":3}');
  assert.ok(v instanceof JsonObject);
  assert.deepEqual(v.names, ['a', 'b', 'a']);
  assert.equal((v.get('a') as JsonNumber).value, 1);
});

test('strings: escapes and surrogate pairs decode to UTF-8 text', () => {
  assert.equal(parse('"a\\n\\t\\"\\\\\\/\\u00e9\\ud83d\\ude00"'), 'a\n\t"\\/é😀');
  assert.equal(parse('"héllo"'), 'héllo');
});

test('parse failures report rapidjson codes and byte offsets', () => {
  const fail = (t: string): string => {
    const r = parseRapidJson(Buffer.from(t, 'utf8'));
    assert.equal(r.ok, false, t);
    return r.ok ? '' : `${r.code}@${r.offset}`;
  };
  assert.equal(fail(''), 'DocumentEmpty@0');
  assert.equal(fail('[01]'), 'ArrayMissCommaOrSquareBracket@2');
  assert.equal(fail('{"é":}'), 'ValueInvalid@6');
  assert.equal(fail('"\\uDC00\\u'), 'StringUnicodeEscapeInvalidHex@7');
});

test('rapidjsonDouble lays digits out as rapidjson Prettify does', () => {
  const cases: Array<[number, string]> = [
    [1, '1.0'],
    [0.5, '0.5'],
    [-2.5, '-2.5'],
    [0, '0.0'],
    [-0, '-0.0'],
    [100, '100.0'],
    [1e20, '100000000000000000000.0'],
    [1e21, '1e21'],
    [1.5e300, '1.5e300'],
    [0.001, '0.001'],
    [1e-6, '0.000001'],
    [1e-7, '1e-7'],
    [1.25e-7, '1.25e-7'],
    [123456.789, '123456.789'],
  ];
  for (const [v, s] of cases) assert.equal(rapidjsonDouble(v), s, String(v));
});

test('PrettyWriter reproduces the single-line-array toggling TF uses', () => {
  const w = new PrettyWriter();
  w.startObject();
  w.key('predictions');
  w.startArray();
  for (const v of ['2.5', '3.0']) {
    w.singleLineArrays = true;
    w.raw(v);
    w.singleLineArrays = false;
  }
  w.endArray();
  w.endObject();
  assert.equal(w.toString(), '{\n    "predictions": [2.5, 3.0\n    ]\n}');
  const e = new PrettyWriter();
  e.startObject();
  e.key('e');
  e.startArray();
  e.endArray();
  e.key('o');
  e.startObject();
  e.endObject();
  e.endObject();
  assert.equal(e.toString(), '{\n    "e": [],\n    "o": {}\n}');
});

test('the debug string of a value is cut once 256 bytes were written', () => {
  const long = `{"instances":[${Array.from({ length: 200 }, (_, i) => i).join(',')}]}`;
  const s = jsonValueToDebugString(parse(long));
  assert.ok(s.startsWith('{\n    "instances": [0, 1, 2, '));
  // Events stop as soon as the buffer holds 256 bytes: the last number written crosses the limit.
  assert.ok(Buffer.byteLength(s) >= 256 && Buffer.byteLength(s) < 262, `${Buffer.byteLength(s)} bytes`);
  assert.ok(!s.endsWith(']\n}'));
  assert.equal(jsonValueToDebugString(parse('{"a":"\u0001"}'.replace('\u0001', '\\u0001'))), '{\n    "a": "\\u0001"\n}');
});
