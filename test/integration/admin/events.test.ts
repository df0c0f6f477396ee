/**
 * The admin event stream: a snapshot on connect (with the last stats ticks), then policy changes,
 * health changes, rollbacks and a stats tick every second (with every replica), to every client.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TEST_TOKEN, VIEWER_TOKEN } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';
import { openEventStream, type EventStream } from '../../helpers/sse.js';
import { MODEL, startStack, type Stack } from '../../helpers/stack.js';
import { streamSchemaViolations } from '../../helpers/stream-schemas.js';

let stack: Stack;
let stream: EventStream;
const client = new TestClient(8);
const auth = { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' };

before(async () => {
  stack = await startStack({ policy: { stable: 1, canary: 2, percent: 10 } });
  stream = await openEventStream(`${stack.gw.admin}/api/events`, VIEWER_TOKEN);
});
after(async () => {
  await stream.close();
  await client.close();
  await stack.close();
});

type Data = Record<string, unknown>;

test('the stream opens with a snapshot of every model', async () => {
  assert.equal(stream.status, 200);
  assert.match(String(stream.headers['content-type']), /^text\/event-stream/);
  const snapshot = await stream.waitFor((e) => e.event === 'snapshot', 2_000, 'snapshot');
  const models = (snapshot.data as { models: Array<{ name: string; revision: number }> }).models;
  assert.deepEqual(models.map((x) => x.name), [MODEL]);
});

test('a policy change arrives as an event', async () => {
  const reply = await client.send('PUT', `${stack.gw.admin}/api/models/${MODEL}/percent`, JSON.stringify({ percent: 30 }), auth);
  const revision = reply.json<{ revision: number }>().revision;
  const event = await stream.waitFor((e) => e.event === 'policy' && (e.data as Data)['revision'] === revision, 2_000, 'the policy event');
  const data = event.data as { policy: { percent: number }; by: string; reason: string };
  assert.deepEqual([data.policy.percent, data.by, data.reason], [30, 'test-operator', 'manual']);
});

test('stats ticks once a second with the traffic per version', async () => {
  for (let i = 0; i < 200; i++) await client.post(stack.predictUrl, '{"instances": [1.0]}');
  const tick = await stream.waitFor(
    (e) => e.event === 'stats' && ((e.data as { models: Array<{ versions: Array<{ requests: number }> }> }).models[0]?.versions[0]?.requests ?? 0) > 0,
    3_000,
    'a stats tick with traffic',
  );
  const versions = (tick.data as { models: Array<{ versions: Array<{ version: number; role: string; rps: number }> }> }).models[0]!.versions;
  assert.deepEqual(versions.map((v) => [v.version, v.role]), [
    [1, 'stable'],
    [2, 'canary'],
  ]);
  const ticks = stream.events.filter((e) => e.event === 'stats').length;
  await new Promise((resolve) => setTimeout(resolve, 2_100));
  const more = stream.events.filter((e) => e.event === 'stats').length - ticks;
  assert.ok(more >= 1 && more <= 3, `${more} ticks in 2.1 s`);
});

test('each stats tick carries every replica live: in flight, last check, breaker, ejection', async () => {
  interface TickReplica { url: string; outstanding: number; health: string; breaker: string; ejectedUntil: string | null; lastCheck: { at: string; ok: boolean } | null }
  type Tick = { models: Array<{ versions: Array<{ version: number; replicas: TickReplica[] }> }> };
  const slow = stack.stable[0]!;
  const replicaIn = (e: { data: unknown }): TickReplica | undefined =>
    (e.data as Tick).models[0]?.versions.find((v) => v.version === 1)?.replicas?.find((r) => r.url === slow.url);
  const first = await stream.waitFor((e) => e.event === 'stats' && replicaIn(e)?.lastCheck != null, 3_000, 'a tick with the replica');
  const seen = replicaIn(first)!;
  assert.deepEqual([seen.health, seen.breaker, seen.ejectedUntil, seen.outstanding], ['up', 'closed', null, 0]);

  // Slow answers keep requests in flight on that replica for a while: a later tick shows them.
  slow.setFaults({ latencyMs: 1_500 });
  const requests = Promise.all(Array.from({ length: 20 }, () => client.post(stack.predictUrl, '{"instances": [1.0]}')));
  try {
    await stream.waitFor((e) => e.event === 'stats' && (replicaIn(e)?.outstanding ?? 0) > 0, 5_000, 'a tick with requests in flight');
  } finally {
    slow.clearFaults();
    await requests;
  }
  // Health checks go on every 200 ms: the last check a tick reports moves on.
  await stream.waitFor((e) => e.event === 'stats' && Date.parse(replicaIn(e)?.lastCheck?.at ?? '') > Date.parse(seen.lastCheck!.at), 3_000, 'a later check');
});

test('the snapshot carries the last stats ticks of every model, oldest first', async () => {
  await stream.waitFor((e) => e.event === 'stats', 3_000, 'a tick');
  const second = await openEventStream(`${stack.gw.admin}/api/events`, VIEWER_TOKEN);
  try {
    const snapshot = await second.waitFor((e) => e.event === 'snapshot', 2_000, 'snapshot');
    const history = (snapshot.data as { history: Record<string, Array<{ at: string; versions: Array<{ version: number; role: string; rps: number }> }>> }).history;
    const samples = history[MODEL] ?? [];
    assert.ok(samples.length >= 2, `${samples.length} samples`);
    assert.ok(samples.length <= 120, `${samples.length} samples`);
    const times = samples.map((s) => Date.parse(s.at));
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
    assert.deepEqual(samples.at(-1)!.versions.map((v) => [v.version, v.role]), [
      [1, 'stable'],
      [2, 'canary'],
    ]);
    assert.ok(samples.some((s) => s.versions.some((v) => v.rps > 0)), 'the traffic sent earlier is in the history');
    // The ticks that follow continue it.
    const next = await second.waitFor((e) => e.event === 'stats', 3_000, 'the next tick');
    assert.ok(Date.parse((next.data as { at: string }).at) > times.at(-1)!);
  } finally {
    await second.close();
  }
});

test('a replica going down and a rollback arrive as events', async () => {
  stack.canary[0]!.setVersionState(2, 'UNLOADING');
  const health = await stream.waitFor((e) => e.event === 'health' && (e.data as Data)['to'] === 'down', 5_000, 'the health event');
  assert.equal((health.data as Data)['replica'], stack.canary[0]!.url);
  await client.send('POST', `${stack.gw.admin}/api/models/${MODEL}/rollback`, JSON.stringify({ note: 'canary unloading' }), auth);
  const rollback = await stream.waitFor((e) => e.event === 'rollback', 2_000, 'the rollback event');
  assert.deepEqual([(rollback.data as Data)['version'], (rollback.data as Data)['note']], [2, 'canary unloading']);
});

test('every event sent matches its schema, the one the admin UI reads it by', () => {
  // Runs last: by now the stream has carried one event of each kind the tests above caused.
  const seen = new Set(stream.events.map((e) => e.event));
  for (const event of ['snapshot', 'stats', 'policy', 'health', 'rollback']) assert.ok(seen.has(event), `a ${event} event was seen`);
  assert.deepEqual(streamSchemaViolations(stream.events), []);
});
