/**
 * docs/reliability.md is rendered from the suites' records (scripts/docs/reliability-report.ts): one
 * table per suite, misses shown as misses, a suite without records called out, and the committed
 * document complete and linked from the README.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readRecords, renderReport, SUITES } from '../../../scripts/docs/reliability-report.js';
import type { ScenarioRecord } from '../../../scripts/lib/reliability-records.js';
import { readRepoFile } from '../../integration/deploy/repo-files.js';

const record = (overrides: Partial<ScenarioRecord>): ScenarioRecord => ({
  suite: 'chaos',
  scenario: 'replica killed',
  load: '8 clients',
  fault: 'SIGKILL | one replica',
  requests: 12_345,
  failures: 0,
  excused: 0,
  reasons: {},
  target: 'no failed request',
  met: true,
  durationMs: 4_200,
  ...overrides,
});

test('one table per suite; a miss is shown as missed with its reasons; a suite without records says so', () => {
  const doc = renderReport(
    [
      record({}),
      record({
        suite: 'data-port',
        scenario: 'slow headers',
        failures: 2,
        met: false,
        reasons: { '200 from replica': 2 },
        answers: { '200 from replica': 2, '408 TF error': 3 },
        target: 'clear 4xx',
      }),
    ],
    new Date('2026-11-25T00:00:00Z'),
    '2 × test CPU',
  );
  assert.match(doc, /\*\*1 of 2 scenarios met their target\.\*\*/);
  assert.match(doc, /^## Chaos under load$/m);
  // Table cells escape the pipe, and counts are grouped.
  assert.match(doc, /^\| replica killed \| 8 clients \| SIGKILL \\\| one replica \| 12,345 \| 0 \| 0 \| met: no failed request \|$/m);
  assert.match(doc, /^\| slow headers \| .* \| 2 \| 0 \| \*\*missed\*\*: clear 4xx \|$/m);
  // Every answer by kind, most frequent first, and apart from them the ones that missed the target.
  assert.match(doc, /answers: 3 × 408 TF error; 2 × 200 from replica\. failed or excused: 2 × 200 from replica$/m);
  const adminSection = doc.slice(doc.indexOf(`## ${SUITES['admin-api']!.title}`));
  assert.match(adminSection, /^_No records: the suite did not run\._$/m);
  assert.match(doc, /^## Security model$/m);
});

test('records are read in suite order, then in the order they were recorded', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-reliability-'));
  try {
    const write = (file: string, r: ScenarioRecord, at: string): void => writeFileSync(join(dir, file), JSON.stringify({ ...r, recordedAt: at }));
    write('a.json', record({ suite: 'admin-api', scenario: 'tokens' }), '2026-01-01T00:00:00Z');
    write('b.json', record({ scenario: 'second' }), '2026-01-01T00:00:02Z');
    write('c.json', record({ scenario: 'first' }), '2026-01-01T00:00:01Z');
    writeFileSync(join(dir, 'notes.txt'), 'not a record');
    assert.deepEqual(readRecords(dir).map((r) => r.scenario), ['first', 'second', 'tokens']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('docs/reliability.md is complete (every suite has records, every target met) and linked from the README', () => {
  const doc = readRepoFile('docs/reliability.md');
  for (const info of Object.values(SUITES)) assert.match(doc, new RegExp(`^## ${info.title}$`, 'm'));
  assert.doesNotMatch(doc, /_No records/);
  const summary = /\*\*(\d+) of (\d+) scenarios met their target\.\*\*/.exec(doc);
  assert.ok(summary !== null, 'the summary line');
  assert.equal(summary[1], summary[2], 'docs/reliability.md publishes a missed target');
  assert.match(readRepoFile('README.md'), /\]\(docs\/reliability\.md\)/);
});
