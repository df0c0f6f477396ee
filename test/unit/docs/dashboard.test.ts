/**
 * The dashboard reader (Grafana's variables and legends, as the real-Prometheus test and the docs
 * picture use them) and the picture's drawing: stacked series, lines broken where there is no
 * value, units, stat panels with their value mappings.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dashboardHtml, formatValue, linePath, stack, tickStep, type PanelData } from '../../../scripts/docs/dashboard-html.js';
import { expandVariables, labelValuesQuery, legendOf, loadDashboard, type DashboardPanel } from '../../../scripts/lib/dashboard.js';

test('variables: $name and ${name} expanded; an unknown one is an error, never sent with its $', () => {
  const values = { model: 'm', __rate_interval: '10s' };
  assert.equal(expandVariables('rate(x{model="$model"}[$__rate_interval]) + y{model="${model}"}', values), 'rate(x{model="m"}[10s]) + y{model="m"}');
  assert.throws(() => expandVariables('x[$__range]', values), /unknown dashboard variable \$__range/);
});

test('legends and the label_values variable query, as Grafana reads them', () => {
  assert.equal(legendOf('version {{version}} {{ protocol }}', { version: '2', protocol: 'rest' }), 'version 2 rest');
  assert.equal(legendOf('{{missing}}x', {}), 'x');
  assert.deepEqual(labelValuesQuery({ name: 'model', type: 'query', query: { query: 'label_values(canary_gateway_version_role, model)' } }), {
    metric: 'canary_gateway_version_role',
    label: 'model',
  });
  assert.throws(() => labelValuesQuery({ name: 'x', type: 'query', query: 'up' }), /not a label_values/);
});

test("the repository's dashboard: a model variable from label_values, every panel has queries and a place on the 24-column grid", () => {
  const dashboard = loadDashboard();
  assert.ok(dashboard.templating.list.some((v) => v.name === 'model' && labelValuesQuery(v).label === 'model'));
  for (const p of dashboard.panels) {
    assert.ok(p.targets.length > 0 && p.targets.every((t) => t.expr.includes('canary_gateway_')), p.title);
    assert.ok(p.gridPos.x >= 0 && p.gridPos.w > 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title} fits the grid`);
  }
  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
});

test('stacking sums the series point by point and keeps gaps as gaps', () => {
  const stacked = stack([
    { name: 'a', points: [[1, 0.8], [2, 0.5], [3, Number.NaN]] },
    { name: 'b', points: [[1, 0.2], [2, 0.5], [3, 1]] },
  ]);
  assert.deepEqual(stacked[1]!.points, [[1, 1], [2, 1], [3, 1]]);
  assert.ok(Number.isNaN(stacked[0]!.points[2]![1]));
});

test('a line is broken where a value is missing', () => {
  const d = linePath([[0, 1], [1, 2], [2, Number.NaN], [3, 4]], (t) => t * 10, (v) => v);
  assert.equal(d, 'M0.0,1.0L10.0,2.0M30.0,4.0');
});

test('axis steps are round: about four of them over the span', () => {
  assert.equal(tickStep(1), 0.25);
  assert.equal(tickStep(339), 100);
  assert.equal(tickStep(2.2), 1);
  assert.equal(tickStep(0.103), 0.05);
  assert.equal(tickStep(8), 2);
});

test('values in the units the panels use', () => {
  assert.equal(formatValue(0.1234, 'percentunit'), '12.3%');
  assert.equal(formatValue(20, 'percent'), '20%');
  assert.equal(formatValue(0.0123, 's'), '12.3 ms');
  assert.equal(formatValue(2.5, 's'), '2.5 s');
  assert.equal(formatValue(3, 'none', 0), '3');
  assert.equal(formatValue(Number.NaN, 'reqps'), 'n/a');
});

test('the page: panels where the grid puts them, a stat with its value mapping, one line per series with its legend', () => {
  const stat: DashboardPanel = {
    id: 1,
    type: 'stat',
    title: 'Rolled back',
    gridPos: { x: 0, y: 0, w: 4, h: 4 },
    targets: [{ refId: 'A', expr: 'x', instant: true }],
    options: { colorMode: 'background', textMode: 'value' },
    fieldConfig: { defaults: { mappings: [{ type: 'value', options: { '1': { text: 'yes', color: 'red' } } }] } },
  };
  const lines: DashboardPanel = {
    id: 2,
    type: 'timeseries',
    title: 'Requests',
    gridPos: { x: 12, y: 4, w: 12, h: 8 },
    targets: [{ refId: 'A', expr: 'y' }],
    fieldConfig: { defaults: { unit: 'reqps' } },
  };
  const data: PanelData[] = [
    { panel: stat, series: [{ name: 'rolled back', points: [[100, 1]] }] },
    { panel: lines, series: [{ name: 'version 1 rest', points: [[0, 1], [100, 3]] }, { name: 'version 2 rest', points: [[0, 2], [100, 0]] }] },
  ];
  const html = dashboardHtml(data, { title: 'canary-gateway', variables: { Model: 'm' }, from: 0, to: 100, width: 1216, caption: 'drawn <here>' });
  assert.match(html, /<section class="panel" style="left:8\.0px;top:0px;width:192\.0px;height:144px;background:#F2495C"><h2>Rolled back<\/h2>.*>yes</);
  assert.match(html, /left:608\.0px;top:152px;width:592\.0px/);
  assert.equal(html.match(/<path d="M[^"]*" fill="none"/g)?.length, 2, 'one line per series');
  assert.match(html, /version 1 rest<\/span>.*version 2 rest<\/span>/);
  assert.match(html, /drawn &lt;here&gt;/);
});
