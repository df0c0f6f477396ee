import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cookieValue } from '../../../gateway/src/dataplane/cookies.js';

test('finds one cookie among several', () => {
  const header = 'session=abc; canary=always;uid="u-42"; x=1';
  assert.equal(cookieValue(header, 'canary'), 'always');
  assert.equal(cookieValue(header, 'uid'), 'u-42');
  assert.equal(cookieValue(header, 'session'), 'abc');
  assert.equal(cookieValue(header, 'x'), '1');
});

test('does not match a name that only starts or ends the same way', () => {
  assert.equal(cookieValue('mycanary=always; canaryx=never', 'canary'), undefined);
  assert.equal(cookieValue(undefined, 'canary'), undefined);
  assert.equal(cookieValue('', 'canary'), undefined);
  assert.equal(cookieValue('canary', 'canary'), undefined);
});

test('an empty value is a value', () => {
  assert.equal(cookieValue('canary=; b=2', 'canary'), '');
});
