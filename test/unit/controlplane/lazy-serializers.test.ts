/**
 * The admin API's response serializers (admin/lazy-serializers.ts): fast-json-stringify's, compiled
 * when a route first answers with that status instead of when it is registered.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lazySerializers } from '../../../gateway/src/controlplane/admin/lazy-serializers.js';

const route = (schema: unknown) => ({ method: 'GET', url: '/x', httpStatus: '200', schema });

test('a serializer is compiled at its first use, not when the route is registered', () => {
  // A reference to nowhere: fast-json-stringify refuses it when it compiles.
  const broken = route({ type: 'object', properties: { a: { $ref: '#/definitions/nowhere' } } });
  const serialize = lazySerializers(undefined, {})(broken);
  assert.throws(() => serialize({ a: 1 }));
});

test('the serializer writes what the schema lists, and only that, on every call', () => {
  const serialize = lazySerializers(undefined, {})(route({ type: 'object', properties: { name: { type: 'string' }, count: { type: 'integer' } } }));
  assert.equal(serialize({ name: 'a', count: 2, secret: 'left out' }), '{"name":"a","count":2}');
  assert.equal(serialize({ name: 'b', count: 3 }), '{"name":"b","count":3}');
});

test('shared schemas given to the factory resolve references', () => {
  const shared = { item: { $id: 'item', type: 'object', properties: { id: { type: 'string' } } } };
  const serialize = lazySerializers(shared, {})(route({ type: 'array', items: { $ref: 'item#' } }));
  assert.equal(serialize([{ id: 'x', other: 1 }]), '[{"id":"x"}]');
});
