/**
 * The watcher's rules on revisions, over a MemoryStore and empty pools (nothing is listened on or
 * connected to): the revision in force never goes down; an equal revision with another document
 * is taken from a resync only; what it asks the store to hold (a provisional file policy, or a
 * restore of what is in force); a store found behind gets the policy in force back, and a write
 * on such a store starts from what is in force.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { resolveConfig } from '../../../gateway/src/config/load.js';
import { GatewayEvents } from '../../../gateway/src/controlplane/events.js';
import { writePolicy } from '../../../gateway/src/controlplane/policy-writer.js';
import { MemoryStore } from '../../../gateway/src/controlplane/store/memory.js';
import { PolicyWatcher } from '../../../gateway/src/controlplane/watcher.js';
import { PoolRegistry } from '../../../gateway/src/dataplane/pool-registry.js';
import { SnapshotHolder } from '../../../gateway/src/dataplane/snapshot.js';
import { NO_VERSIONS, type StoredPolicy } from '../../../gateway/src/policy/stored.js';

const config = resolveConfig(
  {
    models: {
      m: {
        pools: { '1': { replicas: ['http://127.0.0.1:8601'] }, '2': { replicas: ['http://127.0.0.1:8602'] } },
        policy: { stable: 1, canary: 2, percent: 10 },
      },
    },
  },
  'test',
  {},
);

function setup(store = new MemoryStore()) {
  const pools = new PoolRegistry(config.models, config.proxy);
  const snapshots = new SnapshotHolder({ models: new Map() });
  const watcher = new PolicyWatcher({
    store,
    pools,
    holder: snapshots,
    labels: { stable: 'stable', canary: 'canary' },
    events: new GatewayEvents(),
    log: pino({ level: 'silent' }),
  });
  return { store, pools, snapshots, watcher, inForce: () => snapshots.current.models.get('m') };
}

function stored(revision: number, percent: number, more: Partial<StoredPolicy> = {}): StoredPolicy {
  return {
    model: 'm',
    revision,
    policy: { stable: 1, canary: 2, percent, headerRules: [], cookieRules: [], sticky: null, salt: 'm', plan: null, shadow: null, onNewVersion: null },
    paused: false,
    rolledBack: false,
    rollout: null,
    versions: NO_VERSIONS,
    updatedAt: `2030-01-01T00:00:0${revision}.000Z`,
    updatedBy: 'alice',
    reason: 'manual',
    note: '',
    provisional: false,
    ...more,
  };
}

test('the revision in force never goes down, whatever brings the older policy (a resync included)', () => {
  const { watcher, inForce } = setup();
  assert.equal(watcher.apply(stored(5, 50), 'write'), true);
  for (const source of ['resync', 'message', 'write'] as const) {
    assert.equal(watcher.apply(stored(4, 40), source), false, source);
    assert.deepEqual([inForce()?.revision, inForce()?.policy.percent], [5, 50]);
  }
  assert.equal(watcher.apply(stored(6, 60), 'message'), true);
  assert.equal(inForce()?.revision, 6);
});

test('an equal revision with another document: a resync takes the store\u2019s, a message does not; the same document changes nothing', () => {
  const { watcher, inForce } = setup();
  watcher.apply(stored(4, 40), 'resync');
  const other = stored(4, 45, { updatedAt: '2030-02-02T00:00:00.000Z', updatedBy: 'bob' });
  assert.equal(watcher.apply(other, 'message'), false);
  assert.equal(inForce()?.policy.percent, 40);
  assert.equal(watcher.apply(other, 'resync'), true);
  assert.deepEqual([inForce()?.revision, inForce()?.policy.percent, inForce()?.stored.updatedBy], [4, 45, 'bob']);
  assert.equal(watcher.apply(other, 'resync'), false, 'the same document again');
});

test('seed(): the file\u2019s policy (revision 0 in force) is a provisional seed at 1; a policy read from the store is put back whole, under its revision', () => {
  const { watcher } = setup();
  watcher.apply({ ...stored(0, 5), updatedBy: 'config', reason: 'config', provisional: true }, 'resync');
  assert.deepEqual(
    [...watcher.seed()].map(([model, e]) => [model, e.revision, e.provisional, e.actor, e.policy.percent, e.updatedAt]),
    [['m', 1, true, 'config', 5, undefined]],
  );
  const read = stored(4, 40, { rolledBack: true, reason: 'rollback', note: 'p99 doubled' });
  watcher.apply(read, 'message');
  const entry = watcher.seed().get('m');
  assert.deepEqual(
    entry && [entry.revision, entry.provisional, entry.actor, entry.rolledBack, entry.updatedAt, entry.reason, entry.note, entry.policy.percent],
    [4, false, 'alice', true, read.updatedAt, 'rollback', 'p99 doubled', 40],
  );
});

test('a resync that finds the store without the policy in force (it lost its data) puts it back, same revision and document', async () => {
  // The store this gateway read revision 4 from is gone; the one behind it now is empty.
  const { store, watcher, inForce } = setup();
  const read = stored(4, 40);
  watcher.apply(read, 'message');
  await watcher.resync();
  const [back] = await store.load(['m']);
  assert.deepEqual(back, read);
  assert.equal(inForce()?.revision, 4);
  const [restore] = await store.audit({ model: 'm', limit: 1 });
  assert.deepEqual([restore?.revision, restore?.reason], [4, 'config']);
  assert.match(restore?.note ?? '', /restored/);
});

test('a resync that finds an older or provisional policy in the store puts the one in force back over it', async () => {
  const { store, watcher, inForce } = setup();
  await store.seed(new Map([['m', { ...stored(1, 5), actor: 'config', provisional: true }]]));
  watcher.apply(stored(4, 40), 'message');
  await watcher.resync();
  assert.deepEqual((await store.load(['m'])).map((s) => [s.revision, s.policy.percent, s.provisional]), [[4, 40, false]]);
  assert.deepEqual([inForce()?.revision, inForce()?.policy.percent], [4, 40]);
});

test('a write on a store that lost the policy in force starts from what is in force, If-Match on its revision included', async () => {
  const ctx = setup();
  ctx.watcher.apply(stored(4, 40), 'message');
  const written = await writePolicy(ctx, 'm', { actor: 'bob', reason: 'manual', ifMatch: 4 }, (current) => ({
    policy: { ...current.policy, percent: current.policy.percent + 5 },
    versions: current.versions,
    paused: current.paused,
    rolledBack: current.rolledBack,
    rollout: current.rollout,
  }));
  assert.deepEqual([written.revision, written.policy.percent], [5, 45]);
  assert.deepEqual([ctx.inForce()?.revision, ctx.inForce()?.policy.percent], [5, 45]);
});

test('a stored policy with a regex RE2 cannot run (written by an older gateway) is refused: the policy in force stays', () => {
  const { watcher, inForce } = setup();
  assert.equal(watcher.apply(stored(3, 30), 'write'), true);
  const rules = (regex: string) => ({ headerRules: [{ header: 'x-user', regex }], cookieRules: [] });
  const lookahead = stored(4, 40, { policy: { ...stored(4, 40).policy, ...rules('^(?!guest)') } });
  assert.equal(watcher.apply(lookahead, 'message'), false);
  assert.deepEqual([inForce()?.revision, inForce()?.policy.percent], [3, 30]);
  const linear = stored(5, 50, { policy: { ...stored(5, 50).policy, ...rules('^(\\w|\\d)*$') } });
  assert.equal(watcher.apply(linear, 'message'), true);
  assert.equal(inForce()?.headerRules[0]?.regex?.test(`${'a'.repeat(1023)}!`), false);
});
