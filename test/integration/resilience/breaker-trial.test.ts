/**
 * A half-open breaker is decided by its trial's own outcome: not by a late answer to an attempt
 * sent before it opened, not by a trial the client hung up on, not by a trial the replica answered
 * with a client 4xx. The last two give the trial slot back, so the next request is the trial.
 * One replica whose every inference request the test answers by hand; the gateway is real.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { breakerState } from '../../../gateway/src/dataplane/breaker.js';
import type { Replica } from '../../../gateway/src/dataplane/replica.js';
import { startTestGateway, waitFor, type TestGateway } from '../../helpers/gateway.js';
import { startHeldReplica, type HeldReplica } from '../../helpers/held-replica.js';
import { TestClient, type Reply } from '../../helpers/http.js';

const MODEL = 'half_plus_two';
const BODY = '{"instances": [1.0]}';

interface Setup {
  readonly gw: TestGateway;
  readonly held: HeldReplica;
  readonly replica: Replica;
  readonly client: TestClient;
  readonly predictUrl: string;
}

async function withGateway(run: (s: Setup) => Promise<void>): Promise<void> {
  const held = await startHeldReplica(MODEL, 1);
  const client = new TestClient(8);
  let gw: TestGateway | undefined;
  try {
    gw = await startTestGateway({
      models: {
        [MODEL]: {
          pools: { '1': { replicas: [held.url] } },
          policy: { stable: 1 },
          healthCheck: { intervalMs: 200, timeoutMs: 1_000, healthyThreshold: 1 },
          resilience: {
            // Two failures in a row open it; the trial comes 200 ms later.
            breaker: { errorThresholdPercentage: 50, volumeThreshold: 2, windowSeconds: 60, resetTimeoutMs: 200 },
            ejection: { consecutiveFailures: 10_000 },
          },
        },
      },
    });
    const replica = gw.gateway.pools.pools(MODEL)!.get(1)!.replicas[0]!;
    await run({ gw, held, replica, client, predictUrl: `${gw.rest}/v1/models/${MODEL}:predict` });
  } finally {
    await client.close();
    await gw?.close();
    await held.close();
  }
}

/** Sends a request, answers it at the replica with `status`, returns what the client got. */
async function answered(s: Setup, status: number): Promise<Reply> {
  const reply = s.client.post(s.predictUrl, BODY);
  (await s.held.next()).answer(status);
  return reply;
}

/** Two 500s open the breaker; then it waits out the reset timeout. */
async function openThenHalfOpen(s: Setup): Promise<void> {
  for (let i = 0; i < 2; i++) assert.equal((await answered(s, 500)).status, 500);
  assert.equal(breakerState(s.replica.breaker), 'open');
  await waitFor(() => breakerState(s.replica.breaker) === 'half-open', 5_000, 'the breaker to turn half-open');
}

test('a late success of an attempt sent before the breaker opened does not close it', async () => {
  await withGateway(async (s) => {
    const early = s.client.post(s.predictUrl, BODY);
    const earlyAtReplica = await s.held.next();
    await openThenHalfOpen(s);
    earlyAtReplica.answer(200);
    assert.equal((await early).status, 200);
    assert.equal(breakerState(s.replica.breaker), 'half-open', 'closed by an answer to an attempt sent while it was closed');
    assert.equal((await answered(s, 200)).status, 200, 'the trial is still to come');
    assert.equal(breakerState(s.replica.breaker), 'closed', "the trial's own success closes it");
  });
});

test('a trial the client hung up on neither closes the breaker nor keeps it half-open for good', async () => {
  await withGateway(async (s) => {
    await openThenHalfOpen(s);
    const abort = new AbortController();
    const trial = request(s.predictUrl, { method: 'POST', body: BODY, headers: { 'content-type': 'application/json' }, dispatcher: s.client.agent, signal: abort.signal });
    const trialAtReplica = await s.held.next();
    abort.abort();
    await assert.rejects(trial);
    await trialAtReplica.closed;
    await waitFor(() => s.replica.outstanding === 0, 5_000, 'the gateway to give up the abandoned trial');
    assert.equal(breakerState(s.replica.breaker), 'half-open', 'a client that hung up says nothing about the replica');
    const received = s.held.received;
    assert.equal((await answered(s, 503)).status, 503, 'the next request is the trial');
    assert.equal(s.held.received, received + 1);
    assert.equal(breakerState(s.replica.breaker), 'open', "that trial's own failure reopens it");
  });
});

test('a trial answered with a client 4xx neither closes the breaker nor uses up the trial', async () => {
  await withGateway(async (s) => {
    await openThenHalfOpen(s);
    const bad = await answered(s, 400);
    assert.equal(bad.status, 400, "the replica's 400 reaches the client as it was");
    assert.equal(breakerState(s.replica.breaker), 'half-open', "a client's bad input says nothing about the replica");
    assert.equal((await answered(s, 200)).status, 200, 'the next request is the trial');
    assert.equal(breakerState(s.replica.breaker), 'closed');
  });
});
