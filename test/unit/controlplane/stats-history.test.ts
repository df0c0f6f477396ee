/** The stats history behind the event stream's snapshot: bounded per model, oldest first. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
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
