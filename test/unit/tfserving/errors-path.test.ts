import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorBody, rapidjsonQuote } from '../../../gateway/src/tfserving/errors.js';
import { parseTfPath } from '../../../gateway/src/tfserving/path.js';

test('errorBody escapes control characters with uppercase hex, as rapidjson does', () => {
  assert.equal(errorBody('Servable not found for request: Latest(a\u000bb)'), '{\n    "error": "Servable not found for request: Latest(a\\u000Bb)"\n}');
  assert.equal(rapidjsonQuote('\u001f\u0000"\\\b\t\n\f\r/é\u007f'), '"\\u001F\\u0000\\"\\\\\\b\\t\\n\\f\\r/é\u007f"');
  assert.equal(rapidjsonQuote('plain'), '"plain"');
});

test('an int64 overflow is reported before the verb is checked (TF converts the version first)', () => {
  const r = parseTfPath('POST', '/v1/models/m/versions/99999999999999999999:PREDICT');
  assert.deepEqual(r, { ok: false, error: { status: 400, message: 'Failed to convert version: 99999999999999999999 to numeric.' } });
});

test('an int64 overflow is reported before a missing model name', () => {
  const r = parseTfPath('GET', '/v1/models/versions/99999999999999999999');
  assert.deepEqual(r, { ok: false, error: { status: 400, message: 'Failed to convert version: 99999999999999999999 to numeric.' } });
  assert.deepEqual(parseTfPath('GET', '/v1/models/versions/7'), { ok: false, error: { status: 400, message: 'Missing model name in request.' } });
});

test('the verb is compared exactly and other methods are malformed', () => {
  assert.deepEqual(parseTfPath('POST', '/v1/models/m:PREDICT'), { ok: false, error: { status: 400, message: 'Malformed request: POST /v1/models/m:PREDICT' } });
  assert.deepEqual(parseTfPath('PUT', '/v1/models/m'), { ok: false, error: { status: 400, message: 'Malformed request: PUT /v1/models/m' } });
  const ok = parseTfPath('POST', '/V1/MODELS/m/VERSIONS/007:predict');
  assert.deepEqual(ok, { ok: true, target: { model: 'm', version: '7', label: undefined, operation: 'predict' } });
});
