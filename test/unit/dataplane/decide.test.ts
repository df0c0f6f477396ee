import assert from 'node:assert/strict';
import { DEFAULT_RESILIENCE } from '../../../gateway/src/config/load.js';
import { test } from 'node:test';
import { decide, decideUnpinned, type HeaderBag } from '../../../gateway/src/dataplane/decide.js';
import { VersionPool } from '../../../gateway/src/dataplane/pool.js';
import { Replica } from '../../../gateway/src/dataplane/replica.js';
import { compileModel, type CompiledModel } from '../../../gateway/src/dataplane/snapshot.js';
import type { PolicyDocument } from '../../../gateway/src/policy/schema.js';
import type { TfTarget } from '../../../gateway/src/tfserving/path.js';
import { NO_VERSIONS } from '../../../gateway/src/policy/stored.js';

const options = { connections: 1, keepAliveTimeoutMs: 1000, connectTimeoutMs: 1000 };
const replicas: Replica[] = [];
function pool(version: number, healthy = true): VersionPool {
  const r = new Replica(`http://127.0.0.1:${9000 + version}`, 8500, options, DEFAULT_RESILIENCE.breaker);
  r.health = healthy ? 'up' : 'down';
  replicas.push(r);
  return new VersionPool('m', version, [r], DEFAULT_RESILIENCE);
}
test.after(async () => {
  await Promise.all(replicas.map((r) => r.close()));
});

const base: PolicyDocument = {
  stable: 1,
  canary: 2,
  percent: 0,
  headerRules: [],
  cookieRules: [],
  sticky: null,
  salt: 'm',
  plan: null,
  shadow: null,
  onNewVersion: null,
};

function model(policy: Partial<PolicyDocument>, canaryHealthy = true, rolledBack = false): CompiledModel {
  const pools = new Map([
    [1, pool(1)],
    [2, pool(2, canaryHealthy)],
    [3, pool(3)],
  ]);
  const stored = {
    model: 'm',
    revision: 1,
    policy: { ...base, ...policy },
    paused: false,
    rolledBack,
    rollout: null,
    versions: NO_VERSIONS,
    updatedAt: new Date().toISOString(),
    updatedBy: 'test',
    reason: 'manual' as const,
    note: '',
    provisional: false,
  };
  return compileModel(stored, pools, { stable: 'stable', canary: 'canary' });
}

const predict: TfTarget = { model: 'm', version: undefined, label: undefined, operation: 'predict' };

test('URL version pins its pool, whatever the rules say', () => {
  const m = model({ percent: 100, headerRules: [{ header: 'x-canary' }] });
  const d = decide(m, { ...predict, version: '3' }, { 'x-canary': 'always' });
  assert.ok(typeof d !== 'string');
  assert.equal(d.pool.version, 3);
  assert.equal(d.pinned, true);
  assert.equal(decide(m, { ...predict, version: '9' }, {}), 'unknown-version');
});

test('labels pin a side; an unknown label is reported', () => {
  const m = model({ percent: 0 });
  const canary = decide(m, { ...predict, label: 'canary' }, {});
  assert.ok(typeof canary !== 'string');
  assert.equal(canary.pool.version, 2);
  assert.equal(canary.reason, 'label');
  const stable = decide(m, { ...predict, label: 'stable' }, { 'x-canary': 'always' });
  assert.ok(typeof stable !== 'string');
  assert.equal(stable.pool.version, 1);
  assert.equal(decide(m, { ...predict, label: 'beta' }, {}), 'unknown-label');
  assert.equal(decide(model({ canary: null }), { ...predict, label: 'canary' }, {}), 'unknown-label');
});

test('header switch rule: always, never, anything else decides nothing', () => {
  const m = model({ percent: 0, headerRules: [{ header: 'X-Canary' }] });
  assert.equal(decideUnpinned(m, { 'x-canary': 'always' }).pool.version, 2);
  assert.equal(decideUnpinned(m, { 'x-canary': 'always' }).reason, 'header');
  const all = model({ percent: 100, headerRules: [{ header: 'x-canary' }] });
  assert.equal(decideUnpinned(all, { 'x-canary': 'never' }).pool.version, 1);
  assert.equal(decideUnpinned(all, { 'x-canary': 'maybe' }).reason, 'split');
});

test('exact and regex rules route to their target, in list order', () => {
  const m = model({
    percent: 0,
    headerRules: [
      { header: 'x-tier', equals: 'internal', to: 'stable' },
      { header: 'x-tier', regex: '^beta-' },
      { header: 'user-agent', regex: 'canary-client', to: 'canary' },
    ],
  });
  assert.equal(decideUnpinned(m, { 'x-tier': 'beta-7' }).pool.version, 2);
  assert.equal(decideUnpinned(m, { 'x-tier': 'internal', 'user-agent': 'canary-client' }).pool.version, 1);
  assert.equal(decideUnpinned(m, { 'x-tier': 'gold', 'user-agent': 'my canary-client/1' }).pool.version, 2);
  assert.equal(decideUnpinned(m, { 'x-tier': 'gold' }).reason, 'split');
});

test('header rules come before cookie rules, which come before the sticky cohort', () => {
  const m = model({
    percent: 0,
    headerRules: [{ header: 'x-canary' }],
    cookieRules: [{ cookie: 'canary' }],
    sticky: { header: 'x-user-id' },
  });
  const headers: HeaderBag = { 'x-canary': 'never', cookie: 'canary=always' };
  assert.equal(decideUnpinned(m, headers).pool.version, 1);
  assert.equal(decideUnpinned(m, headers).reason, 'header');
  assert.equal(decideUnpinned(m, { cookie: 'a=1; canary=always' }).pool.version, 2);
  assert.equal(decideUnpinned(m, { cookie: 'a=1; canary=always' }).reason, 'cookie');
  assert.equal(decideUnpinned(m, { 'x-user-id': 'u1' }).reason, 'sticky');
});

test('sticky key from the header first, then the cookie; same key, same side', () => {
  const m = model({ percent: 50, sticky: { header: 'x-user-id', cookie: 'uid' } });
  for (let i = 0; i < 200; i++) {
    const side = decideUnpinned(m, { 'x-user-id': `user-${i}` }).side;
    assert.equal(decideUnpinned(m, { cookie: `uid=user-${i}` }).side, side);
    assert.equal(decideUnpinned(m, { 'x-user-id': `user-${i}`, cookie: 'uid=someone-else' }).side, side);
  }
});

test('a canary without a healthy replica sends its traffic to stable unless pinned', () => {
  const m = model({ percent: 100, headerRules: [{ header: 'x-canary' }] }, false);
  const d = decideUnpinned(m, { 'x-canary': 'always' });
  assert.equal(d.pool.version, 1);
  assert.equal(d.reason, 'fallback');
  const pinned = decide(m, { ...predict, version: '2' }, {});
  assert.ok(typeof pinned !== 'string');
  assert.equal(pinned.pool.version, 2);
});

test('no canary: everything to stable, rules are inert', () => {
  const m = model({ canary: null, percent: 0, headerRules: [{ header: 'x-canary' }] });
  assert.equal(decideUnpinned(m, { 'x-canary': 'always' }).pool.version, 1);
});

test('rolled back: every unpinned request is stable, rules included; pins still reach the canary', () => {
  const m = model({ percent: 0, headerRules: [{ header: 'x-canary' }], cookieRules: [{ cookie: 'c' }], sticky: { header: 'u' } }, true, true);
  assert.equal(decideUnpinned(m, { 'x-canary': 'always' }).pool.version, 1);
  assert.equal(decideUnpinned(m, { cookie: 'c=always' }).pool.version, 1);
  const label = decide(m, { ...predict, label: 'canary' }, {});
  assert.ok(typeof label !== 'string');
  assert.equal(label.pool.version, 2);
});

test('many header rules: the index finds the same first deciding rule as a scan', () => {
  // A small deterministic generator: the same cases on every run.
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const names = ['x-a', 'x-b', 'x-c', 'x-d', 'x-e'];
  const values = ['always', 'never', 'beta', 'beta-2', 'gold', 'other'];
  for (let round = 0; round < 200; round++) {
    const headerRules = Array.from({ length: 9 + rand(20) }, () => {
      const header = names[rand(names.length)]!;
      const kind = rand(3);
      if (kind === 0) return { header };
      if (kind === 1) return { header, equals: values[rand(values.length)]!, to: rand(2) === 0 ? ('canary' as const) : ('stable' as const) };
      return { header, regex: '^beta', to: rand(2) === 0 ? ('canary' as const) : ('stable' as const) };
    });
    const m = model({ percent: 50, headerRules });
    assert.ok(m.headerIndex !== undefined, 'more than 8 rules are indexed');
    const headers: Record<string, string> = {};
    for (const name of names) if (rand(2) === 0) headers[name] = values[rand(values.length)]!;
    // The reference: the first rule in list order that decides.
    let expected: 'canary' | 'stable' | undefined;
    for (const rule of headerRules) {
      const value = headers[rule.header];
      if (value === undefined) continue;
      if ('equals' in rule) expected = value === rule.equals ? rule.to : undefined;
      else if ('regex' in rule) expected = /^beta/.test(value) ? rule.to : undefined;
      else expected = value === 'always' ? 'canary' : value === 'never' ? 'stable' : undefined;
      if (expected !== undefined) break;
    }
    const decision = decideUnpinned(m, headers);
    if (expected === undefined) assert.equal(decision.reason === 'header', false, JSON.stringify({ headerRules, headers }));
    else assert.equal(decision.pool.version, expected === 'canary' ? 2 : 1, JSON.stringify({ headerRules, headers }));
  }
});
