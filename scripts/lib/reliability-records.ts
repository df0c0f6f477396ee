/**
 * What the chaos and adversarial suites report about each scenario, written where
 * `npm run docs:reliability` (scripts/docs/reliability-report.ts) reads it to build docs/reliability.md.
 * A suite records a scenario only after measuring it, whether or not it met its target, so the
 * published table shows misses too.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ScenarioRecord {
  /** chaos, data-port, admin-api: one table each in the document. */
  readonly suite: string;
  readonly scenario: string;
  /** The traffic during the scenario, e.g. "2 gateways, 6 clients (3 keyed), 1,900 req/s". */
  readonly load: string;
  /** What was done to the system. */
  readonly fault: string;
  readonly requests: number;
  /** Requests that failed against the target (those the target excuses are counted in `excused`). */
  readonly failures: number;
  /** Failures that the target allows (e.g. requests pinned to a version that was down), with why. */
  readonly excused?: number;
  /** Why requests failed or were excused: "503 pinned to version 2 while down" -> count. */
  readonly reasons: Readonly<Record<string, number>>;
  /** How every request was answered, when that is worth showing: "400 libevent page" -> count. */
  readonly answers?: Readonly<Record<string, number>>;
  readonly target: string;
  readonly met: boolean;
  /** Anything else the table should show (policy after the storm, memory before/after...). */
  readonly notes?: string;
  readonly durationMs: number;
}

export const RELIABILITY_DIR = fileURLToPath(new URL('../../../test-results/reliability/', import.meta.url));

const slug = (text: string): string => text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

export function recordScenario(record: ScenarioRecord): void {
  mkdirSync(RELIABILITY_DIR, { recursive: true });
  const file = join(RELIABILITY_DIR, `${slug(record.suite)}--${slug(record.scenario)}.json`);
  writeFileSync(file, `${JSON.stringify({ ...record, recordedAt: new Date().toISOString() }, null, 1)}\n`);
}
