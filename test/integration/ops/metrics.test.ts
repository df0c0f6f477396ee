/**
 * /metrics after traffic: the request counts per version and status class are the ones the
 * traffic implies; the other series are present with the state they describe.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
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
  assert.match(text, /^process_cpu_seconds_total /m, "Node's process metrics");
  assert.match(text, /# TYPE canary_gateway_request_duration_seconds histogram/);
});
