/** A model's rolling shadow results: the window's figures, totals, the disagreements kept. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DISAGREEMENTS_KEPT, RESULTS_WINDOW, ShadowResults, type Disagreement } from '../../../gateway/src/analysis/shadow-results.js';

const pair = (outcome: 'agreed' | 'disagreed' | 'error' | 'skipped', latencyMs: number, diff = 0) => ({
  outcome,
  latencyMs,
  elements: outcome === 'error' || outcome === 'skipped' ? 0 : 2,
  sumAbsDiff: 2 * diff,
  maxAbsDiff: diff,
});

const disagreement = (n: number): Disagreement => ({ at: '', requestId: `r${n}`, protocol: 'rest', operation: 'predict', liveVersion: 1, detail: 'd', live: 'a', shadow: 'b' });

test('an empty window has no figures', () => {
  const s = new ShadowResults(2).summary();
  assert.deepEqual([s.window, s.compared, s.agreementRate, s.meanAbsDiff, s.maxAbsDiff, s.errorRate, s.p99Ms], [0, 0, null, null, null, null, null]);
});

test('agreement over compared pairs, errors over all the shadow was asked, skipped pairs out of the window', () => {
  const results = new ShadowResults(2);
  for (let i = 0; i < 6; i++) results.record(pair('agreed', 1));
  results.record(pair('disagreed', 1, 0.5), disagreement(1));
  results.record(pair('disagreed', 1, 1.5), disagreement(2));
  results.record(pair('error', 100));
  results.record(pair('error', 100));
  results.record(pair('skipped', 1));
  const s = results.summary();
  assert.equal(s.window, 10);
  assert.equal(s.compared, 8);
  assert.equal(s.agreementRate, 0.75);
  assert.equal(s.errorRate, 0.2);
  assert.equal(s.maxAbsDiff, 1.5);
  assert.equal(s.meanAbsDiff, (2 * 0.5 + 2 * 1.5) / 16);
  assert.equal(s.p99Ms, 100);
  assert.deepEqual(s.totals, { agreed: 6, disagreed: 2, error: 2, skipped: 1 });
  assert.deepEqual(s.disagreements.map((d) => d.requestId), ['r2', 'r1'], 'newest first');
});

test('the window rolls: old pairs leave it, totals keep counting; only the last disagreements are kept', () => {
  const results = new ShadowResults(2);
  for (let i = 0; i < RESULTS_WINDOW; i++) results.record(pair('disagreed', 5, 1), disagreement(i));
  for (let i = 0; i < RESULTS_WINDOW; i++) results.record(pair('agreed', 2));
  const s = results.summary();
  assert.equal(s.window, RESULTS_WINDOW);
  assert.equal(s.agreementRate, 1);
  assert.equal(s.maxAbsDiff, 0);
  assert.equal(s.p99Ms, 2);
  assert.equal(s.totals.disagreed, RESULTS_WINDOW);
  assert.equal(s.disagreements.length, DISAGREEMENTS_KEPT);
  assert.equal(s.disagreements[0]?.requestId, `r${RESULTS_WINDOW - 1}`);
});
