/**
 * What only the Redis store has to get right: several gateways on one Redis, races on the same
 * revision, key-prefix isolation, outages (Redis killed, restarted empty, down at start), hostile
 * channel messages and a clean close.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createStore } from '../../../gateway/src/controlplane/store/create.js';
import { MemoryStore } from '../../../gateway/src/controlplane/store/memory.js';
import { RedisStore, type RedisStoreOptions } from '../../../gateway/src/controlplane/store/redis.js';
import {
  RevisionConflictError,
  StoreUnavailableError,
  type PolicyWrite,
  type SeedEntry,
  type StoreEvents,
  type StoredPolicy,
} from '../../../gateway/src/controlplane/store/types.js';
import type { PolicyDocument } from '../../../gateway/src/policy/schema.js';
import { capturingLogger } from '../../helpers/logs.js';
import { startRedis, type RedisServer } from '../../helpers/redis.js';
import { NO_VERSIONS } from '../../../gateway/src/policy/stored.js';

const WAIT_MS = 3_000;
/** Reconnection backs off up to 2 s, so coming back after an outage may take that long. */
const RECOVERY_MS = 8_000;

function policy(percent: number): PolicyDocument {
  return { stable: 1, canary: 2, percent, headerRules: [], cookieRules: [], sticky: null, salt: 'm', plan: null, shadow: null, onNewVersion: null };
}

/** A configuration file's policy (provisional) unless `provisional` says it is a restore. */
function entry(revision: number, percent: number, provisional = true): SeedEntry {
  return { policy: policy(percent), paused: false, rolledBack: false, rollout: null, versions: NO_VERSIONS, revision, actor: 'config', provisional };
}

function seedOf(entries: Record<string, SeedEntry>): () => ReadonlyMap<string, SeedEntry> {
  return () => new Map(Object.entries(entries));
}

function write(model: string, percent: number, expectedRevision: number | undefined): PolicyWrite {
  return { model, policy: policy(percent), paused: false, rolledBack: false, rollout: null, versions: NO_VERSIONS, expectedRevision, actor: 'tester', reason: 'manual' };
}

function nextEvent<K extends keyof StoreEvents>(
  store: RedisStore,
  event: K,
  timeoutMs: number,
  accept: (...args: StoreEvents[K]) => boolean = () => true,
): Promise<StoreEvents[K]> {
  return new Promise((resolve, reject) => {
    const emitter = store as unknown as NodeJS.EventEmitter;
    const timer = setTimeout(() => {
      emitter.off(event, listener);
      reject(new Error(`no matching '${event}' event within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (...args: unknown[]): void => {
      if (!accept(...(args as StoreEvents[K]))) return;
      clearTimeout(timer);
      emitter.off(event, listener);
      resolve(args as StoreEvents[K]);
    };
    emitter.on(event, listener);
  });
}

let redis: RedisServer;
const opened = new Set<RedisStore>();
let prefixes = 0;
const silent = pino({ level: 'silent' });

function uniquePrefix(): string {
  return `redis-test-${process.pid}-${++prefixes}:`;
}

function open(options: Partial<RedisStoreOptions> = {}): RedisStore {
  const store = new RedisStore({
    url: redis.url,
    keyPrefix: uniquePrefix(),
    auditMaxEntries: 1_000,
    // Generous: only the start-while-down case waits for the connect timeout, and a loaded CI
    // machine must not turn a slow first connection into a failure.
    connectTimeoutMs: 3_000,
    commandTimeoutMs: 2_000,
    logger: silent,
    ...options,
  });
  opened.add(store);
  return store;
}

before(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  await Promise.all([...opened].map((store) => store.close()));
  opened.clear();
});
after(async () => {
  await redis?.stop();
});

test('two gateways on one Redis see each other\u2019s writes as change events', async () => {
  const keyPrefix = uniquePrefix();
  const a = open({ keyPrefix });
  const b = open({ keyPrefix });
  await a.start(seedOf({ m: entry(1, 0) }));
  await b.start(seedOf({ m: entry(1, 50) }));

  const seenByB = nextEvent(b, 'change', WAIT_MS, (s) => s.revision === 2);
  const seenByA = nextEvent(a, 'change', WAIT_MS, (s) => s.revision === 2);
  const fromA = await a.put(write('m', 10, 1));
  assert.deepEqual(await seenByB, [fromA]);
  assert.deepEqual(await seenByA, [fromA]);

  const seenAgainByA = nextEvent(a, 'change', WAIT_MS, (s) => s.revision === 3);
  const fromB = await b.put(write('m', 20, 2));
  assert.deepEqual(await seenAgainByA, [fromB]);
  assert.deepEqual(await a.load(['m']), [fromB]);
});

test('50 concurrent writes on the same revision: exactly one wins, 49 conflict, the winner is stored', async () => {
  const keyPrefix = uniquePrefix();
  const a = open({ keyPrefix });
  const b = open({ keyPrefix });
  await a.start(seedOf({ m: entry(1, 0) }));
  await b.start(seedOf({ m: entry(1, 0) }));

  const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).put(write('m', i + 1, 1))));
  const won = results.filter((r): r is PromiseFulfilledResult<StoredPolicy> => r.status === 'fulfilled');
  const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  assert.equal(won.length, 1);
  assert.equal(lost.length, 49);
  const winner = won[0]?.value;
  assert.equal(winner?.revision, 2);
  for (const { reason } of lost) {
    assert.ok(reason instanceof RevisionConflictError, String(reason));
    assert.deepEqual(reason.current, winner);
  }
  assert.deepEqual(await b.load(['m']), [winner]);
  assert.equal((await a.audit({ model: 'm', limit: 100 })).length, 2);
});

test('the audit stream stays capped: after many writes and restores, XLEN is at most auditMaxEntries plus one macro node', async () => {
  const keyPrefix = uniquePrefix();
  const cap = 10;
  const store = open({ keyPrefix, auditMaxEntries: cap });
  await store.start(seedOf({ m: entry(1, 0) }));
  const raw = new Redis(redis.url, { lazyConnect: true });
  try {
    await raw.connect();
    // MAXLEN ~ trims whole macro nodes only: the stream keeps at least `cap` entries and fewer than
    // cap + one node's worth (at most stream-node-max-entries; the node byte limit only makes nodes smaller).
    const [, nodeEntries] = (await raw.config('GET', 'stream-node-max-entries')) as [string, string];
    const most = cap + Number(nodeEntries) - 1;
    const writes = 3 * Number(nodeEntries);
    const length = () => raw.xlen(`${keyPrefix}{policies}:audit`);
    let revision = 1;
    for (let i = 0; i < writes; i++) revision = (await store.put(write('m', i % 100, revision))).revision;
    const afterWrites = await length();
    assert.ok(afterWrites >= cap && afterWrites <= most, `XLEN ${afterWrites} after ${writes} writes (cap ${cap}, at most ${most})`);
    // The seed script appends to the same stream: its trimming is checked on its own.
    for (let i = 0; i < writes; i++) {
      revision += 1;
      await store.seed(new Map([['m', entry(revision, i % 100, false)]]));
    }
    const afterRestores = await length();
    assert.ok(afterRestores >= cap && afterRestores <= most, `XLEN ${afterRestores} after ${writes} restores (cap ${cap}, at most ${most})`);
    assert.equal((await store.load(['m']))[0]?.revision, revision);
    const trail = await store.audit({ limit: 1_000 });
    assert.deepEqual(
      trail.map((e) => e.revision),
      Array.from({ length: cap }, (_, i) => revision - i),
      'the trail shows exactly the newest auditMaxEntries',
    );
  } finally {
    raw.disconnect();
  }
});

test('a provisional seed overwritten by a gateway that predates the flag (it leaves the hash field) counts as written, not provisional', async () => {
  const keyPrefix = uniquePrefix();
  const store = open({ keyPrefix });
  await store.start(seedOf({ m: entry(1, 5) }));
  const key = `${keyPrefix}{policies}:model:m`;
  const raw = new Redis(redis.url, { lazyConnect: true });
  try {
    await raw.connect();
    // What an older gateway's write did: revision and doc, nothing else.
    const { provisional: _flag, ...older } = JSON.parse((await raw.hget(key, 'doc')) ?? '{}') as Record<string, unknown>;
    await raw.hset(key, 'revision', '2', 'doc', JSON.stringify({ ...older, policy: policy(25), reason: 'manual', updatedBy: 'old-gateway' }));
  } finally {
    raw.disconnect();
  }
  const [kept] = await store.seed(new Map([['m', entry(2, 99, false)]]));
  assert.deepEqual(kept && [kept.revision, kept.policy.percent, kept.provisional], [2, 25, false]);
});

test('stores with different key prefixes share nothing: policies, audit entries, messages', async () => {
  // One prefix starting with the other is the case most likely to leak.
  const outer = open({ keyPrefix: 'iso:' });
  const inner = open({ keyPrefix: 'iso:inner:' });
  await outer.start(seedOf({ m: entry(10, 10) }));
  await inner.start(seedOf({ m: entry(20, 20) }));
  assert.equal((await outer.load(['m']))[0]?.revision, 10);
  assert.equal((await inner.load(['m']))[0]?.revision, 20);

  const seenByInner: StoredPolicy[] = [];
  inner.on('change', (s) => seenByInner.push(s));
  await outer.put(write('m', 11, 10));
  // Pub/sub keeps order on one connection: had the outer write reached `inner`, it would be seen before inner's own.
  const own = nextEvent(inner, 'change', WAIT_MS, (s) => s.revision === 21);
  await inner.put(write('m', 21, 20));
  await own;
  assert.deepEqual(
    seenByInner.map((s) => s.revision),
    [21],
  );
  assert.deepEqual(
    (await outer.audit({ limit: 10 })).map((e) => e.revision),
    [11, 10],
  );
  assert.deepEqual(
    (await inner.audit({ limit: 10 })).map((e) => e.revision),
    [21, 20],
  );
});

test('Redis killed: writes fail at once, `unavailable`; restarted empty: re-seeded, then `available`', async () => {
  const server = await startRedis();
  const store = open({ url: server.url });
  try {
    const seeds = new Map([['m', entry(5, 10)]]);
    let seedCalls = 0;
    await store.start(() => {
      seedCalls++;
      return seeds;
    });
    assert.equal((await store.put(write('m', 15, 5))).revision, 6);
    const events: string[] = [];
    store.on('available', () => events.push('available'));
    store.on('unavailable', () => events.push('unavailable'));

    const down = nextEvent(store, 'unavailable', WAIT_MS);
    await server.kill();
    const started = performance.now();
    await assert.rejects(store.put(write('m', 99, 6)), StoreUnavailableError);
    assert.ok(performance.now() - started < 1_000, `put took ${performance.now() - started} ms`);
    const [detail] = await down;
    assert.match(detail, /connection to Redis lost/);
    assert.equal(store.isAvailable(), false);
    for (const attempt of [() => store.put(write('m', 98, undefined)), () => store.load(['m']), () => store.audit({ limit: 5 })]) {
      const t0 = performance.now();
      await assert.rejects(attempt(), StoreUnavailableError);
      assert.ok(performance.now() - t0 < 1_000);
    }

    // Long enough for several reconnection attempts, each of which fails and closes again.
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.deepEqual(events, ['unavailable']);

    // Meanwhile this gateway's view moved on; the re-seed must use the new one (seed() is called anew).
    seeds.set('m', entry(7, 30));
    const up = nextEvent(store, 'available', RECOVERY_MS);
    await server.restart();
    await up;
    assert.equal(store.isAvailable(), true);
    assert.ok(seedCalls >= 2);
    const [m] = await store.load(['m']);
    assert.equal(m?.revision, 7);
    assert.equal(m?.reason, 'config');
    assert.deepEqual(m?.policy, policy(30));
    // Nothing attempted during the outage reached the new Redis later.
    assert.deepEqual(
      (await store.audit({ limit: 10 })).map((e) => [e.revision, e.after.policy.percent]),
      [[7, 30]],
    );
    assert.equal((await store.put(write('m', 40, 7))).revision, 8);
    assert.deepEqual(events, ['unavailable', 'available']);
  } finally {
    await store.close();
    await server.stop();
  }
});

test('start() with Redis down: StoreUnavailableError within connectTimeoutMs, then seeds and emits `available` once Redis is up', async () => {
  const server = await startRedis();
  await server.kill();
  const store = open({ url: server.url, connectTimeoutMs: 500 });
  try {
    const started = performance.now();
    await assert.rejects(store.start(seedOf({ m: entry(3, 25), n: entry(1, 5) })), StoreUnavailableError);
    const took = performance.now() - started;
    // The upper bound leaves room for a loaded machine's timer lag, not for a hang.
    assert.ok(took >= 450 && took < 1_500, `start() gave up after ${took} ms`);
    assert.equal(store.isAvailable(), false);
    await assert.rejects(store.put(write('m', 1, undefined)), StoreUnavailableError);

    const up = nextEvent(store, 'available', RECOVERY_MS);
    await server.restart();
    await up;
    assert.equal(store.isAvailable(), true);
    assert.deepEqual(
      (await store.load(['m', 'n'])).map((s) => [s.model, s.revision, s.policy.percent]),
      [
        ['m', 3, 25],
        ['n', 1, 5],
      ],
    );
    assert.equal((await store.put(write('m', 30, 3))).revision, 4);
  } finally {
    await store.close();
    await server.stop();
  }
});

test('change messages are hints: a forged or malformed one changes nothing and is logged; a real write arrives as the store holds it', async () => {
  const { logger, lines } = capturingLogger('debug');
  const keyPrefix = uniquePrefix();
  const store = open({ keyPrefix, logger });
  await store.start(seedOf({ m: entry(1, 0) }));
  const forged: StoredPolicy = {
    model: 'm',
    revision: 9,
    policy: policy(100),
    paused: false,
    rolledBack: false,
    rollout: null,
    versions: NO_VERSIONS,
    updatedAt: new Date().toISOString(),
    updatedBy: 'intruder',
    reason: 'manual',
    note: '',
    provisional: false,
  };
  const malformed = ['not json', '', '{}', '[]', 'null', '42', '{"model":"m"', '{"model":"m","revision":0}', '{"model":"m","revision":"9"}', '{"model":"m","revision":1.5}', '{"model":"","revision":9}', '{"model":7,"revision":9}'];
  const seen: StoredPolicy[] = [];
  store.on('change', (s) => seen.push(s));
  const raw = new Redis(redis.url, { lazyConnect: true });
  const other = open({ keyPrefix, logger: silent });
  try {
    await raw.connect();
    for (const message of malformed) await raw.publish(`${keyPrefix}changes`, message);
    // Well-formed, in both the old (whole document) and the new (hint) shape, with no write behind them.
    await raw.publish(`${keyPrefix}changes`, JSON.stringify(forged));
    await raw.publish(`${keyPrefix}changes`, '{"model":"m","revision":12}');
    // A model this gateway does not serve: not even read.
    await raw.publish(`${keyPrefix}changes`, '{"model":"elsewhere","revision":3}');
    // A real write by another gateway: its message is a hint, the document comes from the hash.
    await other.start(seedOf({}));
    const arrived = nextEvent(store, 'change', WAIT_MS, (s) => s.revision === 2);
    const written = await other.put(write('m', 30, 1));
    const [change] = await arrived;
    assert.deepEqual(change, written);
  } finally {
    raw.disconnect();
    await other.close();
  }
  // Hints make the store read and announce what it holds (revision 1, then 2): never what a message claimed.
  for (const s of seen) assert.ok((s.revision === 1 && s.policy.percent === 0) || (s.revision === 2 && s.policy.percent === 30), JSON.stringify(s));
  assert.ok(seen.some((s) => s.revision === 2));
  assert.deepEqual((await store.load(['m'])).map((s) => [s.revision, s.policy.percent]), [[2, 30]], 'the store holds what the audited write put there');
  const warned = lines.filter((l) => l.level === 40 && /change message/.test(String(l.msg)));
  assert.ok(warned.length >= 1, 'the ignored messages are logged');
  assert.equal(warned[0]?.msg, 'ignoring a malformed policy change message');
  assert.equal(store.isAvailable(), true);
});

test('a flood of forged change messages is logged once per 10 s, and hides no real write', async () => {
  const { logger, lines } = capturingLogger('debug');
  const keyPrefix = uniquePrefix();
  const store = open({ keyPrefix, logger });
  await store.start(seedOf({ m: entry(1, 0) }));
  const raw = new Redis(redis.url, { lazyConnect: true });
  const other = open({ keyPrefix, logger: silent });
  try {
    await raw.connect();
    await other.start(seedOf({}));
    for (let i = 0; i < 200; i++) await raw.publish(`${keyPrefix}changes`, `{"model":"m","revision":${100 + i}}`);
    // A real write behind the flood: its message comes after every forged one, and it still arrives.
    const arrived = nextEvent(store, 'change', WAIT_MS, (s) => s.revision === 2);
    await other.put(write('m', 30, 1));
    assert.equal((await arrived)[0].policy.percent, 30);
  } finally {
    raw.disconnect();
    await other.close();
  }
  const warned = lines.filter((l) => /announced a revision the store does not hold/.test(String(l.msg)));
  assert.equal(warned.length, 1, 'one line for the whole flood');
  assert.equal((await store.load(['m']))[0]?.revision, 2);
});

test('options: exactly one of url, sentinels or cluster', async () => {
  const base = { keyPrefix: 'x:', auditMaxEntries: 10, connectTimeoutMs: 100, commandTimeoutMs: 100, logger: silent };
  assert.throws(() => new RedisStore(base), /exactly one of url, sentinels or cluster \(none given\)/);
  assert.throws(
    () => new RedisStore({ ...base, url: 'redis://127.0.0.1:1', cluster: [{ host: '127.0.0.1', port: 1 }] }),
    /exactly one of url, sentinels or cluster \(got url and cluster\)/,
  );
  assert.throws(() => new RedisStore({ ...base, sentinels: [{ host: '127.0.0.1', port: 1 }] }), /sentinelName/);
  assert.throws(() => new RedisStore({ ...base, url: 'http://127.0.0.1' }), /redis:\/\/ or rediss:\/\//);
  assert.throws(() => new RedisStore({ ...base, url: 'redis://127.0.0.1', commandTimeoutMs: 0 }), /commandTimeoutMs/);
  assert.ok((await createStore({ type: 'memory', auditMaxEntries: 10 }, silent)) instanceof MemoryStore);
  const { logger: _logger, ...redisOptions } = { ...base, url: 'redis://127.0.0.1:1' };
  assert.ok((await createStore({ type: 'redis', ...redisOptions }, silent)) instanceof RedisStore);
});

test('close() leaves nothing behind: a process that used the store exits by itself', async () => {
  const server = await startRedis();
  try {
    const root = fileURLToPath(new URL('../../../../', import.meta.url));
    const module = new URL('../../../gateway/src/controlplane/store/redis.js', import.meta.url).href;
    // One store closed while connected, one closed while reconnecting to a dead port.
    const script = `
      import { pino } from 'pino';
      import { RedisStore } from ${JSON.stringify(module)};
      const common = { keyPrefix: 'exit:', auditMaxEntries: 10, connectTimeoutMs: 3000, commandTimeoutMs: 2000, logger: pino({ level: 'silent' }) };
      const seed = () => new Map([['m', { policy: { stable: 1, canary: null, percent: 0, headerRules: [], cookieRules: [], sticky: null, salt: 'm' }, paused: false, rolledBack: false, revision: 1, actor: 'config', provisional: true }]]);
      const live = new RedisStore({ ...common, url: ${JSON.stringify(server.url)} });
      await live.start(seed);
      await live.put({ model: 'm', policy: { stable: 1, canary: null, percent: 0, headerRules: [], cookieRules: [], sticky: null, salt: 'm' }, paused: false, rolledBack: false, expectedRevision: 1, actor: 't', reason: 'manual' });
      const dead = new RedisStore({ ...common, connectTimeoutMs: 300, url: 'redis://127.0.0.1:1' });
      await dead.start(seed).catch(() => undefined);
      await Promise.all([live.close(), dead.close()]);
      console.log('closed');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const started = performance.now();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(timer);
    assert.equal(code, 0, `child did not exit cleanly: ${output}`);
    assert.match(output, /closed/);
    assert.ok(performance.now() - started < 5_000);
  } finally {
    await server.stop();
  }
});
