/**
 * The first admin API: state of models, pools and replicas; a policy replaced whole or not at all;
 * bearer token required.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TEST_TOKEN } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';
import { MODEL, startStack, versionOfPrediction, type Stack } from '../../helpers/stack.js';

let stack: Stack;
const client = new TestClient(8);
const auth = { authorization: `Bearer ${TEST_TOKEN}` };

before(async () => {
  stack = await startStack({ policy: { stable: 1, canary: 2, percent: 0, headerRules: [{ header: 'x-canary' }] } });
});
after(async () => {
  await client.close();
  await stack.close();
});

function put(body: unknown, headers: Record<string, string> = {}) {
  return client.send('PUT', `${stack.gw.admin}/api/models/${MODEL}/policy`, JSON.stringify(body), {
    ...auth,
    'content-type': 'application/json',
    ...headers,
  });
}

interface ModelState {
  name: string;
  revision: number;
  policy: { stable: number; canary: number | null; percent: number };
  pools: Array<{ version: number; role: string; healthyReplicas: number; replicas: Array<{ url: string; health: string }> }>;
}

test('no token, a wrong token or a wrong scheme: 401, and nothing changes', async () => {
  for (const headers of [{} as Record<string, string>, { authorization: 'Bearer wrong-token-wrong-token' }, { authorization: `Basic ${TEST_TOKEN}` }, { authorization: TEST_TOKEN }]) {
    const reply = await client.get(`${stack.gw.admin}/api/models`, headers);
    assert.equal(reply.status, 401);
    assert.equal(reply.headers['www-authenticate'], 'Bearer realm="canary-gateway"');
    assert.equal(reply.json<{ error: string }>().error, 'missing or invalid admin token');
  }
  const write = await client.send('PUT', `${stack.gw.admin}/api/models/${MODEL}/policy`, JSON.stringify({ stable: 1, canary: 2, percent: 100 }), {
    'content-type': 'application/json',
  });
  assert.equal(write.status, 401);
  const state = (await client.get(`${stack.gw.admin}/api/models/${MODEL}`, auth)).json<ModelState>();
  assert.equal(state.policy.percent, 0);
});

test('the state lists models, pools, replicas with health, and the policy with its revision', async () => {
  const reply = await client.get(`${stack.gw.admin}/api/models`, auth);
  assert.equal(reply.status, 200);
  const { models } = reply.json<{ models: ModelState[] }>();
  assert.equal(models.length, 1);
  const model = models[0]!;
  assert.equal(model.name, MODEL);
  assert.equal(model.revision, 1);
  assert.deepEqual(model.pools.map((p) => [p.version, p.role, p.healthyReplicas]), [
    [1, 'stable', 2],
    [2, 'canary', 1],
  ]);
  assert.deepEqual(model.pools[0]!.replicas.map((r) => r.url), stack.stable.map((s) => s.url));
  assert.ok(model.pools.every((p) => p.replicas.every((r) => r.health === 'up')));
  assert.equal((await client.get(`${stack.gw.admin}/api/models/nope`, auth)).status, 404);
});

test('an invalid policy: 400 naming each bad field, and the old policy stays in force', async () => {
  const before = (await client.get(`${stack.gw.admin}/api/models/${MODEL}`, auth)).json<ModelState>();
  const cases: Array<[unknown, string[]]> = [
    [{ stable: 1, canary: 2, percent: 150 }, ['/percent']],
    [{ stable: 1, canary: 9, percent: 10 }, ['/canary']],
    [{ stable: 1, canary: 2, percent: 10, headerRules: [{ header: 'x-a', regex: '(' }] }, ['/headerRules/0/regex']],
    // Valid JavaScript, but not linear-time RE2: lookahead, backreference.
    [{ stable: 1, canary: 2, percent: 10, headerRules: [{ header: 'x-a' }, { header: 'x-b', regex: '^(?=admin)' }] }, ['/headerRules/1/regex']],
    [{ stable: 1, canary: 2, percent: 10, cookieRules: [{ cookie: 'c', regex: '(a)\\1' }] }, ['/cookieRules/0/regex']],
    [{ stable: 1, canary: 2, percnt: 10 }, ['/percnt']],
    [{ canary: 2, percent: '10' }, ['/percent', '/stable']],
  ];
  for (const [body, paths] of cases) {
    const reply = await put(body);
    assert.equal(reply.status, 400, reply.text);
    const error = reply.json<{ error: string; details: Array<{ path: string; message: string }> }>();
    assert.deepEqual(error.details.map((d) => d.path).sort(), paths, JSON.stringify(error));
    assert.ok(error.details.every((d) => d.message.length > 0));
    if (paths[0]?.endsWith('/regex') === true) assert.match(error.details[0]!.message, /^is not a valid regular expression in RE2 syntax/);
  }
  const notJson = await client.send('PUT', `${stack.gw.admin}/api/models/${MODEL}/policy`, '{"stable": ', { ...auth, 'content-type': 'application/json' });
  assert.equal(notJson.status, 400);
  const after = (await client.get(`${stack.gw.admin}/api/models/${MODEL}`, auth)).json<ModelState>();
  assert.deepEqual(after.policy, before.policy);
  assert.equal(after.revision, before.revision);
  // And traffic still follows the old policy: 0% canary.
  for (let i = 0; i < 50; i++) {
    assert.equal(versionOfPrediction((await client.post(stack.predictUrl, '{"instances": [1.0]}')).text), 1);
  }
});

test('a valid policy takes effect at once; If-Match guards against lost updates', async () => {
  const current = (await client.get(`${stack.gw.admin}/api/models/${MODEL}`, auth)).json<ModelState>();
  const ok = await put({ stable: 1, canary: 2, percent: 100 }, { 'if-match': `"${current.revision}"` });
  assert.equal(ok.status, 200, ok.text);
  const updated = ok.json<ModelState>();
  assert.equal(updated.revision, current.revision + 1);
  assert.equal(updated.policy.percent, 100);
  assert.equal(versionOfPrediction((await client.post(stack.predictUrl, '{"instances": [1.0]}')).text), 2);

  const stale = await put({ stable: 1, canary: 2, percent: 0 }, { 'if-match': String(current.revision) });
  assert.equal(stale.status, 409);
  assert.match(stale.json<{ details: Array<{ message: string }> }>().details[0]!.message, new RegExp(`current revision is ${updated.revision}`));
  assert.equal((await client.get(`${stack.gw.admin}/api/models/${MODEL}`, auth)).json<ModelState>().policy.percent, 100);
});
