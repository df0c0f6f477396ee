/**
 * A real Prometheus (Debian's /usr/bin/prometheus) scraping a real gateway every second, with the
 * repository's rule files as they are: a canary melts down, the controller rolls it back, and the
 * CanaryRolledBack alert fires (it has no `for:`, so no shortened copy of the rules is needed).
 * Then every query of the Grafana dashboard is sent to that Prometheus the way Grafana would send
 * it (template variables expanded): each must parse and return at least one series.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { expandVariables, labelValuesQuery, loadDashboard } from '../../../scripts/lib/dashboard.js';
import { startMonitoredStack, type MonitoredStack } from '../../../scripts/lib/monitoring-stack.js';
import { GATEWAY_JOB } from '../../../scripts/lib/prometheus-server.js';
import { waitFor } from '../../helpers/gateway.js';

let stack: MonitoredStack;
before(async () => {
  stack = await startMonitoredStack({ percent: 20, intervalSeconds: 1 });
});
after(async () => {
  await stack?.close();
});

const firing = async (alertname: string): Promise<boolean> =>
  (await stack.prometheus.alerts()).some((a) => a.labels['alertname'] === alertname && a.labels['model'] === stack.model && a.state === 'firing');

test('a canary meltdown: the controller rolls back and Prometheus fires CanaryRolledBack', async () => {
  const traffic = stack.startTraffic(4, 5);
  try {
    const prom = stack.prometheus;
    await waitFor(async () => (await prom.query(`up{job="${GATEWAY_JOB}"} == 1`)).length === 1, 30_000, 'Prometheus scraping the gateway');
    // The recording rules evaluate on the scraped series, canary traffic included.
    await waitFor(
      async () => (await prom.query(`model_version_protocol:canary_gateway_requests:rate1m{model="${stack.model}",version="2",protocol="rest"} > 0`)).length === 1,
      30_000,
      'canary traffic in the recording rules',
    );
    // Ten seconds of healthy traffic first, so the dashboard's rates have a history before the fault.
    await waitFor(async () => (await prom.query(`count_over_time(up{job="${GATEWAY_JOB}"}[1m]) >= 10`)).length === 1, 30_000, 'ten scrapes');
    assert.equal(await firing('CanaryRolledBack'), false, 'silent while the canary is healthy');

    stack.meltdown();
    await waitFor(() => stack.rolledBack(), 30_000, 'the rollback controller rolling the canary back');
    await waitFor(() => firing('CanaryRolledBack'), 30_000, 'CanaryRolledBack firing');
    const alert = (await prom.alerts()).find((a) => a.labels['alertname'] === 'CanaryRolledBack');
    assert.equal(alert?.labels['severity'], 'warning');
    assert.match(alert?.annotations['summary'] ?? '', new RegExp(`Canary of ${stack.model} rolled back`));
  } finally {
    await traffic.stop();
  }
  const answered = [...traffic.byStatus.values()].reduce((a, b) => a + b, 0);
  assert.ok(answered > 100, `${answered} requests answered`);
  assert.equal(traffic.errors.count, 0, traffic.errors.first);
});

test('every dashboard query parses and returns series from the Prometheus that watched the meltdown', async () => {
  const dashboard = loadDashboard();
  const prom = stack.prometheus;
  const variable = dashboard.templating.list.find((v) => v.name === 'model');
  assert.ok(variable, 'a model variable');
  const { metric, label } = labelValuesQuery(variable);
  assert.ok((await prom.labelValues(label, metric)).includes(stack.model), `label_values(${metric}, ${label}) offers ${stack.model}`);

  // What Grafana substitutes: the model picked, and intervals for a 1 s scrape interval.
  const values = { model: stack.model, __rate_interval: '10s', __interval: '2s', __range: '5m' };
  const now = Date.now() / 1000;
  const checked: string[] = [];
  for (const panel of dashboard.panels) {
    assert.ok(panel.targets.length > 0, `${panel.title}: has a query`);
    for (const target of panel.targets) {
      const expr = expandVariables(target.expr, values);
      const where = `panel "${panel.title}" ${target.refId}: ${expr}`;
      const instant = await prom.query(expr).catch((err: Error) => assert.fail(`${where}: ${err.message}`));
      assert.ok(instant.length > 0, `${where}: no series`);
      if (target.instant !== true) {
        const range = await prom.queryRange(expr, now - 60, now, 1).catch((err: Error) => assert.fail(`${where}: ${err.message}`));
        assert.ok(range.length > 0 && range.some((s) => s.values.length > 1), `${where}: no series over the last minute`);
      }
      checked.push(`${panel.title}/${target.refId}`);
    }
  }
  assert.ok(checked.length >= 10, `${checked.length} queries checked`);
});
