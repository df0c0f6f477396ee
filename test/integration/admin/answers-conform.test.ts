/**
 * Every admin API answer is what the OpenAPI document says of its route and status, and nothing
 * more: the answers are written with JSON.stringify (admin/server.ts), which, unlike a
 * schema-driven serializer, would send a field a handler let through. Each body is checked with
 * Ajv against the document's schema for the status it came with, every object closed to the
 * properties it lists; a status the document does not list for the route fails too.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Ajv, type AnySchema } from 'ajv';
import { request } from 'undici';
import { TEST_TOKEN } from '../../helpers/gateway.js';
import { MODEL, startStack, type Stack } from '../../helpers/stack.js';

interface Call {
  readonly method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  /** The route as the document names it. */
  readonly route: string;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  readonly auth?: false;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Doc = { paths: Record<string, Record<string, { responses: Record<string, { content?: { 'application/json'?: { schema: Json } } }> }>> };

/** The schema with every object that lists properties and says nothing of others closed to them. */
function closed(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(closed);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: { [key: string]: Json } = {};
  for (const [key, value] of Object.entries(schema)) out[key] = closed(value);
  if ('properties' in schema && !('additionalProperties' in schema) && !('patternProperties' in schema)) out['additionalProperties'] = false;
  return out;
}

let stack: Stack;
let doc: Doc;
const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });

before(async () => {
  stack = await startStack({ stableReplicas: 1, canaryReplicas: 1 });
  const res = await request(`${stack.gw.admin}/api/openapi.json`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } });
  doc = (await res.body.json()) as Doc;
});
after(async () => {
  await stack.close();
});

async function check(call: Call): Promise<number> {
  const path = call.route.replace('{model}', MODEL).replace('{version}', '2');
  const headers: Record<string, string> = { ...(call.auth === false ? {} : { authorization: `Bearer ${TEST_TOKEN}` }), ...call.headers };
  if (call.body !== undefined) headers['content-type'] = 'application/json';
  const res = await request(stack.gw.admin + path, { method: call.method, headers, ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }) });
  const text = await res.body.text();
  const what = `${call.method} ${path} answered ${res.statusCode}`;
  const documented = doc.paths[call.route]?.[call.method.toLowerCase()]?.responses[String(res.statusCode)];
  assert.ok(documented !== undefined, `${what}, a status the document does not list: ${text.slice(0, 300)}`);
  const schema = documented.content?.['application/json']?.schema;
  assert.ok(schema !== undefined, `${what}: no JSON schema documented`);
  const validate = ajv.compile(closed(schema) as AnySchema);
  assert.ok(validate(JSON.parse(text)), `${what}: ${ajv.errorsText(validate.errors)}\n${text.slice(0, 600)}`);
  return res.statusCode;
}

test('every answer of the admin API is what its route documents for that status, field for field', async () => {
  const statuses: string[] = [];
  const canaryUrl = (stack.canary[0] as { url: string }).url;
  const calls: Call[] = [
    { method: 'GET', route: '/api/models' },
    { method: 'GET', route: '/api/models/{model}' },
    { method: 'GET', route: '/api/session' },
    { method: 'PUT', route: '/api/models/{model}/percent', body: { percent: 20, note: 'conformance' } },
    { method: 'PUT', route: '/api/models/{model}/rules', body: { headerRules: [{ header: 'x-canary', equals: 'on' }] } },
    { method: 'PUT', route: '/api/models/{model}/policy', body: { stable: 1, canary: 2, percent: 30 } },
    { method: 'PUT', route: '/api/models/{model}/shadow', body: { shadow: null } },
    { method: 'PUT', route: '/api/models/{model}/plan', body: { plan: null } },
    { method: 'PUT', route: '/api/models/{model}/pools/{version}/replicas', body: { replicas: [canaryUrl] } },
    { method: 'POST', route: '/api/models/{model}/pause', body: {} },
    { method: 'POST', route: '/api/models/{model}/resume', body: {} },
    { method: 'POST', route: '/api/models/{model}/rollback', body: { note: 'conformance' } },
    { method: 'POST', route: '/api/models/{model}/abort', body: {} },
    { method: 'POST', route: '/api/models/{model}/promote', body: {} },
    { method: 'GET', route: '/api/audit' },
    // Refusals: a revision conflict, a body the schema refuses, an unknown model, no token.
    { method: 'PUT', route: '/api/models/{model}/percent', body: { percent: 5 }, headers: { 'if-match': '"999999"' } },
    { method: 'PUT', route: '/api/models/{model}/percent', body: { percent: 'ten' } },
    { method: 'GET', route: '/api/models/{model}', auth: false },
  ];
  for (const call of calls) statuses.push(String(await check(call)));
  // An unknown model's 404, through the same route.
  const res = await request(`${stack.gw.admin}/api/models/no_such_model`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } });
  const body = (await res.body.json()) as Record<string, unknown>;
  assert.equal(res.statusCode, 404);
  const schema = doc.paths['/api/models/{model}']?.['get']?.responses['404']?.content?.['application/json']?.schema;
  const validate = ajv.compile(closed(schema as Json) as AnySchema);
  assert.ok(validate(body), ajv.errorsText(validate.errors));
  // The calls meant to succeed did: refusals alone would say little of the views.
  assert.deepEqual(statuses, [...Array<string>(calls.length - 3).fill('200'), '409', '400', '401']);
});
