/**
 * The policy store contract, run unchanged against MemoryStore and RedisStore (a real
 * redis-server): seeding, revisions, compare-and-set, change events and the audit trail.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { MemoryStore } from '../../../gateway/src/controlplane/store/memory.js';
import { RedisStore } from '../../../gateway/src/controlplane/store/redis.js';
import {
  RevisionConflictError,
  type PolicyStore,
  type PolicyWrite,
  type SeedEntry,
  type StoreEvents,
  type StoredPolicy,
} from '../../../gateway/src/controlplane/store/types.js';
import type { PolicyDocument } from '../../../gateway/src/policy/schema.js';
import { startRedis, type RedisServer } from '../../helpers/redis.js';
import { NO_VERSIONS } from '../../../gateway/src/policy/stored.js';

const WAIT_MS = 3_000;

/** Empty arrays and nulls included on purpose: they must come back as they went in. */
function policy(percent: number, extra: Partial<PolicyDocument> = {}): PolicyDocument {
  return {
    stable: 1,
    canary: 2,
    percent,
    headerRules: [],
    cookieRules: [{ cookie: 'canary' }],
    sticky: null,
    salt: 'm',
    plan: null,
    shadow: null,
    ...extra,
  } as PolicyDocument;
}

/** A configuration file's policy (provisional) unless `provisional` says it is a restore. */
function entry(revision: number, percent: number, actor = 'config', provisional = true): SeedEntry {
  return { policy: policy(percent), paused: false, rolledBack: false, rollout: null, versions: NO_VERSIONS, revision, actor, provisional };
}

function seedOf(entries: Record<string, SeedEntry>): () => ReadonlyMap<string, SeedEntry> {
  return () => new Map(Object.entries(entries));
}

function write(model: string, percent: number, expectedRevision: number | undefined, more: Partial<PolicyWrite> = {}): PolicyWrite {
  return { model, policy: policy(percent), paused: false, rolledBack: false, rollout: null, versions: NO_VERSIONS, expectedRevision, actor: 'tester', reason: 'manual', ...more } as PolicyWrite;
}

function nextChange(store: PolicyStore, accept: (stored: StoredPolicy) => boolean): Promise<StoredPolicy> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      store.off('change', listener);
      reject(new Error(`no matching change event within ${WAIT_MS} ms`));
    }, WAIT_MS);
    const listener = (...[stored]: StoreEvents['change']): void => {
      if (!accept(stored)) return;
      clearTimeout(timer);
      store.off('change', listener);
      resolve(stored);
    };
    store.on('change', listener);
  });
}

function isConflict(revision: number | undefined, percent?: number) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof RevisionConflictError, `expected a RevisionConflictError, got ${String(error)}`);
    assert.equal(error.current?.revision, revision);
    if (percent !== undefined) assert.equal(error.current?.policy.percent, percent);
    return true;
  };
}

interface Backend {
  readonly name: string;
  /** A store over empty storage, not started. */
  open(options?: { auditMaxEntries?: number }): PolicyStore;
  /** What a second gateway sees of the same storage, not started (memory: the store itself). */
  sibling(store: PolicyStore): PolicyStore;
}

let redis: RedisServer;
const opened = new Set<PolicyStore>();
let prefixes = 0;
const redisPrefix = new WeakMap<PolicyStore, { keyPrefix: string; auditMaxEntries: number }>();
const logger = pino({ level: 'silent' });

function track<S extends PolicyStore>(store: S): S {
  opened.add(store);
  return store;
}

function redisStore(keyPrefix: string, auditMaxEntries: number): RedisStore {
  const store = new RedisStore({ url: redis.url, keyPrefix, auditMaxEntries, connectTimeoutMs: 3_000, commandTimeoutMs: 2_000, logger });
  redisPrefix.set(store, { keyPrefix, auditMaxEntries });
  return track(store);
}

const backends: Backend[] = [
  {
    name: 'MemoryStore',
    open: (options = {}) => track(new MemoryStore({ auditMaxEntries: options.auditMaxEntries ?? 1_000 })),
    sibling: (store) => store,
  },
  {
    name: 'RedisStore',
    open: (options = {}) => redisStore(`contract-${process.pid}-${++prefixes}:`, options.auditMaxEntries ?? 1_000),
    sibling: (store) => {
      const of = redisPrefix.get(store);
      assert.ok(of !== undefined);
      return redisStore(of.keyPrefix, of.auditMaxEntries);
    },
  },
];

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

for (const backend of backends) {
  describe(backend.name, () => {
    test('start seeds only absent models, under the seed revision, and returns what is stored', async () => {
      const first = backend.open();
      const seeded = await first.start(seedOf({ a: entry(7, 10, 'config-file') }));
      assert.equal(seeded.length, 1);
      const [a] = seeded;
      assert.equal(a?.model, 'a');
      assert.equal(a?.revision, 7);
      assert.equal(a?.reason, 'config');
      assert.equal(a?.updatedBy, 'config-file');
      assert.deepEqual(a?.policy, policy(10));
      assert.equal(a?.paused, false);
      assert.equal(a?.rolledBack, false);
      assert.equal(first.isAvailable(), true);

      const changed = await first.put(write('a', 20, 7));
      assert.equal(changed.revision, 8);

      // A second gateway with another view of the configuration: `a` is kept, `b` is new.
      const second = backend.sibling(first);
      const stored = await second.start(seedOf({ a: entry(7, 50), b: entry(3, 30) }));
      assert.deepEqual(
        stored.map((s) => [s.model, s.revision, s.policy.percent, s.reason]),
        [
          ['a', 8, 20, 'manual'],
          ['b', 3, 30, 'config'],
        ],
      );
      assert.deepEqual(await second.load(['a', 'b', 'absent']), stored);
      assert.deepEqual(
        (await second.audit({ limit: 10 })).map((e) => [e.model, e.revision]),
        [
          ['b', 3],
          ['a', 8],
          ['a', 7],
        ],
      );
    });

    test('seed rule: a file\u2019s policy only fills a gap; a restore replaces a provisional policy or a lower revision, never an equal or higher one', async () => {
      const store = backend.open();
      const shape = (stored: StoredPolicy[]) => stored.map((s) => [s.model, s.revision, s.policy.percent, s.provisional]);
      assert.deepEqual(shape(await store.start(seedOf({ m: entry(1, 5) }))), [['m', 1, 5, true]]);
      assert.deepEqual(shape(await store.seed(new Map([['m', entry(1, 7)]]))), [['m', 1, 5, true]], 'another file does not replace it');
      // A restore over a provisional policy: one revision above it, so whoever adopted it takes the restore.
      assert.deepEqual(shape(await store.seed(new Map([['m', entry(1, 30, 'alice', false)]]))), [['m', 2, 30, false]]);
      const restore = { ...entry(4, 40, 'bob', false), updatedAt: '2030-01-01T00:00:00.000Z', reason: 'rollback' as const, note: 'p99 doubled' };
      const [four] = await store.seed(new Map([['m', restore]]));
      assert.deepEqual(
        four && [four.revision, four.policy.percent, four.updatedBy, four.updatedAt, four.reason, four.note, four.provisional],
        [4, 40, 'bob', '2030-01-01T00:00:00.000Z', 'rollback', 'p99 doubled', false],
        'a restore keeps the document as it was written',
      );
      for (const [revision, what] of [[4, 'an equal'], [3, 'a lower']] as const) {
        assert.deepEqual(shape(await store.seed(new Map([['m', entry(revision, 99, 'carol', false)]]))), [['m', 4, 40, false]], `${what} revision`);
      }
      assert.deepEqual(shape(await store.seed(new Map([['m', entry(1, 99)]]))), [['m', 4, 40, false]], 'a file never replaces');
      // A write ends the provisional state: a restore of the file's revision no longer replaces it.
      await store.seed(new Map([['n', entry(1, 5)]]));
      const written = await store.put(write('n', 15, 1));
      assert.equal(written.provisional, false);
      assert.deepEqual(shape(await store.seed(new Map([['n', entry(1, 5, 'x', false)]]))), [['n', 2, 15, false]]);

      const audit = await store.audit({ model: 'm', limit: 10 });
      assert.deepEqual(
        audit.map((e) => [e.revision, e.reason, e.after.policy.percent, e.before?.policy.percent ?? null]),
        [
          [4, 'config', 40, 30],
          [2, 'config', 30, 5],
          [1, 'config', 5, null],
        ],
      );
      assert.match(audit[0]?.note ?? '', /restored/);
      assert.match(audit[2]?.note ?? '', /provisional/);
    });

    test('gateways racing to put back what they last saw: the highest revision is stored, whatever the order', async () => {
      const first = backend.open();
      await first.start(seedOf({}));
      const second = backend.sibling(first);
      await second.start(seedOf({}));
      const racers = [first, second];
      // A file's policy and restores of revisions 2..12, sent all at once from two gateways in a scrambled order.
      const entries = [entry(1, 1), ...Array.from({ length: 11 }, (_, i) => entry(i + 2, i + 2, 'config', false))];
      const order = entries.map((e, i) => ({ e, key: (i * 7) % entries.length })).sort((x, y) => x.key - y.key);
      await Promise.all(order.map(({ e }, i) => racers[i % 2]!.seed(new Map([['m', e]]))));
      const [stored] = await first.load(['m']);
      assert.deepEqual(stored && [stored.revision, stored.policy.percent, stored.provisional], [12, 12, false]);
      const revisions = (await first.audit({ model: 'm', limit: 100 })).map((e) => e.revision);
      assert.deepEqual(revisions, [...revisions].sort((x, y) => y - x), 'every stored seed raised the revision');
    });

    test('revisions grow by one from whatever is stored; load returns what put returned', async () => {
      const store = backend.open();
      await store.start(seedOf({}));
      const one = await store.put(write('x', 1, undefined));
      const two = await store.put(write('x', 2, undefined, { paused: true, actor: 'ops', reason: 'promotion' }));
      const three = await store.put(write('x', 3, 2, { rolledBack: true, reason: 'rollback' }));
      assert.deepEqual([one.revision, two.revision, three.revision], [1, 2, 3]);
      assert.equal(two.paused, true);
      assert.equal(two.updatedBy, 'ops');
      assert.equal(two.reason, 'promotion');
      assert.equal(three.rolledBack, true);
      assert.ok(!Number.isNaN(Date.parse(three.updatedAt)));
      assert.deepEqual(await store.load(['x']), [three]);
      // expectedRevision 0 means "only if absent"
      assert.equal((await store.put(write('fresh', 5, 0))).revision, 1);
    });

    test('a stale expectedRevision is refused with the current policy, and nothing is written', async () => {
      const store = backend.open();
      await store.start(seedOf({ m: entry(1, 10) }));
      const current = await store.put(write('m', 20, 1));
      const auditBefore = await store.audit({ limit: 100 });

      await assert.rejects(store.put(write('m', 99, 1)), isConflict(2, 20));
      await assert.rejects(store.put(write('m', 99, 0)), isConflict(2, 20));
      await assert.rejects(store.put(write('m', 99, 3)), isConflict(2, 20));
      await assert.rejects(store.put(write('absent', 99, 4)), isConflict(undefined));

      assert.deepEqual(await store.load(['m', 'absent']), [current]);
      assert.deepEqual(await store.audit({ limit: 100 }), auditBefore);
      const error = await store.put(write('m', 99, 1)).catch((e: unknown) => e);
      assert.ok(error instanceof RevisionConflictError);
      assert.deepEqual(error.current, current);
      assert.match(error.message, /revision 2, not 1/);
    });

    test('every accepted write is announced as a change, own writes included', async () => {
      const store = backend.open();
      const seededChange = nextChange(store, (s) => s.model === 'm' && s.revision === 4);
      await store.start(seedOf({ m: entry(4, 10) }));
      assert.equal((await seededChange).reason, 'config');

      const announced = nextChange(store, (s) => s.model === 'm' && s.revision === 5);
      const written = await store.put(write('m', 25, 4, { policy: policy(25, { canary: null, sticky: { header: 'x-user' } }) }));
      assert.deepEqual(await announced, written);
      assert.deepEqual(written.policy, policy(25, { canary: null, sticky: { header: 'x-user' } }));
    });

    test('audit: newest first, filtered by model, limited, with the documents before and after', async () => {
      const store = backend.open();
      await store.start(seedOf({ a: entry(3, 0), b: entry(1, 5) }));
      await store.put(write('a', 10, 3, { note: 'first step' }));
      await store.put(write('b', 20, 1));
      await store.put(write('a', 30, 4, { paused: true, rolledBack: true, actor: 'controller', reason: 'rollback', note: 'error rate 7%' }));

      const all = await store.audit({ limit: 10 });
      assert.deepEqual(
        all.map((e) => [e.model, e.revision]),
        [
          ['a', 5],
          ['b', 2],
          ['a', 4],
          ['b', 1],
          ['a', 3],
        ],
      );
      assert.equal(new Set(all.map((e) => e.id)).size, all.length);
      for (const e of all) assert.ok(!Number.isNaN(Date.parse(e.at)));

      assert.deepEqual(
        (await store.audit({ limit: 2 })).map((e) => [e.model, e.revision]),
        [
          ['a', 5],
          ['b', 2],
        ],
      );
      const onlyA = await store.audit({ model: 'a', limit: 2 });
      assert.deepEqual(
        onlyA.map((e) => e.revision),
        [5, 4],
      );
      const [rollback, step] = onlyA;
      assert.deepEqual(rollback, {
        id: rollback?.id,
        model: 'a',
        revision: 5,
        at: rollback?.at,
        actor: 'controller',
        reason: 'rollback',
        note: 'error rate 7%',
        before: { policy: policy(10), paused: false, rolledBack: false, rollout: null, versions: NO_VERSIONS },
        after: { policy: policy(30), paused: true, rolledBack: true, rollout: null, versions: NO_VERSIONS },
      });
      assert.equal(step?.note, 'first step');
      assert.deepEqual(step?.before, { policy: policy(0), paused: false, rolledBack: false, rollout: null, versions: NO_VERSIONS });

      const [seed] = await store.audit({ model: 'a', limit: 10 }).then((entries) => entries.slice(-1));
      assert.equal(seed?.revision, 3);
      assert.equal(seed?.reason, 'config');
      assert.equal(seed?.actor, 'config');
      assert.equal(seed?.before, null);
      assert.deepEqual(seed?.after, { policy: policy(0), paused: false, rolledBack: false, rollout: null, versions: NO_VERSIONS });

      assert.deepEqual(await store.audit({ model: 'nobody', limit: 10 }), []);
      assert.deepEqual(await store.audit({ limit: 0 }), []);
    });

    test('audit keeps only the newest auditMaxEntries entries', async () => {
      const store = backend.open({ auditMaxEntries: 5 });
      await store.start(seedOf({}));
      for (let i = 1; i <= 12; i++) await store.put(write(i % 2 === 0 ? 'even' : 'odd', i, undefined));
      const all = await store.audit({ limit: 100 });
      assert.deepEqual(
        all.map((e) => e.after.policy.percent),
        [12, 11, 10, 9, 8],
      );
      assert.deepEqual(
        (await store.audit({ model: 'even', limit: 100 })).map((e) => e.after.policy.percent),
        [12, 10, 8],
      );
    });
  });
}
