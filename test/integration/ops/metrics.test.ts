/**
 * /metrics after traffic: the request counts per version and status class are the ones the
 * traffic implies; the other series are present with the state they describe.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TEST_TOKEN } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';
import { MODEL, startStack, type Stack } from '../../helpers/stack.js';

let stack: Stack;
const client = new TestClient(8);
before(async () => {
  stack = await startStack({ policy: { stable: 1, canary: 2, percent: 10, headerRules: [{ header: 'x-canary' }] } });
});
after(async () => {
  await client.close();
  await stack.close();
});

function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inner = line.slice(name.length + 1, line.lastIndexOf('}'));
    const has = Object.entries(labels).every(([k, v]) => inner.includes(`${k}="${v}"`));
    if (has) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

test('request counts per version and status class follow the traffic; the other series describe the state', async () => {
  for (let i = 0; i < 120; i++) assert.equal((await client.post(stack.predictUrl, '{"instances": [1.0]}', { 'x-canary': 'never' })).status, 200);
  for (let i = 0; i < 30; i++) assert.equal((await client.post(stack.predictUrl, '{"instances": [1.0]}', { 'x-canary': 'always' })).status, 200);
  for (let i = 0; i < 7; i++) assert.equal((await client.post(stack.predictUrl, '{"instances": ["x"]}', { 'x-canary': 'never' })).status, 400);
  const reply = await client.get(`${stack.gw.admin}/metrics`);
  assert.equal(reply.status, 200, 'no token needed');
  assert.match(String(reply.headers['content-type']), /^text\/plain/);
  const text = reply.text;
  const m = { model: MODEL };
  assert.equal(sample(text, 'canary_gateway_requests_total', { ...m, version: '1', code: '2xx' }), 120);
  assert.equal(sample(text, 'canary_gateway_requests_total', { ...m, version: '2', code: '2xx' }), 30);
  assert.equal(sample(text, 'canary_gateway_requests_total', { ...m, version: '1', code: '4xx' }), 7);
  assert.equal(sample(text, 'canary_gateway_requests_total', { ...m, version: '2', code: '5xx' }), 0);
  assert.equal(sample(text, 'canary_gateway_request_duration_seconds_count', { ...m, version: '1' }), 127);
  assert.equal(sample(text, 'canary_gateway_request_duration_seconds_bucket', { ...m, version: '2', le: '+Inf' }), 30);
  assert.equal(sample(text, 'canary_gateway_canary_percent', m), 10);
  assert.ok((sample(text, 'canary_gateway_policy_revision', m) ?? 0) >= 1);
  assert.equal(sample(text, 'canary_gateway_store_up', { store: 'memory' }), 1);
  assert.equal(sample(text, 'canary_gateway_replica_up', { ...m, version: '2', replica: stack.canary[0]!.url }), 1);
  assert.equal(sample(text, 'canary_gateway_breaker_state', { ...m, version: '1', replica: stack.stable[0]!.url, state: 'closed' }), 1);
  assert.equal(sample(text, 'canary_gateway_breaker_state', { ...m, version: '1', replica: stack.stable[0]!.url, state: 'open' }), 0);
  assert.equal(sample(text, 'canary_gateway_upstream_failures_total', { ...m, version: '1', kind: 'status' }), 0);
  // Attempts at each version's replicas: every request made one (a 400 is an answer, not a failure).
  assert.equal(sample(text, 'canary_gateway_attempts_total', { ...m, version: '1' }), 127);
  assert.equal(sample(text, 'canary_gateway_attempts_total', { ...m, version: '2' }), 30);
  assert.equal(sample(text, 'canary_gateway_version_role', { ...m, version: '1', role: 'stable' }), 1);
  assert.equal(sample(text, 'canary_gateway_version_role', { ...m, version: '2', role: 'canary' }), 1);
  assert.equal(text.split('\n').filter((l) => l.startsWith('canary_gateway_version_role{')).length, 2, 'one role per version named');
  // Every line of the per-request metrics carries the protocol the requests came in over.
  const perRequest = text.split('\n').filter((l) => /^canary_gateway_(requests_total|request_duration_seconds_(bucket|sum|count)|attempts_total|upstream_failures_total|retries_total)\{/.test(l));
  assert.equal(perRequest.length, 2 * 2 * (5 + 16 + 2 + 1 + 5 + 1), 'two versions, two protocols: 5 status classes, 16 buckets, sum, count, attempts, 5 failure kinds, retries');
  assert.deepEqual(perRequest.filter((l) => !l.includes('protocol="rest"') && !l.includes('protocol="grpc"')), []);
  // These requests came over REST: the gRPC series exist (for dashboards) and count nothing.
  assert.deepEqual(perRequest.filter((l) => l.includes('protocol="grpc"') && !/ 0$/.test(l)), []);
  assert.match(text, /^process_cpu_seconds_total /m, "Node's process metrics");
  assert.match(text, /# TYPE canary_gateway_request_duration_seconds histogram/);
});

test('failures, retries, ejections and a rollback show in the series that count them', async () => {
  const faulty = await startStack({ stableReplicas: 2, canaryReplicas: 1, policy: { stable: 1, canary: 2, percent: 10, headerRules: [{ header: 'x-canary' }] } });
  try {
    const failing = faulty.stable[0]!;
    failing.setFaults({ errorRate: 1, errorStatus: 500 });
    for (let i = 0; i < 60; i++) await client.post(faulty.predictUrl, '{"instances": [1.0]}', { 'x-canary': 'never' });
    const auth = { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' };
    const rolledBack = await client.send('POST', `${faulty.gw.admin}/api/models/${MODEL}/rollback`, '{}', auth);
    assert.equal(rolledBack.status, 200, rolledBack.text);

    const text = (await client.get(`${faulty.gw.admin}/metrics`)).text;
    const m = { model: MODEL };
    const v1 = { ...m, version: '1' };
    // Every 500 the failing replica gave was an attempt counted as a failure of kind status.
    const answered500 = failing.counters().byStatus['500'] ?? 0;
    assert.ok(answered500 >= 5, `the failing replica answered ${answered500} times`);
    assert.equal(sample(text, 'canary_gateway_upstream_failures_total', { ...v1, kind: 'status' }), answered500);
    // Attempts count the failed ones and the ones that answered: each replica's own count of requests.
    const served = faulty.stable.reduce((n, r) => n + (r.counters().byOperation.predict ?? 0), 0);
    assert.equal(sample(text, 'canary_gateway_attempts_total', v1), served);
    // Each failed attempt that left the client waiting was retried on the other replica.
    const retries = sample(text, 'canary_gateway_retries_total', v1) ?? 0;
    assert.ok(retries >= 1 && retries <= answered500, `${retries} retries for ${answered500} failed attempts`);
    // Five 5xx in a row eject it (for 30 s: still ejected now), the healthy one is not.
    assert.equal(sample(text, 'canary_gateway_replica_ejected', { ...v1, replica: failing.url }), 1);
    assert.equal(sample(text, 'canary_gateway_ejections_total', { ...v1, replica: failing.url }), 1);
    assert.equal(sample(text, 'canary_gateway_replica_ejected', { ...v1, replica: faulty.stable[1]!.url }), 0);
    // The rollback: in force, counted, and the canary's share is 0.
    assert.equal(sample(text, 'canary_gateway_rolled_back', m), 1);
    assert.equal(sample(text, 'canary_gateway_rollbacks_total', m), 1);
    assert.equal(sample(text, 'canary_gateway_canary_percent', m), 0);
  } finally {
    await faulty.close();
  }
});
