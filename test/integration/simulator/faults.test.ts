/**
 * Each kind of fault, version states, counters and close() semantics, over real sockets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startReplica } from '../../helpers/simulator.js';
import { errorOf, get, isRefused, post, sleep } from './http-client.js';

const T = { timeout: 20_000 };
const M = '/v1/models/half_plus_two';
const PREDICT = `${M}:predict`;
const BODY = '{"instances":[1.0]}';

/** A deterministic random source cycling through the given values. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] as number;
}

test('error rate 1: every inference and metadata request gets the chosen status and a TF error body', T, async (t) => {
  const sim = await startReplica({ faults: { errorRate: 1, errorStatus: 503 } });
  t.after(() => sim.close());
  const r = await post(sim.url, PREDICT, BODY);
  assert.equal(r.status, 503);
  assert.equal(r.statusText, 'Service Unavailable');
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(r.body, '{\n    "error": "tfserving-sim injected fault: UNAVAILABLE"\n}');
  assert.equal((await get(sim.url, `${M}/metadata`)).status, 503);
  // Status requests are out of scope by default: health checks still see the replica.
  assert.equal((await get(sim.url, M)).status, 200);
  sim.setFaults({ errorStatus: 429, errorMessage: 'queue full' });
  const limited = await post(sim.url, `${M}:regress`, '{}');
  assert.equal(limited.status, 429);
  assert.equal(limited.statusText, 'Client Error');
  assert.equal(errorOf(limited), 'queue full');
  assert.equal(sim.counters().faults.errors, 3);
});

test('scope "all" extends faults to status requests', T, async (t) => {
  const sim = await startReplica({ faults: { errorRate: 1, errorStatus: 500, scope: 'all' } });
  t.after(() => sim.close());
  const r = await get(sim.url, M);
  assert.equal(r.status, 500);
  assert.equal(errorOf(r), 'tfserving-sim injected fault: INTERNAL');
  // Malformed paths are answered by TF before any servable is involved.
  assert.equal((await get(sim.url, '/v1/models')).status, 400);
});

test('an error rate below 1 fails that fraction of requests (deterministic random source)', T, async (t) => {
  const sim = await startReplica({ faults: { errorRate: 0.5 }, random: sequence(0.1, 0.9, 0.49, 0.5) });
  t.after(() => sim.close());
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await post(sim.url, PREDICT, BODY)).status);
  assert.deepEqual(statuses, [500, 200, 500, 200]);
  const c = sim.counters();
  assert.equal(c.faults.errors, 2);
  assert.deepEqual(c.byStatus, { '200': 2, '500': 2 });
});

test('latency (and jitter) delays requests in scope only', T, async (t) => {
  const sim = await startReplica({ faults: { latencyMs: 200, jitterMs: 100 }, random: () => 1 });
  t.after(() => sim.close());
  let start = Date.now();
  const r = await post(sim.url, PREDICT, BODY);
  const slow = Date.now() - start;
  assert.equal(r.status, 200);
  assert.ok(slow >= 290, `predict took ${slow} ms, expected >= 300`);
  start = Date.now();
  await get(sim.url, M);
  const fast = Date.now() - start;
  assert.ok(fast < 150, `status took ${fast} ms`);
  assert.equal(sim.counters().faults.delayed, 1);
  sim.clearFaults();
  start = Date.now();
  await post(sim.url, PREDICT, BODY);
  assert.ok(Date.now() - start < 150);
});

test('hang: the request is read and never answered; close() still ends it', T, async (t) => {
  const sim = await startReplica({ faults: { hang: true } });
  t.after(() => sim.close());
  await assert.rejects(post(sim.url, PREDICT, BODY, { timeoutMs: 300 }), /no answer within 300 ms/);
  assert.equal(sim.counters().faults.hangs, 1);
  // The next request in flight is cut off when the replica is closed, not left hanging.
  const pending = post(sim.url, PREDICT, BODY, { timeoutMs: 5000 });
  await sleep(100);
  const start = Date.now();
  await sim.close();
  await assert.rejects(pending, (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET' || /socket hang up/.test(e.message));
  assert.ok(Date.now() - start < 1000);
});

test('reset: the connection is reset without any response', T, async (t) => {
  const sim = await startReplica({ faults: { resetRate: 1 } });
  t.after(() => sim.close());
  await assert.rejects(post(sim.url, PREDICT, BODY), (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET');
  assert.equal((await get(sim.url, M)).status, 200);
  sim.setFaults({ resetRate: 0.5 });
  const sim2 = await startReplica({ faults: { resetRate: 0.5 }, random: sequence(0.7, 0.2) });
  t.after(() => sim2.close());
  assert.equal((await post(sim2.url, PREDICT, BODY)).status, 200);
  await assert.rejects(post(sim2.url, PREDICT, BODY), (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET');
  assert.equal(sim.counters().faults.resets, 1);
  assert.equal(sim2.counters().faults.resets, 1);
});

test('version states: non-AVAILABLE versions are 404 Specific, unversioned requests go to the latest AVAILABLE', T, async (t) => {
  const sim = await startReplica({ versions: [1, 2] });
  t.after(() => sim.close());
  await post(sim.url, PREDICT, BODY);
  assert.deepEqual(sim.counters().byVersion, { '2': 1 });

  sim.setVersionState(2, 'LOADING');
  await post(sim.url, PREDICT, BODY);
  assert.deepEqual(sim.counters().byVersion, { '2': 1, '1': 1 });
  const loading = await post(sim.url, `${M}/versions/2:predict`, BODY);
  assert.equal(loading.status, 404);
  assert.equal(errorOf(loading), 'Servable not found for request: Specific(half_plus_two, 2)');
  const status = JSON.parse((await get(sim.url, M)).body) as { model_version_status: Array<{ version: string; state: string }> };
  assert.deepEqual(
    status.model_version_status.map((s) => [s.version, s.state]),
    [
      ['2', 'LOADING'],
      ['1', 'AVAILABLE'],
    ],
  );

  sim.setVersionState(1, { state: 'END', errorCode: 'UNKNOWN', errorMessage: 'load failed' });
  const none = await post(sim.url, PREDICT, BODY);
  assert.equal(none.status, 404);
  assert.equal(errorOf(none), 'Servable not found for request: Latest(half_plus_two)');
  const v1 = await get(sim.url, `${M}/versions/1`);
  assert.equal(v1.status, 200);
  assert.ok(v1.body.includes('"state": "END",\n   "status": {\n    "error_code": "UNKNOWN",\n    "error_message": "load failed"'), v1.body);

  // A new version appears, as TF picks up a new directory.
  sim.setVersionState(3, 'AVAILABLE');
  assert.equal((await post(sim.url, `${M}/versions/3:predict`, BODY)).status, 200);
  sim.removeVersion(3);
  assert.equal((await get(sim.url, `${M}/versions/3`)).status, 404);
});

test('counters: total, per API, per version, per status; resettable', T, async (t) => {
  const sim = await startReplica({ versions: [1, 2], labels: { stable: 1 } });
  t.after(() => sim.close());
  await post(sim.url, PREDICT, BODY);
  await post(sim.url, `${M}/labels/stable:predict`, BODY);
  await post(sim.url, `${M}/versions/1:regress`, '{"signature_name":"regress_x_to_y","examples":[{"x":1.0}]}');
  await get(sim.url, `${M}/metadata`);
  await get(sim.url, M);
  await get(sim.url, '/elsewhere');
  await post(sim.url, '/v1/models/other:predict', BODY);
  const c = sim.counters();
  assert.equal(c.total, 7);
  assert.deepEqual(c.byProtocol, { rest: 7, grpc: 0 });
  assert.deepEqual(c.byOperation, { status: 1, metadata: 1, predict: 3, classify: 0, regress: 1, multiInference: 0, reloadConfig: 0, other: 1 });
  assert.deepEqual(c.byVersion, { '2': 2, '1': 2 });
  assert.deepEqual(c.byStatus, { '200': 5, '404': 2 });
  assert.deepEqual(c.byGrpcStatus, {});
  sim.resetCounters();
  assert.equal(sim.counters().total, 0);
});

test('close() destroys idle keep-alive sockets: a killed replica looks killed', T, async () => {
  const sim = await startReplica();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const r = await post(sim.url, PREDICT, BODY, { agent });
    assert.equal(r.status, 200);
    const sockets = Object.values(agent.freeSockets).flat();
    assert.equal(sockets.length, 1);
    const socket = sockets[0];
    assert.ok(socket !== undefined);
    // The agent unrefs idle sockets; the timer keeps the loop alive until the close arrives.
    const closed = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 2000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    await sim.close();
    assert.equal(await closed, true, 'the idle keep-alive socket was not closed by the replica');
    assert.equal(await isRefused(sim.port), true);
    await assert.rejects(post(sim.url, PREDICT, BODY, { agent }), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
    assert.equal(sim.isListening(), false);
  } finally {
    agent.destroy();
    await sim.close();
  }
});
