/**
 * Shadow traffic over REST: the set share of unpinned inference requests is copied to the shadow
 * version's pool; the client gets the live answer only, whatever the shadow does (errors, hangs);
 * the budget of copies in flight holds and what is over it is dropped and counted; pinned requests,
 * requests the shadow answers live and streamed bodies are not copied.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../../helpers/gateway.js';
import { inParallel, TestClient } from '../../helpers/http.js';
import { AUTH, MODEL, shadowOf, startShadowStack, waitForPairs } from '../../helpers/shadow-stack.js';

const BODY = JSON.stringify({ instances: [1] });

test('the set share of unpinned requests also lands on the shadow pool (within 1 point over 10,000); clients get the live answers only', async (t) => {
  const stack = await startShadowStack({ policy: { stable: 1, shadow: { version: 2, percent: 10 } } });
  const client = new TestClient(8);
  t.after(async () => {
    await client.close();
    await stack.close();
  });
  const n = 10_000;
  const replies = await inParallel(n, 8, () => client.post(stack.predictUrl, BODY));
  for (const reply of replies) {
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['x-model-version'], '1');
    assert.deepEqual(reply.json(), { predictions: [2.5] }, 'the live answer, never the shadow one (3.5)');
  }
  const view = await waitForPairs(client, stack, 1);
  await waitFor(async () => (await shadowOf(client, stack))?.inFlight === 0, 10_000, 'no copy in flight');
  const copies = stack.sims.get(2)!.counters().byOperation.predict;
  const sent = (await shadowOf(client, stack))!.sent;
  assert.equal(copies, sent, 'every copy sent reached the shadow replica');
  // 10% of 10,000: the binomial standard deviation is 30 copies (0.3 points); 1 point is 3.3 of them.
  assert.ok(copies >= 900 && copies <= 1100, `10% of the requests copied, within 1 point: got ${copies}`);
  assert.equal(stack.sims.get(1)!.counters().byOperation.predict, n, 'stable answered every request');
  assert.equal(view.version, 2);
  assert.equal(stack.sims.get(3)!.counters().byOperation.predict, 0);
});

test('pinned requests and requests the shadow answers live are not copied', async (t) => {
  const stack = await startShadowStack({ policy: { stable: 1, canary: 2, percent: 0, headerRules: [{ header: 'x-canary' }], shadow: { version: 2, percent: 100 } } });
  const client = new TestClient(4);
  t.after(async () => {
    await client.close();
    await stack.close();
  });
  const base = `${stack.gw.rest}/v1/models/${MODEL}`;
  for (let i = 0; i < 10; i++) {
    assert.equal((await client.post(`${base}/versions/1:predict`, BODY)).status, 200);
    assert.equal((await client.post(`${base}/labels/stable:predict`, BODY)).status, 200);
    // Sent to the canary, which is the shadow: its own answer, not copied to itself.
    const canary = await client.post(stack.predictUrl, BODY, { 'x-canary': 'always' });
    assert.equal(canary.headers['x-model-version'], '2');
  }
  // Status and metadata requests are not inference: never copied.
  assert.equal((await client.get(`${base}`)).status, 200);
  assert.equal((await client.get(`${base}/metadata`)).status, 200);
  assert.equal(stack.sims.get(2)!.counters().byOperation.predict, 10, 'the shadow version saw only its own live requests');
  assert.equal(stack.sims.get(2)!.counters().byOperation.metadata, 0);
  assert.equal((await shadowOf(client, stack))?.sent ?? 0, 0);
  // The control: one unpinned request to stable is copied.
  await client.post(stack.predictUrl, BODY);
  await waitFor(() => stack.sims.get(2)!.counters().byOperation.predict === 11, 5_000, 'the unpinned request copied');
});

test('a shadow that answers errors changes no client answer; its errors are counted', async (t) => {
  const stack = await startShadowStack({
    policy: { stable: 1, shadow: { version: 2, percent: 100 } },
    simulator: (v) => (v === 2 ? { faults: { errorRate: 1, errorStatus: 500 } } : {}),
  });
  const client = new TestClient(4);
  t.after(async () => {
    await client.close();
    await stack.close();
  });
  for (let i = 0; i < 20; i++) {
    const reply = await client.post(stack.predictUrl, BODY);
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.json(), { predictions: [2.5] });
  }
  const view = await waitForPairs(client, stack, 20);
  assert.equal(view.results?.totals.error, 20);
  assert.equal(view.results?.errorRate, 1);
  assert.equal(view.results?.compared, 0);
  assert.equal(stack.sims.get(2)!.counters().faults.errors, 20);
  // None of it reached the shadow pool's own numbers, which steer live traffic.
  const model = (await client.get(`${stack.gw.admin}/api/models/${MODEL}`, AUTH)).json<{ pools: Array<{ version: number; stats: { requests: number }; replicas: Array<{ breaker: string }> }> }>();
  const pool2 = model.pools.find((p) => p.version === 2)!;
  assert.equal(pool2.stats.requests, 0);
  assert.equal(pool2.replicas[0]!.breaker, 'closed');
});

test('a hanging shadow: answers arrive while it hangs, the budget holds, copies over it are dropped and counted', async (t) => {
  const stack = await startShadowStack({
    policy: { stable: 1, shadow: { version: 2, percent: 100, maxInFlight: 2 } },
    proxy: { deadlineMs: 3_000 },
    simulator: (v) => (v === 2 ? { faults: { hang: true } } : {}),
  });
  const client = new TestClient(4);
  t.after(async () => {
    await client.close();
    await stack.close();
  });
  for (let i = 0; i < 10; i++) {
    const started = performance.now();
    const reply = await client.post(stack.predictUrl, BODY);
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.json(), { predictions: [2.5] });
    assert.ok(performance.now() - started < 1_000, 'the client did not wait for the hanging shadow');
  }
  const during = (await shadowOf(client, stack))!;
  assert.equal(during.inFlight, 2, 'two copies hang, the budget');
  assert.equal(during.sent, 2);
  assert.equal(during.dropped.budget, 8);
  assert.equal(stack.sims.get(2)!.counters().faults.hangs, 2);
  const metrics = (await client.get(`${stack.gw.admin}/metrics`, AUTH)).text;
  assert.match(metrics, new RegExp(`canary_gateway_shadow_dropped_total\\{model="${MODEL}",reason="budget"\\} 8`));
  assert.match(metrics, new RegExp(`canary_gateway_shadow_in_flight\\{model="${MODEL}"\\} 2`));
  // The proxy deadline ends the hung copies: errors of the shadow, the budget given back.
  const after = await waitForPairs(client, stack, 2, 10_000);
  assert.equal(after.results?.totals.error, 2);
  assert.equal((await shadowOf(client, stack))!.inFlight, 0);
});

test('a body that streamed through (over the retry buffer) is not copied, and is counted', async (t) => {
  const stack = await startShadowStack({ policy: { stable: 1, shadow: { version: 2, percent: 100 } }, proxy: { retryBufferBytes: 1024 } });
  const client = new TestClient(2);
  t.after(async () => {
    await client.close();
    await stack.close();
  });
  const big = JSON.stringify({ instances: Array.from({ length: 600 }, () => 1) });
  assert.ok(big.length > 1024);
  const reply = await client.post(stack.predictUrl, big);
  assert.equal(reply.status, 200);
  const small = await client.post(stack.predictUrl, BODY);
  assert.equal(small.status, 200);
  await waitForPairs(client, stack, 1);
  const view = (await shadowOf(client, stack))!;
  assert.equal(view.dropped.streamed, 1);
  assert.equal(view.sent, 1);
  assert.equal(stack.sims.get(2)!.counters().byOperation.predict, 1, 'only the small body was copied');
});

test('no shadow replica free, or no room in the memory budget: the copy is dropped at once and counted by why', async (t) => {
  const stack = await startShadowStack({
    policy: { stable: 1, shadow: { version: 2, percent: 100 } },
    proxy: { maxBufferedBytes: 1024 * 1024, retryBufferBytes: 1024 * 1024 },
    // Version 2 never becomes AVAILABLE: its replica takes no traffic, copies included.
    simulator: (v) => (v === 2 ? { versionStates: { '2': 'LOADING' } } : {}),
  });
  const client = new TestClient(2);
  t.after(async () => {
    await client.close();
    await stack.close();
  });
  assert.equal((await client.post(stack.predictUrl, BODY)).status, 200);
  assert.equal((await shadowOf(client, stack))?.dropped.unavailable, 1);
  stack.sims.get(2)!.setVersionState(2, 'AVAILABLE');
  await waitFor(async () => {
    await client.post(stack.predictUrl, BODY);
    return ((await shadowOf(client, stack))?.sent ?? 0) > 0;
  }, 10_000, 'the shadow replica taking copies');
  // A body of 600 KB (JSON whitespace) is held once for the live request; a copy would hold it twice, past 1 MiB.
  const big = `{"instances": [1]${' '.repeat(600_000)}}`;
  const reply = await client.post(stack.predictUrl, big);
  assert.equal(reply.status, 200, reply.text);
  assert.deepEqual(reply.json(), { predictions: [2.5] });
  assert.equal((await shadowOf(client, stack))?.dropped.memory, 1);
});
