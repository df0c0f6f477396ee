#!/usr/bin/env node
/**
 * `npm run docs:dashboard`: docs/screenshots/dashboard.png, the Grafana dashboard of
 * deploy/grafana/ as it looks during a canary meltdown. Grafana is not available here, so this runs
 * the real rest (simulated replicas, the gateway, a real Prometheus with the repository's rules),
 * sends each panel's own query from the dashboard JSON to Prometheus, draws the answers in the
 * dashboard's layout and screenshots that page in headless Chromium. About 3 minutes
 * (`-- --quick`: 40 seconds, for trying changes).
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { expandVariables, loadDashboard } from '../lib/dashboard.js';
import { startMonitoredStack } from '../lib/monitoring-stack.js';
import { GATEWAY_JOB } from '../lib/prometheus-server.js';
import { dashboardHtml, seriesOf, type PanelData } from './dashboard-html.js';

const OUTPUT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../docs/screenshots/dashboard.png');
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const quick = process.argv.includes('--quick');
/** Healthy traffic before the meltdown, and traffic after the rollback, in seconds. */
const HEALTHY_S = quick ? 20 : 100;
const AFTER_S = quick ? 20 : 80;
const STEP_S = 2;
/** What Grafana would substitute for rates here (1 s scrapes, a few minutes on screen). */
const RATE_INTERVAL = '10s';
const WIDTH = 1400;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const clock = (seconds: number): string => new Date(seconds * 1000).toISOString().slice(11, 19);

async function main(): Promise<void> {
  const dashboard = loadDashboard();
  const stack = await startMonitoredStack({ percent: 20, intervalSeconds: 1 });
  try {
    const traffic = stack.startTraffic(4, 5);
    const deadline = Date.now() + 30_000;
    while ((await stack.prometheus.query(`up{job="${GATEWAY_JOB}"} == 1`)).length === 0) {
      if (Date.now() > deadline) throw new Error('Prometheus did not scrape the gateway within 30 s');
      await sleep(250);
    }
    const from = Date.now() / 1000;
    process.stdout.write(`dashboard-picture: healthy traffic for ${HEALTHY_S} s\n`);
    await sleep(HEALTHY_S * 1000);
    stack.meltdown();
    const meltdownAt = Date.now() / 1000;
    process.stdout.write(`dashboard-picture: canary melts down at ${clock(meltdownAt)}\n`);
    while (!stack.rolledBack()) {
      if (Date.now() / 1000 > meltdownAt + 30) throw new Error('no rollback within 30 s of the meltdown');
      await sleep(50);
    }
    process.stdout.write(`dashboard-picture: rolled back after ${(Date.now() / 1000 - meltdownAt).toFixed(1)} s; traffic for ${AFTER_S} s more\n`);
    await sleep(AFTER_S * 1000);
    const to = Date.now() / 1000;
    await traffic.stop();

    const values = { model: stack.model, __rate_interval: RATE_INTERVAL, __interval: `${STEP_S}s`, __range: `${Math.ceil(to - from)}s` };
    const panels: PanelData[] = [];
    for (const panel of dashboard.panels) {
      const series = [];
      for (const target of panel.targets) {
        const expr = expandVariables(target.expr, values);
        if (target.instant === true) {
          const result = await stack.prometheus.query(expr, to);
          series.push(...seriesOf(target.legendFormat, result.map((r) => ({ metric: r.metric, values: [r.value] }))));
        } else {
          series.push(...seriesOf(target.legendFormat, await stack.prometheus.queryRange(expr, from, to, STEP_S)));
        }
      }
      panels.push({ panel, series });
    }
    const caption =
      `Rendered by npm run docs:dashboard from the dashboard's own queries against a real Prometheus scraping a gateway ` +
      `(model ${stack.model}: stable version 1 on two simulated replicas, canary version 2 at 20% on one); the canary answers ` +
      `every request with a 500 from ${clock(meltdownAt)} and is rolled back. Grafana draws the same panels.`;
    const html = dashboardHtml(panels, { title: dashboard.title, variables: { Model: stack.model }, from, to, width: WIDTH, caption });

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      timeout: 30_000,
    });
    try {
      const page = await browser.newPage({ viewport: { width: WIDTH, height: 400 } });
      await page.setContent(html);
      mkdirSync(dirname(OUTPUT), { recursive: true });
      await page.screenshot({ path: OUTPUT, fullPage: true });
    } finally {
      await browser.close();
    }
    process.stdout.write(`dashboard-picture: wrote ${OUTPUT}\n`);
  } finally {
    await stack.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`dashboard-picture: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
