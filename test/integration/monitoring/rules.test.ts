/**
 * deploy/prometheus through Prometheus' own tool: the rule files are valid, their unit tests pass
 * (`promtool test rules`), every alert has a test where it fires and one where it stays silent,
 * every recording rule has a test of its value, and the compose stack's prometheus.yml parses.
 * Needs /usr/bin/promtool (Debian's `prometheus` package): without it these tests fail.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { PROMETHEUS_DEPLOY_DIR, PROMTOOL_PATH } from '../../../scripts/lib/prometheus-server.js';
import { run } from '../deploy/repo-files.js';

const ruleFiles = readdirSync(join(PROMETHEUS_DEPLOY_DIR, 'rules')).filter((f) => f.endsWith('.yml')).map((f) => join(PROMETHEUS_DEPLOY_DIR, 'rules', f));
const testFiles = readdirSync(join(PROMETHEUS_DEPLOY_DIR, 'tests')).filter((f) => f.endsWith('.yml')).map((f) => join(PROMETHEUS_DEPLOY_DIR, 'tests', f));

interface RuleFile {
  groups: Array<{ name: string; rules: Array<{ alert?: string; record?: string; expr: string }> }>;
}
interface TestFile {
  rule_files: string[];
  tests: Array<{
    name?: string;
    alert_rule_test?: Array<{ alertname: string; eval_time: string; exp_alerts?: unknown[] }>;
    promql_expr_test?: Array<{ expr: string; exp_samples?: unknown[] }>;
  }>;
}

const rules = ruleFiles.flatMap((f) => (parseYaml(readFileSync(f, 'utf8')) as RuleFile).groups.flatMap((g) => g.rules));
const tests = testFiles.flatMap((f) => (parseYaml(readFileSync(f, 'utf8')) as TestFile).tests);

async function promtool(args: readonly string[]): Promise<{ code: number | null; output: string }> {
  const result = await run(PROMTOOL_PATH, args, process.env, 60_000, PROMETHEUS_DEPLOY_DIR).catch((err: Error) => {
    throw new Error(`cannot run ${PROMTOOL_PATH} (install Debian's prometheus package): ${err.message}`);
  });
  return { code: result.code, output: `${result.stdout}\n${result.stderr}` };
}

test('promtool check rules: every rule file is valid', async () => {
  assert.ok(ruleFiles.length >= 2, 'alerts and recording rules');
  const { code, output } = await promtool(['check', 'rules', ...ruleFiles]);
  assert.equal(code, 0, output);
});

test('promtool test rules: the unit tests of the alerts and the recording rules pass', async () => {
  assert.ok(testFiles.length >= 2);
  const { code, output } = await promtool(['test', 'rules', ...testFiles]);
  assert.equal(code, 0, output);
  assert.equal(output.match(/SUCCESS/g)?.length, testFiles.length, output);
});

test('every alert has a test where it fires and one where it stays silent', () => {
  const alerts = rules.flatMap((r) => (r.alert === undefined ? [] : [r.alert]));
  assert.ok(alerts.length >= 7, `${alerts.length} alerts`);
  const cases = tests.flatMap((t) => t.alert_rule_test ?? []);
  for (const alert of alerts) {
    const mine = cases.filter((c) => c.alertname === alert);
    assert.ok(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${alert}: a case where it fires`);
    assert.ok(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${alert}: a case where it stays silent`);
  }
  for (const c of cases) assert.ok(alerts.includes(c.alertname), `the tests name an alert that exists: ${c.alertname}`);
});

test('every recording rule has a test of the values it records', () => {
  const records = rules.flatMap((r) => (r.record === undefined ? [] : [r.record]));
  assert.ok(records.length >= 5, `${records.length} recording rules`);
  const exprs = tests.flatMap((t) => t.promql_expr_test ?? []).filter((e) => (e.exp_samples ?? []).length > 0).map((e) => e.expr);
  for (const record of records) {
    assert.ok(exprs.some((e) => new RegExp(`(^|[^\\w:])${record.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^\\w:])`).test(e)), `${record}: a promql_expr_test with expected samples`);
  }
});

test("promtool check config: the compose stack's prometheus.yml parses (its rule paths are the container's)", async () => {
  const { code, output } = await promtool(['check', 'config', '--syntax-only', join(PROMETHEUS_DEPLOY_DIR, 'prometheus.yml')]);
  assert.equal(code, 0, output);
});
