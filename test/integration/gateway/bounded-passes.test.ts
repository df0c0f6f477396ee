/**
 * The control plane's periodic work is split: with 100 models, a pool of 200 replicas and 10 open
 * event streams, no slice of the controller's pass, the stats clock or the event stream's passes
 * handles more than its bound of models or replicas in one event-loop turn (the 200-replica pool
 * included: its replicas are split over several slices), and the health checks of 200 replicas
 * are spread over the interval rather than sent in one burst.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MODELS_PER_SLICE } from '../../../gateway/src/controlplane/canary-controller.js';
import { FRAME_BYTES_PER_SLICE, STREAM_UNITS_PER_SLICE } from '../../../gateway/src/controlplane/admin/stream.js';
import { HealthChecker } from '../../../gateway/src/controlplane/health.js';
import { CLOCK_UNITS_PER_SLICE } from '../../../gateway/src/controlplane/stats-clock.js';
import { DEFAULT_HEALTH_CHECK, DEFAULT_RESILIENCE } from '../../../gateway/src/config/load.js';
import { VersionPool } from '../../../gateway/src/dataplane/pool.js';
import { Replica } from '../../../gateway/src/dataplane/replica.js';
import { observeSlices } from '../../../gateway/src/runtime/slices.js';
import { startTestGateway, TEST_TOKEN, waitFor, type TestGateway } from '../../helpers/gateway.js';
import { openEventStream, type EventStream } from '../../helpers/sse.js';
import { startStatusReplicas, type StatusReplicas } from '../../helpers/status-replicas.js';
import { streamSchemaViolations } from '../../helpers/stream-schemas.js';

const MODELS = 100;
const BIG = 200;
const STREAMS = 10;

interface Slice {
  readonly units: number;
  readonly items: number;
}
const slices = new Map<string, Slice[]>();
/** Set by a test: an event to send while the next snapshot is half built. */
let duringSnapshot: (() => void) | undefined;
/** Set by a test: an event to send while the next stats frame is half written. */
let duringFrame: (() => void) | undefined;
let replicas: StatusReplicas;
let gw: TestGateway;
const streams: EventStream[] = [];

before(async () => {
  observeSlices((work, units, items) => {
    if (work === 'event-stream snapshot' && duringSnapshot !== undefined) {
      const send = duringSnapshot;
      duringSnapshot = undefined;
      send();
    }
    if (work === 'event-stream stats frame' && duringFrame !== undefined) {
      const send = duringFrame;
      duringFrame = undefined;
      send();
    }
    let list = slices.get(work);
    if (list === undefined) slices.set(work, (list = []));
    list.push({ units, items });
  });
  replicas = await startStatusReplicas(BIG);
  const models: Record<string, unknown> = {};
  const policy = { stable: 1, canary: 2, percent: 10 };
  for (let m = 0; m < MODELS; m++) {
    const a = replicas.urls[(2 * m) % BIG] as string;
    const b = replicas.urls[(2 * m + 1) % BIG] as string;
    models[`m${m}`] = { pools: { '1': { replicas: [a, b] }, '2': { replicas: [b] } }, policy };
  }
  // Its third pool stays empty (a name that never resolves): a pool with no replicas in every event.
  models['big'] = { pools: { '1': { replicas: replicas.urls }, '2': { replicas: replicas.urls.slice(0, 2) }, '3': { replicas: ['http://unresolvable.invalid:8501'] } }, policy };
  gw = await startTestGateway({ models, healthCheck: { intervalMs: 500 } });
  for (let i = 0; i < STREAMS; i++) streams.push(await openEventStream(`${gw.admin}/api/events`, TEST_TOKEN));
  // Two stats ticks seen by every stream: every pass has run at least once with clients.
  await Promise.all(streams.map((s) => s.waitFor((e) => e.event === 'stats' && s.events.filter((x) => x.event === 'stats').length >= 2, 10_000, 'two stats events')));
});

after(async () => {
  observeSlices(undefined);
  await Promise.all(streams.map((s) => s.close()));
  await gw?.close();
  await replicas?.close();
});

function check(work: string, bound: number): Slice[] {
  const list = slices.get(work) ?? [];
  assert.ok(list.length > 0, `${work} ran`);
  for (const s of list) assert.ok(s.units <= bound, `${work}: a slice of ${s.units} units over ${s.items} items (bound ${bound})`);
  return list;
}

test('the controller judges at most MODELS_PER_SLICE models per event-loop turn', () => {
  const list = check('controller', MODELS_PER_SLICE);
  for (const s of list) assert.ok(s.items <= MODELS_PER_SLICE);
  // 101 models: a pass takes at least 13 turns.
  assert.ok(list.length >= Math.ceil((MODELS + 1) / MODELS_PER_SLICE), `${list.length} slices`);
});

test('the stats clock moves a bounded number of pools and replicas per turn', () => {
  const list = check('stats-clock', CLOCK_UNITS_PER_SLICE);
  // 202 pools and 502 replicas weigh 202 x 16 + 502 units: more than ten slices a second.
  assert.ok(list.length >= 2 * 10, `${list.length} slices over at least two seconds`);
});

test('the event stream builds its stats tick and each snapshot in bounded slices, large pools included', () => {
  for (const work of ['event-stream stats', 'event-stream snapshot']) {
    const list = check(work, STREAM_UNITS_PER_SLICE);
    assert.ok(list.length > 10, `${work}: ${list.length} slices`);
  }
  // Every stream got a whole snapshot and whole stats events (every model in each).
  for (const s of streams) {
    const snapshot = s.events.find((e) => e.event === 'snapshot')?.data as { models: unknown[] } | undefined;
    assert.equal(snapshot?.models.length, MODELS + 1);
    const stats = s.events.find((e) => e.event === 'stats')?.data as { models: Array<{ name: string; versions: Array<{ replicas: unknown[] }> }> } | undefined;
    assert.equal(stats?.models.length, MODELS + 1);
    const big = stats?.models.find((m) => m.name === 'big');
    assert.deepEqual(big?.versions.map((v) => v.replicas.length), [BIG, 2, 0], 'the large pool whole, though built over several slices');
    const bigView = (snapshot as unknown as { models: Array<{ name: string; pools: Array<{ replicas: unknown[] }> }> }).models.find((m) => m.name === 'big');
    assert.deepEqual(bigView?.pools.map((p) => p.replicas.length), [BIG, 2, 0]);
    // Every event as its schema says (the stats frame is written as it is built, part by part).
    assert.deepEqual(streamSchemaViolations(s.events), []);
  }
});

test("the event stream writes its stats frame to every client over several turns, a bounded number of characters per turn", () => {
  const list = check('event-stream stats frame', FRAME_BYTES_PER_SLICE);
  // Each tick's frame (101 models, a pool of 200 replicas) is over 100 KB: several slices per frame.
  const frames = (streams[0] as EventStream).events.filter((e) => e.event === 'stats').length;
  assert.ok(frames >= 2 && list.length >= 2 * frames, `${list.length} frame slices for ${frames} frames`);
});

test('an event sent while a stats frame is being written reaches every client after the whole frame', async () => {
  const counts = streams.map((s) => s.events.length);
  duringFrame = () => gw.gateway.events.emit('store', { available: true, detail: 'sent mid-frame' });
  for (const [i, s] of streams.entries()) {
    const marker = await s.waitFor((e) => e.event === 'store' && (e.data as { detail: string }).detail === 'sent mid-frame', 10_000, 'the event sent mid-frame');
    assert.equal(duringFrame, undefined, 'it was sent during a frame');
    // The frame it was sent during came whole, before it.
    const since = s.events.slice(counts[i], s.events.indexOf(marker));
    const stats = since.filter((e) => e.event === 'stats');
    assert.ok(stats.length >= 1, 'the stats frame precedes the event');
    for (const e of stats) assert.equal((e.data as { models: unknown[] }).models.length, MODELS + 1);
  }
});

test('an event sent while a snapshot is being built reaches that client, after the snapshot', async () => {
  duringSnapshot = () => gw.gateway.events.emit('store', { available: true, detail: 'sent mid-snapshot' });
  const late = await openEventStream(`${gw.admin}/api/events`, TEST_TOKEN);
  try {
    const marker = await late.waitFor((e) => e.event === 'store' && (e.data as { detail: string }).detail === 'sent mid-snapshot', 10_000, 'the event sent mid-snapshot');
    assert.equal(duringSnapshot, undefined, 'it was sent during the snapshot');
    const snapshotIndex = late.events.findIndex((e) => e.event === 'snapshot');
    assert.equal(snapshotIndex, 0, 'the snapshot comes first');
    assert.ok(late.events.indexOf(marker) > snapshotIndex);
  } finally {
    await late.close();
  }
});

test('the health checks of 200 replicas are spread over the interval, not sent in one burst', async () => {
  const intervalMs = 60_000;
  const delays: number[] = [];
  const checker = new HealthChecker({ onSchedule: (_replica, delayMs) => delays.push(delayMs) });
  const pool = new VersionPool('m', 1, [], DEFAULT_RESILIENCE);
  const members = replicas.urls.map((url) => new Replica(url, 8500, { connections: 1, keepAliveTimeoutMs: 1000, connectTimeoutMs: 1000 }, DEFAULT_RESILIENCE.breaker));
  pool.setReplicas(members);
  try {
    for (const r of members) await checker.add(pool, r, { ...DEFAULT_HEALTH_CHECK, intervalMs });
    const before = replicas.checks.reduce((a, b) => a + b, 0);
    await checker.start(); // the first pass: every replica at once, before a gateway listens
    await waitFor(() => delays.length === BIG, 10_000, 'every replica checked once');
    assert.ok(replicas.checks.reduce((a, b) => a + b, 0) - before >= BIG);
    // Each next check is one interval plus the replica's share of the next: ten tenths of the
    // interval hold about 20 replicas each, where one burst would put all 200 in the first.
    const tenths = new Array<number>(10).fill(0);
    for (const d of delays) {
      assert.ok(d >= intervalMs && d < 2 * intervalMs, `delay ${d}`);
      tenths[Math.floor(((d - intervalMs) / intervalMs) * 10)]!++;
    }
    for (const n of tenths) assert.ok(n >= 15 && n <= 25, `checks per tenth of the interval: ${tenths.join(', ')}`);
  } finally {
    await checker.stop();
    await Promise.all(members.map((r) => r.close()));
  }
});

test("a replica's later checks re-arm one timer at its own period, and its last check is updated in place", async () => {
  const intervalMs = 50;
  const scheduled = new Map<Replica, Array<{ delayMs: number; timer: NodeJS.Timeout }>>();
  const checker = new HealthChecker({
    onSchedule: (replica, delayMs, timer) => {
      let list = scheduled.get(replica);
      if (list === undefined) scheduled.set(replica, (list = []));
      list.push({ delayMs, timer });
    },
  });
  const pool = new VersionPool('m', 1, [], DEFAULT_RESILIENCE);
  const members = replicas.urls.slice(0, 3).map((url) => new Replica(url, 8500, { connections: 1, keepAliveTimeoutMs: 1000, connectTimeoutMs: 1000 }, DEFAULT_RESILIENCE.breaker));
  pool.setReplicas(members);
  try {
    for (const r of members) await checker.add(pool, r, { ...DEFAULT_HEALTH_CHECK, intervalMs });
    await checker.start();
    const firstChecks = members.map((r) => r.lastCheck);
    const firstAts = members.map((r) => r.lastCheck?.at ?? Infinity);
    await waitFor(() => members.every((r) => (scheduled.get(r)?.length ?? 0) >= 5), 10_000, 'five checks of each replica scheduled');
    const periods = new Set<number>();
    for (const [i, r] of members.entries()) {
      // The first check after the first pass falls at the replica's share of the interval; the later ones at its own period.
      const later = (scheduled.get(r) ?? []).slice(1);
      const period = (later[0] as { delayMs: number }).delayMs;
      assert.ok(period >= intervalMs && period < intervalMs * 1.1, `period ${period}`);
      periods.add(period);
      for (const s of later) {
        assert.equal(s.delayMs, period);
        assert.equal(s.timer, (later[0] as { timer: NodeJS.Timeout }).timer, 'the same timer, re-armed');
      }
      assert.ok(r.lastCheck !== null && firstChecks[i] !== null);
      assert.equal(r.lastCheck, firstChecks[i], 'the same object, updated');
      assert.ok(r.lastCheck.at > (firstAts[i] as number), 'a later check');
      assert.equal(r.lastCheck.ok, true);
    }
    assert.equal(periods.size, members.length, 'each replica has its own period');
  } finally {
    await checker.stop();
    await Promise.all(members.map((r) => r.close()));
  }
});
