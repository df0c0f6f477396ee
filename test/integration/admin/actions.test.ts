/**
 * The operator's actions through the admin API, each checked in the traffic it changes: canary
 * percentage, rules, rollback, promote, pause/resume; plus the audit trail they leave. Invalid
 * input is refused whole with the field named, and stores nothing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TEST_TOKEN } from '../../helpers/gateway.js';
import { inParallel, TestClient } from '../../helpers/http.js';
import { MODEL, startStack, versionOfPrediction, type Stack } from '../../helpers/stack.js';

let stack: Stack;
const client = new TestClient(16);
const auth = { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' };
const m = `/api/models/${MODEL}`;

interface View {
  revision: number;
  state: string;
  paused: boolean;
  rolledBack: boolean;
  reason: string;
  updatedBy: string;
  policy: { stable: number; canary: number | null; percent: number; headerRules: unknown[]; sticky: unknown };
  pools: Array<{ version: number; role: string; stats: { requests: number; rps: number; errorRate: number; p50Ms: number | null; p99Ms: number | null } }>;
}
interface Audit {
  entries: Array<{ revision: number; actor: string; reason: string; note: string; before: { policy: { percent: number } } | null; after: { policy: { percent: number }; rolledBack: boolean } }>;
}

before(async () => {
  stack = await startStack({ policy: { stable: 1, canary: 2, percent: 10, headerRules: [{ header: 'x-canary' }] } });
});
after(async () => {
  await client.close();
  await stack.close();
});

const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  client.send(method, `${stack.gw.admin}${path}`, body === undefined ? undefined : JSON.stringify(body), { ...auth, ...headers });
const state = async (): Promise<View> => (await call('GET', m)).json<View>();
const audit = async (limit = 50): Promise<Audit> => (await call('GET', `/api/audit?model=${MODEL}&limit=${limit}`)).json<Audit>();

async function canaryShare(n: number, headers: Record<string, string> = {}): Promise<number> {
  const versions = await inParallel(n, 16, async () => versionOfPrediction((await client.post(stack.predictUrl, '{"instances": [1.0]}', headers)).text));
  return versions.filter((v) => v === 2).length / n;
}

test('set the canary percentage: the policy says 40 and the traffic follows', async () => {
  const reply = await call('PUT', `${m}/percent`, { percent: 40, note: 'widen' });
  assert.equal(reply.status, 200, reply.text);
  const view = reply.json<View>();
  assert.equal(view.policy.percent, 40);
  assert.equal(view.state, 'canary');
  const share = await canaryShare(3000);
  assert.ok(share > 0.36 && share < 0.44, `canary share ${share}`);
  const last = (await audit(1)).entries[0]!;
  assert.deepEqual([last.reason, last.actor, last.note, last.before?.policy.percent, last.after.policy.percent], ['manual', 'test-operator', 'widen', 10, 40]);
});

test('invalid input: 400 naming the field, nothing stored', async () => {
  const before = await state();
  const entries = (await audit()).entries.length;
  const cases: Array<[string, string, unknown, string[]]> = [
    ['PUT', `${m}/percent`, { percent: 101 }, ['/percent']],
    ['PUT', `${m}/percent`, { percent: 10.005 }, ['/percent']],
    ['PUT', `${m}/percent`, { pct: 10 }, ['/pct', '/percent']],
    ['PUT', `${m}/rules`, { headerRules: [{ header: 'x', regex: '[' }] }, ['/headerRules/0/regex']],
    ['PUT', `${m}/rules`, { sticky: {} }, ['/sticky']],
    ['PUT', `${m}/rules`, {}, ['']],
    ['PUT', `${m}/policy`, { stable: 7 }, ['/stable']],
    ['POST', `${m}/rollback`, { because: 'x' }, ['/because']],
  ];
  for (const [method, path, body, paths] of cases) {
    const reply = await call(method, path, body);
    assert.equal(reply.status, 400, `${method} ${path} ${JSON.stringify(body)}: ${reply.text}`);
    const details = reply.json<{ details: Array<{ path: string }> }>().details.map((d) => d.path).sort();
    assert.deepEqual(details, paths.sort(), JSON.stringify(body));
  }
  assert.equal((await call('PUT', '/api/models/nope/percent', { percent: 5 })).status, 404);
  const afterView = await state();
  assert.equal(afterView.revision, before.revision);
  assert.deepEqual(afterView.policy, before.policy);
  assert.equal((await audit()).entries.length, entries);
});

test('replace the rules and the sticky key: they route at once', async () => {
  const reply = await call('PUT', `${m}/rules`, { headerRules: [{ header: 'x-tier', equals: 'beta' }], sticky: { header: 'x-user-id' } });
  assert.equal(reply.status, 200, reply.text);
  assert.equal(reply.json<View>().policy.percent, 40, 'the percentage is untouched');
  assert.equal(await canaryShare(50, { 'x-tier': 'beta' }), 1);
  assert.equal(await canaryShare(50, { 'x-canary': 'always', 'x-user-id': 'u-stable-probe' }) === 1, false, 'the old rule is gone');
});

test('rollback: 0%, every unpinned request to stable (rules too), pins still reach the canary; recorded', async () => {
  const reply = await call('POST', `${m}/rollback`, { note: 'p99 doubled' });
  assert.equal(reply.status, 200, reply.text);
  const view = reply.json<View>();
  assert.deepEqual([view.state, view.policy.percent, view.rolledBack, view.reason], ['rolled-back', 0, true, 'rollback']);
  assert.equal(await canaryShare(500), 0);
  assert.equal(await canaryShare(50, { 'x-tier': 'beta' }), 0, 'a rule does not bring traffic back to a rolled-back canary');
  const pinned = await client.post(`${stack.gw.rest}/v1/models/${MODEL}/labels/canary:predict`, '{"instances": [1.0]}');
  assert.equal(versionOfPrediction(pinned.text), 2);
  const last = (await audit(1)).entries[0]!;
  assert.deepEqual([last.reason, last.note, last.after.rolledBack], ['rollback', 'p99 doubled', true]);

  // An operator's next routing change ends the rolled-back state.
  const resumed = (await call('PUT', `${m}/percent`, { percent: 5 })).json<View>();
  assert.deepEqual([resumed.state, resumed.rolledBack], ['canary', false]);
  assert.equal(await canaryShare(50, { 'x-tier': 'beta' }), 1);
});

test('pause and resume: recorded, idempotent, routing unchanged', async () => {
  const before = await state();
  const paused = (await call('POST', `${m}/pause`)).json<View>();
  assert.deepEqual([paused.state, paused.paused, paused.revision], ['paused', true, before.revision + 1]);
  assert.deepEqual(paused.policy, before.policy);
  const again = (await call('POST', `${m}/pause`)).json<View>();
  assert.equal(again.revision, paused.revision, 'pausing a paused model writes nothing');
  // As curl -X POST sends it: no body, no content type.
  const bare = await client.send('POST', `${stack.gw.admin}${m}/resume`, undefined, { authorization: auth.authorization });
  assert.equal(bare.status, 200, bare.text);
  const resumed = bare.json<View>();
  assert.deepEqual([resumed.state, resumed.paused], ['canary', false]);
});

test('If-Match: a stale revision gets 409 with the current one, as data and as the ETag', async () => {
  const read = await call('GET', m);
  const current = read.json<View>();
  assert.equal(read.headers['etag'], `"${current.revision}"`, 'GET gives the revision as the ETag');
  const stale = await call('PUT', `${m}/percent`, { percent: 15 }, { 'if-match': String(current.revision - 1) });
  assert.equal(stale.status, 409);
  const body = stale.json<{ error: string; details: Array<{ path: string; message: string }>; currentRevision: number }>();
  assert.equal(body.currentRevision, current.revision);
  assert.equal(stale.headers['etag'], `"${current.revision}"`);
  assert.deepEqual(body.details.map((d) => d.path), ['/headers/if-match']);
  assert.match(body.details[0]!.message, new RegExp(`current revision is ${current.revision}`));
  assert.equal(typeof body.error, 'string');
  // What a client does with it: the ETag back as If-Match.
  const ok = await call('PUT', `${m}/percent`, { percent: 15 }, { 'if-match': stale.headers['etag'] as string });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers['etag'], `"${current.revision + 1}"`, 'a write answers with the new revision as the ETag');
});

test('live stats per version over the window: requests/s, error rate, p50, p99', async () => {
  await canaryShare(400);
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  const view = await state();
  for (const pool of view.pools) {
    assert.ok(pool.stats.requests > 0, `version ${pool.version} saw traffic`);
    assert.ok(pool.stats.rps > 0);
    assert.equal(pool.stats.errorRate, 0);
    assert.ok(pool.stats.p50Ms !== null && pool.stats.p99Ms !== null && pool.stats.p50Ms <= pool.stats.p99Ms);
  }
});

test('promote: the canary becomes stable, no canary left', async () => {
  const reply = await call('POST', `${m}/promote`);
  assert.equal(reply.status, 200, reply.text);
  const view = reply.json<View>();
  assert.deepEqual([view.policy.stable, view.policy.canary, view.policy.percent, view.state, view.reason], [2, null, 0, 'steady', 'promotion']);
  assert.deepEqual(view.pools.map((p) => [p.version, p.role]), [
    [1, 'idle'],
    [2, 'stable'],
  ]);
  assert.equal(await canaryShare(100), 1, 'everything is served by version 2 now');
  const noCanary = await call('POST', `${m}/rollback`);
  assert.equal(noCanary.status, 409);
  assert.equal(noCanary.json<{ details: Array<{ path: string }> }>().details[0]!.path, '/canary');
  assert.equal(noCanary.json<{ currentRevision?: number }>().currentRevision, undefined, 'not a revision conflict');
});
