/**
 * TF Serving opens its ports only once the models are AVAILABLE: during the simulated load the
 * port refuses connections, then it answers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startReplica } from '../../helpers/simulator.js';
import { get, isRefused, sleep } from './http-client.js';

const T = { timeout: 15_000 };

test('the port is closed (connection refused) during the load delay, then open', T, async (t) => {
  const started = Date.now();
  const sim = await startReplica({ loadDelayMs: 600 });
  t.after(() => sim.close());
  assert.ok(Date.now() - started < 400, 'startSimulator resolves as soon as the port is chosen');
  assert.ok(sim.port > 0);
  assert.equal(sim.isListening(), false);
  assert.equal(await isRefused(sim.port), true);
  await sleep(200);
  assert.equal(await isRefused(sim.port), true);
  await sim.listening;
  assert.ok(Date.now() - started >= 590, `opened after ${Date.now() - started} ms`);
  assert.equal(sim.isListening(), true);
  assert.equal(await isRefused(sim.port), false);
  const r = await get(sim.url, '/v1/models/half_plus_two');
  assert.equal(r.status, 200);
});

test('without a load delay startSimulator resolves listening', T, async (t) => {
  const sim = await startReplica();
  t.after(() => sim.close());
  assert.equal(sim.isListening(), true);
  await sim.listening;
  assert.equal((await get(sim.url, '/v1/models/half_plus_two')).status, 200);
});

test('closing during the load delay: the port never opens and listening rejects', T, async () => {
  const sim = await startReplica({ loadDelayMs: 300 });
  await sim.close();
  await assert.rejects(sim.listening, /closed before it started listening/);
  await sleep(400);
  assert.equal(await isRefused(sim.port), true);
});
