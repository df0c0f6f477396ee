/**
 * Header names compared in place of lowercasing them (the REST hot path): every hop-by-hop name in
 * any case, nothing else, whatever its length.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectionTokens, isHopByHop, nameIs } from '../../../gateway/src/protocols/rest/hop-by-hop.js';

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect'];

const mixed = (name: string): string => [...name].map((c, i) => (i % 2 === 0 ? c.toUpperCase() : c)).join('');

test('nameIs: the same name in any case, and nothing else', () => {
  assert.ok(nameIs('content-length', 'content-length'));
  assert.ok(nameIs('Content-Length', 'content-length'));
  assert.ok(nameIs('CONTENT-LENGTH', 'content-length'));
  assert.ok(!nameIs('content-lengt', 'content-length'));
  assert.ok(!nameIs('content_length', 'content-length'));
  // Only letters fold: '@' is 'A' - 1 and '[' is 'Z' + 1; '`' and '{' are their lowercase neighbours.
  assert.ok(!nameIs('@', '`'));
  assert.ok(!nameIs('[', '{'));
  assert.ok(!nameIs('x-request-iD', 'x-request-ie'));
  assert.ok(!nameIs('', 'te'));
  assert.ok(nameIs('', ''));
});

test('isHopByHop: each of the ten names in three cases; names of the same lengths that are not', () => {
  for (const name of HOP_BY_HOP) {
    for (const written of [name, name.toUpperCase(), mixed(name)]) assert.ok(isHopByHop(written), written);
  }
  for (const name of ['content-type', 'user-agent', 'tf', 'expects', 'upgrades', 'trailers', 'connectio', 'proxy-connectiom', 'transfer-encodinG'.slice(0, 16), 'x'.repeat(200), '']) {
    assert.ok(!isHopByHop(name), name);
  }
});

test('connectionTokens: keep-alive and close alone in any case name nothing; listed names are kept lowercased', () => {
  assert.equal(connectionTokens('keep-alive'), undefined);
  assert.equal(connectionTokens('Keep-Alive'), undefined);
  assert.equal(connectionTokens('CLOSE'), undefined);
  assert.deepEqual([...(connectionTokens('close, X-Foo ,keep-alive, x-bar') ?? [])], ['x-foo', 'x-bar']);
  const into = new Set(['a']);
  assert.equal(connectionTokens('Close', into), into);
});
