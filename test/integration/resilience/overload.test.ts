/**
 * Overload and failure accounting, over real sockets with replicas whose answers the test holds:
 *   - a replica has at most connectionsPerReplica requests in flight: one more is passed over, and a
 *     version whose replicas are all full answers 503 at once, blaming no replica (before, it waited
 *     in undici's queue, timed out and counted against the replica);
 *   - the gateway admits at most maxRequestsInFlight requests and maxBufferedBytes of bodies: past
 *     them, 503 at once;
 *   - a replica that resets in the middle of an answer counts as a failure (before, it had already
 *     counted as a success when its headers came);
 *   - the deadline counts from the request's first byte, body included; a replica that stops reading
 *     a body is a replica failure (504), not the client's (408).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { startTestGateway, TEST_TOKEN, waitFor, type TestGateway } from '../../helpers/gateway.js';
import { startHeldReplica, type HeldReplica } from '../../helpers/held-replica.js';
import { TestClient } from '../../helpers/http.js';

const MODEL = 'half_plus_two';
const BODY = '{"instances": [1.0]}';
const AVAILABLE = (version: number): string =>
  JSON.stringify({ model_version_status: [{ version: String(version), state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }] });

interface PoolView {
  version: number;
  stats: { errors: number; requests: number };
  replicas: Array<{ breaker: string; consecutiveFailures: number }>;
}

async function poolView(gw: TestGateway, client: TestClient, version: number): Promise<PoolView> {
  const view = (await client.get(`${gw.admin}/api/models/${MODEL}`, { authorization: `Bearer ${TEST_TOKEN}` })).json<{ pools: PoolView[] }>();
  const pool = view.pools.find((p) => p.version === version);
  assert.ok(pool, `pool ${version}`);
  return pool;
}

/** One held replica of version 1 behind a gateway with these proxy (and resilience) settings; closed after the test. */
async function heldStack(
  t: TestContext,
  proxy: Record<string, unknown>,
  resilience?: Record<string, unknown>,
): Promise<{ held: HeldReplica; client: TestClient; gw: TestGateway; url: string }> {
  const held = await startHeldReplica(MODEL, 1);
  const client = new TestClient(8);
  const gw = await startTestGateway({
    proxy,
    models: {
      [MODEL]: {
        pools: { '1': { replicas: [held.url] } },
        policy: { stable: 1 },
        healthCheck: { intervalMs: 200, timeoutMs: 1_000 },
        ...(resilience === undefined ? {} : { resilience }),
      },
    },
  });
  t.after(async () => {
    await client.close();
    await gw.close();
    await held.close();
  });
  return { held, client, gw, url: `${gw.rest}/v1/models/${MODEL}:predict` };
}

test('a replica takes at most connectionsPerReplica requests; a full version answers 503 at once and no replica is blamed', async (t) => {
  const { held, client, gw, url } = await heldStack(t, { connectionsPerReplica: 2 });
  const first = client.post(url, BODY);
  const second = client.post(url, BODY);
  const a = await held.next();
  const b = await held.next();
  const started = performance.now();
  const third = await client.post(url, BODY);
  const waited = performance.now() - started;
  assert.equal(third.status, 503);
  assert.equal(third.json<{ error: string }>().error, `Every replica of model ${MODEL} version 1 is at its limit of requests in flight`);
  assert.ok(waited < 2_000, `answered at once, not after an attempt timeout (${waited.toFixed(0)} ms)`);
  assert.equal(held.received, 2, 'the third request never reached the replica');
  a.answer(200);
  b.answer(200);
  assert.equal((await first).status, 200);
  assert.equal((await second).status, 200);
  const pool = await poolView(gw, client, 1);
  assert.deepEqual(pool.replicas.map((r) => [r.breaker, r.consecutiveFailures]), [['closed', 0]], 'a busy replica is not a failing one');
  // Room again: served.
  const fourth = client.post(url, BODY);
  (await held.next()).answer(200);
  assert.equal((await fourth).status, 200);
});

test('an unpinned canary request finds the canary full: it goes to stable', async (t) => {
  const stable = await startHeldReplica(MODEL, 1);
  const canary = await startHeldReplica(MODEL, 2);
  const client = new TestClient(8);
  const gw = await startTestGateway({
    proxy: { connectionsPerReplica: 1 },
    models: {
      [MODEL]: {
        pools: { '1': { replicas: [stable.url] }, '2': { replicas: [canary.url] } },
        policy: { stable: 1, canary: 2, percent: 100 },
        healthCheck: { intervalMs: 200, timeoutMs: 1_000 },
      },
    },
  });
  t.after(async () => {
    await client.close();
    await gw.close();
    await stable.close();
    await canary.close();
  });
  const url = `${gw.rest}/v1/models/${MODEL}:predict`;
  const filling = client.post(url, BODY);
  const onCanary = await canary.next();
  const second = client.post(url, BODY);
  (await stable.next()).answer(200);
  const reply = await second;
  assert.equal(reply.status, 200, reply.text);
  assert.equal(reply.headers['x-model-version'], '1');
  // Pinned to the canary's version: its own answer, a 503, not stable's.
  const pinned = await client.post(`${gw.rest}/v1/models/${MODEL}/versions/2:predict`, BODY);
  assert.equal(pinned.status, 503);
  assert.equal(pinned.json<{ error: string }>().error, `Every replica of model ${MODEL} version 2 is at its limit of requests in flight`);
  onCanary.answer(200);
  assert.equal((await filling).status, 200);
});

test('maxRequestsInFlight: one request past it gets 503 at once; admitted again once one ends', async (t) => {
  const { held, client, gw, url } = await heldStack(t, { maxRequestsInFlight: 2 });
  const one = client.post(url, BODY);
  const two = client.post(url, BODY);
  const a = await held.next();
  const b = await held.next();
  const refused = await client.post(url, BODY);
  assert.equal(refused.status, 503);
  assert.equal(refused.json<{ error: string }>().error, 'The gateway is at its limit of 2 requests in flight');
  assert.equal(refused.headers['connection'], 'close');
  const metrics = (await client.get(`${gw.admin}/metrics`)).text;
  assert.match(metrics, /^canary_gateway_requests_in_flight 2$/m);
  assert.match(metrics, /^canary_gateway_admission_refused_total\{limit="requests"\} 1$/m);
  a.answer(200);
  b.answer(200);
  await Promise.all([one, two]);
  const three = client.post(url, BODY);
  (await held.next()).answer(200);
  assert.equal((await three).status, 200, 'room again');
});

test('maxBufferedBytes: bodies a client really sent count; past the budget, 503 at once, and the budget comes back', async (t) => {
  const MiB = 1024 * 1024;
  const { held, client, gw } = await heldStack(t, { maxBufferedBytes: MiB, retryBufferBytes: 4 * MiB });
  const port = Number(new URL(gw.rest).port);
  // A client that announced 3 MiB and sent 700 KiB of it, then stalls: 700 KiB of the 1 MiB budget.
  const stalled = connect({ port, host: '127.0.0.1' });
  t.after(() => stalled.destroy());
  await once(stalled, 'connect');
  stalled.write(`POST /v1/models/${MODEL}:predict HTTP/1.1\r\nHost: x\r\nContent-Length: ${3 * MiB}\r\n\r\n`);
  stalled.write(Buffer.alloc(700 * 1024, 0x20));
  await waitFor(async () => /canary_gateway_buffered_request_bytes 716800/.test((await client.get(`${gw.admin}/metrics`)).text), 3_000, 'the stalled upload held in memory');
  // A small request still fits...
  const small = client.post(`${gw.rest}/v1/models/${MODEL}:predict`, BODY);
  (await held.next()).answer(200);
  assert.equal((await small).status, 200);
  // ...a 400 KiB one does not.
  const big = await client.post(`${gw.rest}/v1/models/${MODEL}:predict`, `{"instances": [${'1,'.repeat(200 * 1024)}1]}`);
  assert.equal(big.status, 503);
  assert.match(big.json<{ error: string }>().error, /^The gateway is at its limit of 1048576 bytes of request bodies in memory$/);
  // The stalled client leaves: its bytes come back.
  stalled.destroy();
  await waitFor(async () => /canary_gateway_buffered_request_bytes 0$/m.test((await client.get(`${gw.admin}/metrics`)).text), 3_000, 'the budget back');
  const again = client.post(`${gw.rest}/v1/models/${MODEL}:predict`, `{"instances": [${'1,'.repeat(200 * 1024)}1]}`);
  (await held.next()).answer(200);
  assert.equal((await again).status, 200);
});

test('a replica that resets in the middle of its answer counts as a failure', async (t) => {
  // Headers and half a body, then the connection is destroyed.
  let predictions = 0;
  const replica: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(AVAILABLE(1));
        return;
      }
      predictions++;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"predictions": [');
      setTimeout(() => res.socket?.destroy(), 20);
    });
  });
  replica.listen(0, '127.0.0.1');
  await once(replica, 'listening');
  const client = new TestClient(4);
  const gw = await startTestGateway({
    models: {
      [MODEL]: {
        pools: { '1': { replicas: [`http://127.0.0.1:${(replica.address() as AddressInfo).port}`] } },
        policy: { stable: 1 },
        healthCheck: { intervalMs: 200, timeoutMs: 1_000 },
        resilience: { ejection: { consecutiveFailures: 1000 } },
      },
    },
  });
  t.after(async () => {
    await client.close();
    await gw.close();
    replica.closeAllConnections();
    await new Promise((r) => replica.close(r));
  });
  for (let i = 0; i < 3; i++) await assert.rejects(client.post(`${gw.rest}/v1/models/${MODEL}:predict`, BODY), 'the client sees a broken answer');
  assert.equal(predictions, 3);
  const pool = await poolView(gw, client, 1);
  assert.equal(pool.replicas[0]?.consecutiveFailures, 3, 'each reset is a failure in a row, for ejection');
  const metrics = (await client.get(`${gw.admin}/metrics`)).text;
  assert.match(metrics, /canary_gateway_upstream_failures_total\{[^}]*kind="reset"[^}]*\} 3/, 'and a reset in the failure counts');
  // The stats window shows closed seconds: wait for this one to close.
  await waitFor(async () => (await poolView(gw, client, 1)).stats.errors === 3, 3_000, 'three errors in the stats window');
});

test('the deadline counts from the first byte: a slow upload plus a slow answer is a 504 at the deadline', async (t) => {
  const { held, gw } = await heldStack(t, { deadlineMs: 1_500 }, { retry: { attemptTimeoutMs: 10_000 } });
  const port = Number(new URL(gw.rest).port);
  const socket = connect({ port, host: '127.0.0.1' });
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  let received = '';
  socket.setEncoding('latin1').on('data', (c: string) => (received += c));
  const started = performance.now();
  socket.write(`POST /v1/models/${MODEL}:predict HTTP/1.1\r\nHost: x\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY.slice(0, 5)}`);
  // 1 s for the rest of the body (well within the deadline), then the replica holds its answer.
  await new Promise((r) => setTimeout(r, 1_000));
  socket.write(BODY.slice(5));
  await held.next();
  await waitFor(() => received.includes('\r\n\r\n'), 5_000, 'an answer');
  const elapsed = performance.now() - started;
  assert.match(received, /^HTTP\/1\.1 504 /, received.slice(0, 80));
  // The deadline from the first byte (1.5 s), not from the body's end (2.5 s).
  assert.ok(elapsed < 2_300, `answered after ${elapsed.toFixed(0)} ms`);
});

test('a replica that stops reading a streamed body is the replica\'s failure (504), not the client\'s (408)', async (t) => {
  // Accepts the connection, answers health checks, and never reads a prediction's body.
  const sockets = new Set<import('node:net').Socket>();
  const replica: Server = createServer((req, res) => {
    if (req.method === 'GET') {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(AVAILABLE(1));
      return;
    }
    req.pause();
    req.socket.pause();
    sockets.add(req.socket);
  });
  replica.listen(0, '127.0.0.1');
  await once(replica, 'listening');
  const client = new TestClient(4);
  const gw = await startTestGateway({
    proxy: { deadlineMs: 1_500, retryBufferBytes: 64 * 1024 },
    models: {
      [MODEL]: {
        pools: { '1': { replicas: [`http://127.0.0.1:${(replica.address() as AddressInfo).port}`] } },
        policy: { stable: 1 },
        healthCheck: { intervalMs: 200, timeoutMs: 1_000 },
        resilience: { retry: { attemptTimeoutMs: 10_000 }, ejection: { consecutiveFailures: 1000 } },
      },
    },
  });
  t.after(async () => {
    await client.close();
    await gw.close();
    for (const s of sockets) s.destroy();
    replica.closeAllConnections();
    await new Promise((r) => replica.close(r));
  });
  const port = Number(new URL(gw.rest).port);
  const socket = connect({ port, host: '127.0.0.1' });
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  let received = '';
  socket.setEncoding('latin1').on('data', (c: string) => (received += c));
  socket.on('error', () => undefined);
  const size = 24 * 1024 * 1024;
  socket.write(`POST /v1/models/${MODEL}:predict HTTP/1.1\r\nHost: x\r\nContent-Length: ${size}\r\n\r\n`);
  // The client keeps sending as fast as the gateway reads: the replica is the one that stalls.
  const piece = Buffer.alloc(256 * 1024, 0x20);
  const pump = setInterval(() => {
    if (!socket.destroyed && socket.writableLength < 4 * 1024 * 1024) socket.write(piece);
  }, 5);
  t.after(() => clearInterval(pump));
  await waitFor(() => received.includes('\r\n\r\n') || socket.destroyed, 6_000, 'an answer');
  clearInterval(pump);
  assert.match(received, /^HTTP\/1\.1 504 /, received.slice(0, 120) || 'no answer');
  const metrics = (await client.get(`${gw.admin}/metrics`)).text;
  assert.match(metrics, /canary_gateway_upstream_failures_total\{[^}]*kind="timeout"[^}]*\} 1/, 'a timeout of the replica');
  assert.equal((await poolView(gw, client, 1)).replicas[0]?.consecutiveFailures, 1);
});

test('panic routing: breakers and ejections leave no stable replica while they pass their health checks: the healthy ones are tried, not 503 for all', async (t) => {
  const { startReplica } = await import('../../helpers/simulator.js');
  const sims = [await startReplica({ model: MODEL, versions: [1] }), await startReplica({ model: MODEL, versions: [1] })];
  const client = new TestClient(8);
  const gw = await startTestGateway({
    models: {
      [MODEL]: {
        pools: { '1': { replicas: sims.map((s) => s.url) } },
        policy: { stable: 1 },
        healthCheck: { intervalMs: 200, timeoutMs: 1_000 },
        // Two failures open a breaker for a minute; ejection may take the whole pool.
        resilience: {
          breaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 60_000 },
          ejection: { consecutiveFailures: 2, baseMs: 60_000, maxEjectedPercent: 100 },
          retry: { minRetriesPerSecond: 0, budgetPercent: 0 },
        },
      },
    },
  });
  t.after(async () => {
    await client.close();
    await gw.close();
    await Promise.all(sims.map((s) => s.close()));
  });
  const url = `${gw.rest}/v1/models/${MODEL}:predict`;
  for (const sim of sims) sim.setFaults({ errorRate: 1, errorStatus: 500 });
  for (let i = 0; i < 8; i++) await client.post(url, BODY);
  const pool = await poolView(gw, client, 1);
  assert.ok(pool.replicas.every((r) => r.breaker === 'open'), `both breakers open: ${JSON.stringify(pool.replicas)}`);
  // The replicas recover; their breakers stay open for a minute, yet they pass their health checks.
  for (const sim of sims) sim.setFaults({ errorRate: 0 });
  const replies = await Promise.all(Array.from({ length: 10 }, () => client.post(url, BODY)));
  assert.deepEqual(replies.map((r) => r.status), Array(10).fill(200), 'served by the healthy replicas in panic');
  assert.match((await client.get(`${gw.admin}/metrics`)).text, /canary_gateway_panic_routed_total\{model="half_plus_two",version="1"\} (1\d|[2-9]\d)/);
  assert.ok((await poolView(gw, client, 1)).replicas.every((r) => r.breaker === 'open'), 'the panic did not touch the breakers');
});
