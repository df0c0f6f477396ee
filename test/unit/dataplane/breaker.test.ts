/**
 * The replica breaker's state machine, driven by hand: outcomes reported with their tickets, the
 * window rotated as the stats clock would, the reset timeout passed on node:test's mock clock.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { DEFAULT_RESILIENCE } from '../../../gateway/src/config/load.js';
import { ClientGoneError, ConnectionReset, UpstreamStatusError, type AttemptFailure } from '../../../gateway/src/dataplane/attempt-errors.js';
import { REFUSED, ReplicaBreaker, type BreakerSettings, type BreakerState } from '../../../gateway/src/dataplane/breaker.js';
import { VersionPool, type ReplicaSignal } from '../../../gateway/src/dataplane/pool.js';
import { Replica } from '../../../gateway/src/dataplane/replica.js';

const SETTINGS: BreakerSettings = { errorThresholdPercentage: 50, volumeThreshold: 4, windowSeconds: 3, resetTimeoutMs: 1_000 };
const FAILED = new UpstreamStatusError(503);
const CLIENT_4XX = new UpstreamStatusError(400);
const HUNG_UP = new ClientGoneError('client closed the connection');

beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
afterEach(() => mock.timers.reset());

/** A breaker that records its state changes. */
function breaker(settings: Partial<BreakerSettings> = {}): { b: ReplicaBreaker; changes: BreakerState[] } {
  const b = new ReplicaBreaker({ ...SETTINGS, ...settings });
  const changes: BreakerState[] = [];
  b.onChange = (state) => changes.push(state);
  return { b, changes };
}

/** One attempt admitted and ended at once. */
function attempt(b: ReplicaBreaker, err?: AttemptFailure): void {
  const ticket = b.admit();
  assert.notEqual(ticket, REFUSED, `admitted while ${b.state}`);
  b.report(ticket, err);
}

/** Opens a breaker with SETTINGS: four failures in a row. */
function open(b: ReplicaBreaker): void {
  for (let i = 0; i < 4; i++) attempt(b, FAILED);
  assert.equal(b.state, 'open');
}

test('opens on a failure once the window holds volumeThreshold attempts and more than the threshold share failed', () => {
  const { b, changes } = breaker();
  for (let i = 0; i < 3; i++) attempt(b, FAILED);
  assert.equal(b.state, 'closed', 'three attempts are under the volume threshold of four');
  attempt(b);
  assert.equal(b.state, 'closed', 'a success never opens it (3 of 4 failed)');
  attempt(b, FAILED);
  assert.equal(b.state, 'open', '4 of 5 failed');
  assert.deepEqual(changes, ['open']);
  assert.equal(b.admits(), false);
  assert.equal(b.admit(), REFUSED);
});

test('a failure share equal to the threshold does not open it; above it does', () => {
  const { b } = breaker();
  attempt(b);
  attempt(b);
  attempt(b, FAILED);
  attempt(b, FAILED);
  assert.equal(b.state, 'closed', '2 of 4 is 50%, not above 50%');
  attempt(b, FAILED);
  assert.equal(b.state, 'open', '3 of 5');
});

test('a client 4xx and a client hang-up count for nothing: neither failures nor attempts', () => {
  const { b } = breaker();
  for (let i = 0; i < 3; i++) attempt(b, FAILED);
  for (let i = 0; i < 10; i++) attempt(b, i % 2 === 0 ? CLIENT_4XX : HUNG_UP);
  assert.equal(b.state, 'closed');
  attempt(b, FAILED);
  assert.equal(b.state, 'open', 'four failures of four counted attempts: the ten client-side ones did not dilute them');

  const quiet = breaker().b;
  for (let i = 0; i < 12; i++) attempt(quiet, CLIENT_4XX);
  attempt(quiet, FAILED);
  assert.equal(quiet.state, 'closed', 'client-side outcomes do not make up the volume either');
});

test('the window holds windowSeconds seconds: older failures leave it as the clock rotates it', () => {
  const { b } = breaker();
  for (let i = 0; i < 3; i++) attempt(b, FAILED);
  for (let s = 0; s < 3; s++) b.rotate();
  attempt(b, FAILED);
  assert.equal(b.state, 'closed', 'three seconds later the first three failures are out of the window');

  const { b: recent } = breaker();
  for (let i = 0; i < 2; i++) attempt(recent, FAILED);
  recent.rotate();
  recent.rotate();
  for (let i = 0; i < 2; i++) attempt(recent, FAILED);
  assert.equal(recent.state, 'open', 'failures two seconds apart are in one three-second window');

  const { b: recovered } = breaker();
  for (let i = 0; i < 4; i++) attempt(recovered);
  for (let s = 0; s < 3; s++) recovered.rotate();
  for (let i = 0; i < 4; i++) attempt(recovered, FAILED);
  assert.equal(recovered.state, 'open', 'successes leave the window too: 4 of 4 failed, not 4 of 8');
});

test('after resetTimeoutMs an open breaker admits exactly one trial, and its success closes it with an empty window', () => {
  const { b, changes } = breaker();
  open(b);
  mock.timers.tick(999);
  assert.equal(b.state, 'open');
  assert.equal(b.admit(), REFUSED);
  mock.timers.tick(1);
  assert.equal(b.state, 'half-open');
  assert.equal(b.admits(), true);
  const trial = b.admit();
  assert.notEqual(trial, REFUSED);
  assert.equal(b.admits(), false, 'one trial at a time');
  assert.equal(b.admit(), REFUSED);
  b.report(trial, undefined);
  assert.equal(b.state, 'closed');
  assert.deepEqual(changes, ['open', 'half-open', 'closed']);
  attempt(b, FAILED);
  assert.equal(b.state, 'closed', 'the failures that opened it are not held against it after a good trial');
});

test('a failed trial opens it again, for another resetTimeoutMs', () => {
  const { b, changes } = breaker();
  open(b);
  mock.timers.tick(1_000);
  const trial = b.admit();
  b.report(trial, new ConnectionReset('socket hang up'));
  assert.equal(b.state, 'open');
  mock.timers.tick(999);
  assert.equal(b.state, 'open');
  mock.timers.tick(1);
  assert.equal(b.state, 'half-open');
  assert.deepEqual(changes, ['open', 'half-open', 'open', 'half-open']);
});

test('an attempt sent before the breaker opened decides nothing when it ends while half-open', () => {
  const { b, changes } = breaker();
  const slowSuccess = b.admit();
  const slowFailure = b.admit();
  open(b);
  mock.timers.tick(1_000);
  assert.equal(b.state, 'half-open');
  b.report(slowSuccess, undefined);
  assert.equal(b.state, 'half-open', 'a stale success does not close it');
  b.report(slowFailure, FAILED);
  assert.equal(b.state, 'half-open', 'a stale failure does not reopen it');
  assert.equal(b.admits(), true, 'nor does either use up the trial');
  const trial = b.admit();
  b.report(trial, undefined);
  assert.equal(b.state, 'closed', "the trial's own success closes it");
  assert.deepEqual(changes, ['open', 'half-open', 'closed']);
});

test('an attempt from an earlier closed spell does not count in the window that follows', () => {
  const { b } = breaker({ volumeThreshold: 1 });
  const old = b.admit();
  attempt(b, FAILED);
  assert.equal(b.state, 'open');
  mock.timers.tick(1_000);
  b.report(b.admit(), undefined);
  assert.equal(b.state, 'closed');
  b.report(old, FAILED);
  assert.equal(b.state, 'closed', 'with a volume threshold of one, a counted failure would have opened it');
});

test('a trial the client hung up on, or answered with a client 4xx, gives the trial slot back', () => {
  const { b, changes } = breaker();
  open(b);
  mock.timers.tick(1_000);
  const first = b.admit();
  b.report(first, HUNG_UP);
  assert.equal(b.state, 'half-open', 'a hang-up says nothing about the replica: not closed');
  assert.equal(b.admits(), true, 'and not stuck: the next request is the trial');
  const second = b.admit();
  assert.notEqual(second, REFUSED);
  b.report(first, undefined);
  assert.equal(b.state, 'half-open', 'the first trial is over: nothing more of it counts');
  b.report(second, CLIENT_4XX);
  assert.equal(b.state, 'half-open', 'a client 4xx does not close it either');
  const third = b.admit();
  b.report(third, FAILED);
  assert.equal(b.state, 'open', "the third trial's own failure reopens it");
  assert.deepEqual(changes, ['open', 'half-open', 'open']);
});

test('shutdown drops the reset timer and the listener', () => {
  const { b, changes } = breaker();
  open(b);
  b.shutdown();
  mock.timers.tick(10_000);
  assert.equal(b.state, 'open');
  assert.deepEqual(changes, ['open']);
});

test("the pool follows its replicas' breakers: out of rotation while open, observer told, windows rotated by its tick", async () => {
  const settings = { ...DEFAULT_RESILIENCE, breaker: SETTINGS };
  const replicas = [0, 1].map((i) => new Replica(`http://127.0.0.1:${9100 + i}`, 8500, { connections: 1, keepAliveTimeoutMs: 1_000, connectTimeoutMs: 1_000 }, SETTINGS));
  try {
    for (const r of replicas) r.health = 'up';
    const pool = new VersionPool('m', 1, replicas, settings);
    const signals: ReplicaSignal[] = [];
    pool.observer = (_pool, replica, signal) => {
      if (replica === replicas[0]) signals.push(signal);
    };
    const breaker0 = replicas[0]!.breaker;
    for (let i = 0; i < 3; i++) attempt(breaker0, FAILED);
    for (let s = 0; s < 3; s++) pool.tick();
    attempt(breaker0, FAILED);
    assert.equal(breaker0.state, 'closed', "the pool's tick moved the breaker's window on");
    for (let i = 0; i < 3; i++) attempt(breaker0, FAILED);
    assert.equal(breaker0.state, 'open');
    assert.equal(pool.availableCount, 1);
    for (let i = 0; i < 20; i++) assert.equal(pool.pick(), replicas[1]);
    mock.timers.tick(1_000);
    assert.equal(pool.availableCount, 2, 'half-open: back in the list, for its trial');
    assert.deepEqual(signals, [
      { kind: 'breaker', state: 'open' },
      { kind: 'breaker', state: 'half-open' },
    ]);
  } finally {
    await Promise.all(replicas.map((r) => r.close()));
  }
});
