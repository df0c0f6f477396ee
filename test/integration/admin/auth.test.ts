/**
 * Tokens and roles: no or wrong token 401 on every route; a viewer reads everything and writes
 * nothing (403, nothing stored); an operator writes; CORS is off unless origins are configured.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TEST_TOKEN, VIEWER_TOKEN } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';
import { MODEL, startStack, type Stack } from '../../helpers/stack.js';

let stack: Stack;
const client = new TestClient(8);
const operator = { authorization: `Bearer ${TEST_TOKEN}` };
const viewer = { authorization: `Bearer ${VIEWER_TOKEN}` };

before(async () => {
  stack = await startStack({ policy: { stable: 1, canary: 2, percent: 10 } });
});
after(async () => {
  await client.close();
  await stack.close();
});

const m = `/api/models/${MODEL}`;
const WRITES: Array<[string, string, unknown]> = [
  ['PUT', `${m}/policy`, { stable: 1, canary: 2, percent: 50 }],
  ['PUT', `${m}/percent`, { percent: 50 }],
  ['PUT', `${m}/rules`, { headerRules: [{ header: 'x-canary' }] }],
  ['POST', `${m}/rollback`, {}],
  ['POST', `${m}/promote`, {}],
  ['POST', `${m}/pause`, {}],
  ['POST', `${m}/resume`, {}],
];
const READS = ['/api/models', m, '/api/audit', '/api/session', '/api/openapi.json'];

async function revision(): Promise<number> {
  return (await client.get(`${stack.gw.admin}${m}`, operator)).json<{ revision: number }>().revision;
}

test('no token, a wrong token, a wrong scheme: 401 on every route', async () => {
  const bad: Array<Record<string, string>> = [
    {},
    { authorization: 'Bearer not-a-valid-token-at-all' },
    { authorization: `Basic ${TEST_TOKEN}` },
    { authorization: TEST_TOKEN },
    { authorization: `Bearer ${TEST_TOKEN}x` },
    { authorization: 'Bearer' },
  ];
  for (const headers of bad) {
    for (const path of [...READS, '/api/events']) {
      const reply = await client.get(`${stack.gw.admin}${path}`, headers);
      assert.equal(reply.status, 401, `${path} with ${JSON.stringify(headers)}`);
      assert.equal(reply.headers['www-authenticate'], 'Bearer realm="canary-gateway"');
      assert.deepEqual(Object.keys(reply.json<object>()), ['error', 'details']);
    }
    for (const [method, path, body] of WRITES) {
      const reply = await client.send(method, `${stack.gw.admin}${path}`, JSON.stringify(body), { ...headers, 'content-type': 'application/json' });
      assert.equal(reply.status, 401, `${method} ${path}`);
    }
  }
});

test('a viewer reads everything and can write nothing (403, nothing stored)', async () => {
  for (const path of READS) assert.equal((await client.get(`${stack.gw.admin}${path}`, viewer)).status, 200, path);
  const session = (await client.get(`${stack.gw.admin}/api/session`, viewer)).json<{ name: string; role: string }>();
  assert.deepEqual({ name: session.name, role: session.role }, { name: 'test-viewer', role: 'viewer' });
  const before = await revision();
  for (const [method, path, body] of WRITES) {
    const reply = await client.send(method, `${stack.gw.admin}${path}`, JSON.stringify(body), { ...viewer, 'content-type': 'application/json' });
    assert.equal(reply.status, 403, `${method} ${path}: ${reply.text}`);
    assert.match(reply.json<{ error: string }>().error, /viewer token/);
  }
  assert.equal(await revision(), before);
  const audit = (await client.get(`${stack.gw.admin}/api/audit`, operator)).json<{ entries: Array<{ actor: string }> }>();
  assert.ok(audit.entries.every((e) => e.actor !== 'test-viewer'));
});

test('an operator writes, and is named in the audit trail', async () => {
  const reply = await client.send('PUT', `${stack.gw.admin}${m}/percent`, JSON.stringify({ percent: 20 }), { ...operator, 'content-type': 'application/json' });
  assert.equal(reply.status, 200, reply.text);
  const audit = (await client.get(`${stack.gw.admin}/api/audit?limit=1`, operator)).json<{ entries: Array<{ actor: string; reason: string }> }>();
  assert.deepEqual(audit.entries.map((e) => [e.actor, e.reason]), [['test-operator', 'manual']]);
});

test('CORS is off by default: no Access-Control headers, preflights refused', async () => {
  const reply = await client.get(`${stack.gw.admin}/api/models`, { ...operator, origin: 'https://evil.example' });
  assert.equal(reply.headers['access-control-allow-origin'], undefined);
  const preflight = await client.send('OPTIONS', `${stack.gw.admin}/api/models`, undefined, {
    origin: 'https://evil.example',
    'access-control-request-method': 'PUT',
  });
  assert.equal(preflight.headers['access-control-allow-origin'], undefined);
});
