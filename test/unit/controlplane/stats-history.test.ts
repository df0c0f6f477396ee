/**
 * The stats history behind the event stream's snapshot: bounded per model, oldest first, every
 * sample read back as it was added, and a tick kept without leaving objects behind that young
 * collections would copy and promote.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { StatsHistory } from '../../../gateway/src/controlplane/admin/history.js';
import type { HistorySample } from '../../../gateway/src/controlplane/admin/api-schemas.js';

const sample = (i: number): HistorySample => ({
  at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
  versions: [{ version: 1, role: 'stable', rps: i, errorRate: 0, p50Ms: null, p99Ms: null }],
});

test('keeps the last `capacity` ticks of each model, oldest first', () => {
  const history = new StatsHistory(5);
  for (let i = 0; i < 3; i++) history.record(new Map([['a', sample(i)], ['b', sample(100 + i)]]));
  assert.deepEqual(history.toJSON()['a']!.map((s) => s.versions[0]!.rps), [0, 1, 2]);
  for (let i = 3; i < 12; i++) history.record(new Map([['a', sample(i)], ['b', sample(100 + i)]]));
  assert.deepEqual(history.toJSON()['a']!.map((s) => s.versions[0]!.rps), [7, 8, 9, 10, 11]);
  assert.deepEqual(history.toJSON()['b']!.map((s) => s.versions[0]!.rps), [107, 108, 109, 110, 111]);
});

test('a model no longer served is forgotten; a new one starts empty', () => {
  const history = new StatsHistory(5);
  history.record(new Map([['a', sample(0)]]));
  history.record(new Map([['b', sample(1)]]));
  assert.deepEqual(Object.keys(history.toJSON()), ['b']);
  assert.equal(history.toJSON()['b']!.length, 1);
});

/** Every shape a sample takes: nulls, a shadow with and without an agreement rate, 1 to 3 versions. */
const varied = (i: number): HistorySample => {
  const versions: HistorySample['versions'] = [{ version: 7, role: 'stable', rps: i * 1.5, errorRate: i / 1000, p50Ms: i % 3 === 0 ? null : i / 7, p99Ms: i % 3 === 0 ? null : i / 3 }];
  if (i % 2 === 1) versions.push({ version: 9_007_199_254_740_991, role: 'canary', rps: 0, errorRate: 1, p50Ms: 0, p99Ms: 250.125 });
  if (i % 5 === 4) versions.push({ version: 0, role: 'idle', rps: 0.25, errorRate: 0, p50Ms: null, p99Ms: 1e-9 });
  const at = new Date(Date.UTC(2026, 11, 5, 7, 0, i, i)).toISOString();
  if (i % 4 === 0) return { at, versions };
  return { at, versions, shadow: { version: 8, agreementRate: i % 4 === 1 ? null : i / 100 } };
};

test('reads back every sample as it was added, whatever its shape, past a wrap and a widening', () => {
  const history = new StatsHistory(6);
  const added: HistorySample[] = [];
  for (let i = 0; i < 17; i++) {
    const s = varied(i);
    added.push(structuredClone(s));
    history.add('m', s);
    assert.deepEqual(history.of('m'), added.slice(-6), `after tick ${i}`);
  }
  assert.deepEqual(history.of('other'), []);
});

test('samples read are copies: later ticks do not change them', () => {
  const history = new StatsHistory(2);
  history.add('m', varied(1));
  history.add('m', varied(2));
  const read = history.of('m');
  const copy = structuredClone(read);
  for (let i = 3; i < 8; i++) history.add('m', varied(i));
  assert.deepEqual(read, copy);
});

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (options?: { type: 'minor' | 'major' }) => void;
const oldSpaceUsed = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')?.space_used_size ?? 0;

test('a tick kept leaves nothing for young collections to promote', () => {
  // A tick's samples lived two minutes as objects, so each was copied and promoted: about 200
  // bytes of old generation a sample. Kept as numbers, a full ring takes none.
  const MODELS = 100;
  const TICKS = 20;
  const history = new StatsHistory(30);
  const tick = (t: number): void => {
    const at = new Date(Date.UTC(2026, 11, 5, 7, 0, 0, t)).toISOString();
    for (let m = 0; m < MODELS; m++) {
      const s = varied(t + m);
      history.add(`m${m}`, { ...s, at, versions: s.versions.slice(0, 2) });
    }
  };
  let t = 0;
  for (; t < 60; t++) tick(t); // rings full and widened, code warm
  gc();
  const perSample: number[] = [];
  for (let round = 0; round < 5; round++) {
    gc({ type: 'minor' });
    gc({ type: 'minor' });
    const before = oldSpaceUsed();
    for (let i = 0; i < TICKS; i++, t++) tick(t);
    gc({ type: 'minor' });
    gc({ type: 'minor' });
    perSample.push((oldSpaceUsed() - before) / (TICKS * MODELS));
  }
  perSample.sort((a, b) => a - b);
  const median = perSample[2] as number;
  assert.ok(median < 16, `old generation grew ${median.toFixed(1)} bytes per sample kept (rounds: ${perSample.map((x) => x.toFixed(1)).join(', ')})`);
});
