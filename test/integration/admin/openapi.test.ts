/** The OpenAPI document describes every admin route from the same schemas that validate them. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TEST_TOKEN } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';
import { MODEL, startStack, type Stack } from '../../helpers/stack.js';

let stack: Stack;
const client = new TestClient(2);
before(async () => {
  stack = await startStack({ stableReplicas: 1, canaryReplicas: 0, policy: { stable: 1 } });
});
after(async () => {
  await client.close();
  await stack.close();
});

test('GET /api/openapi.json: every route, with request and response schemas', async () => {
  const reply = await client.get(`${stack.gw.admin}/api/openapi.json`, { authorization: `Bearer ${TEST_TOKEN}` });
  assert.equal(reply.status, 200);
  const doc = reply.json<{ openapi: string; paths: Record<string, Record<string, { requestBody?: unknown; responses: Record<string, unknown> }>> }>();
  assert.match(doc.openapi, /^3\./);
  const routes = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`)).sort();
  assert.deepEqual(routes, [
    'DELETE /api/models/{model}/rejected/{version}',
    'GET /api/audit',
    'GET /api/events',
    'GET /api/models',
    'GET /api/models/{model}',
    'GET /api/session',
    'POST /api/models/{model}/abort',
    'POST /api/models/{model}/pause',
    'POST /api/models/{model}/promote',
    'POST /api/models/{model}/resume',
    'POST /api/models/{model}/rollback',
    'PUT /api/models/{model}/percent',
    'PUT /api/models/{model}/plan',
    'PUT /api/models/{model}/policy',
    'PUT /api/models/{model}/pools/{version}/replicas',
    'PUT /api/models/{model}/rules',
    'PUT /api/models/{model}/shadow',
  ]);
  const put = doc.paths['/api/models/{model}/policy']!['put']!;
  assert.ok(put.requestBody !== undefined);
  assert.ok(put.responses['200'] !== undefined && put.responses['400'] !== undefined);
  // The revision as data: the ETag of a model, and the 409 of a revision conflict.
  type Response = { headers?: Record<string, unknown>; content: { 'application/json': { schema: { properties: Record<string, { type: string }> } } } };
  const conflict = put.responses['409'] as Response;
  assert.equal(conflict.content['application/json'].schema.properties['currentRevision']?.type, 'integer');
  assert.ok(conflict.headers?.['etag'] !== undefined, JSON.stringify(conflict));
  const get = doc.paths['/api/models/{model}']!['get']!.responses['200'] as Response;
  assert.ok(get.headers?.['etag'] !== undefined, JSON.stringify(Object.keys(get)));
  assert.ok((put.responses['200'] as Response).headers?.['etag'] !== undefined);
});

test('the event stream payloads are documented: the stats tick with replicas, the snapshot with history', async () => {
  const reply = await client.get(`${stack.gw.admin}/api/openapi.json`, { authorization: `Bearer ${TEST_TOKEN}` });
  type Schema = { properties?: Record<string, Schema>; items?: Schema; additionalProperties?: Schema | boolean; required?: string[] };
  const doc = reply.json<{ components: { schemas: Record<string, Schema> }; paths: Record<string, Record<string, { description?: string }>> }>();
  const tick = doc.components.schemas['StatsEvent'];
  const replica = tick?.properties?.['models']?.items?.properties?.['versions']?.items?.properties?.['replicas']?.items;
  assert.deepEqual(Object.keys(replica?.properties ?? {}).sort(), ['breaker', 'consecutiveFailures', 'ejectedUntil', 'ejections', 'health', 'lastCheck', 'outstanding', 'url']);
  const snapshot = doc.components.schemas['SnapshotEvent'];
  assert.deepEqual(Object.keys(snapshot?.properties ?? {}).sort(), ['history', 'models', 'storeAvailable']);
  assert.match(doc.paths['/api/events']!['get']!.description ?? '', /StatsEvent/);
  // Every other event of the stream too, each under its name.
  for (const name of ['PolicyEvent', 'HealthEvent', 'RollbackEvent', 'StoreEvent']) assert.ok(doc.components.schemas[name]?.properties?.['at'] !== undefined, name);
  assert.ok(doc.components.schemas['ReplicaEvent'] !== undefined);
});

test('the policy defaults the document shows are what a PUT that leaves the fields out stores, filled by the gateway', async () => {
  const auth = { authorization: `Bearer ${TEST_TOKEN}` };
  const doc = (await client.get(`${stack.gw.admin}/api/openapi.json`, auth)).json<{
    paths: Record<string, Record<string, { requestBody: { content: { 'application/json': { schema: { properties: Record<string, { default?: unknown }> } } } } }>>;
  }>();
  const body = doc.paths['/api/models/{model}/policy']!['put']!.requestBody.content['application/json'].schema;
  const documented = Object.entries(body.properties).filter(([, field]) => field.default !== undefined);
  assert.deepEqual(documented.map(([name]) => name).sort(), ['canary', 'cookieRules', 'headerRules', 'onNewVersion', 'percent', 'plan', 'shadow', 'sticky']);
  const reply = await client.send('PUT', `${stack.gw.admin}/api/models/${MODEL}/policy`, JSON.stringify({ stable: 1 }), { ...auth, 'content-type': 'application/json' });
  assert.equal(reply.status, 200, reply.text);
  const stored = reply.json<{ policy: Record<string, unknown> }>().policy;
  for (const [name, field] of documented) assert.deepEqual(stored[name], field.default, name);
  assert.equal(stored['salt'], MODEL, 'no static default: the model name');
});
