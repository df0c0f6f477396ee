/**
 * The Grafana dashboard of deploy/grafana/ as the tests and the docs picture read it: its panels,
 * their queries, and Grafana's template variables expanded the way Grafana does before it sends a
 * query to Prometheus.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** deploy/grafana/dashboards/canary-gateway.json (this file runs from dist/scripts/lib/). */
export const DASHBOARD_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../../../deploy/grafana/dashboards/canary-gateway.json');

export interface DashboardTarget {
  readonly refId: string;
  readonly expr: string;
  readonly legendFormat?: string;
  /** Asked as an instant query (stat panels); otherwise a range query. */
  readonly instant?: boolean;
}

export interface ValueMapping {
  readonly type: string;
  readonly options: Readonly<Record<string, { readonly text?: string; readonly color?: string }>>;
}

export interface DashboardPanel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly description?: string;
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly targets: readonly DashboardTarget[];
  /** Stat panels: whether the value or the whole panel takes the colour, and whether series names show. */
  readonly options?: { readonly colorMode?: string; readonly textMode?: string };
  readonly fieldConfig: {
    readonly defaults: {
      readonly unit?: string;
      readonly min?: number;
      readonly max?: number;
      readonly decimals?: number;
      readonly mappings?: readonly ValueMapping[];
      readonly thresholds?: { readonly steps: ReadonlyArray<{ readonly color: string; readonly value: number | null }> };
      readonly custom?: { readonly stacking?: { readonly mode?: string } };
    };
  };
}

export interface TemplateVariable {
  readonly name: string;
  readonly type: string;
  readonly query?: string | { readonly query: string };
  readonly definition?: string;
}

export interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly templating: { readonly list: readonly TemplateVariable[] };
  readonly panels: readonly DashboardPanel[];
}

export function loadDashboard(path = DASHBOARD_PATH): Dashboard {
  const dashboard = JSON.parse(readFileSync(path, 'utf8')) as Dashboard;
  if (!Array.isArray(dashboard.panels) || !Array.isArray(dashboard.templating?.list)) throw new Error(`${path}: not a Grafana dashboard`);
  return dashboard;
}

/**
 * Replaces `$name` and `${name}` (Grafana's variable syntaxes; `[[name]]` is deprecated and not
 * used here) with `values[name]`. An unknown variable is an error, so no query reaches Prometheus
 * with a `$` left in it.
 */
export function expandVariables(expr: string, values: Readonly<Record<string, string>>): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare) as string;
    const value = values[name];
    if (value === undefined) throw new Error(`unknown dashboard variable ${whole} in ${expr}`);
    return value;
  });
}

/** Grafana's legend: `{{label}}` replaced by the series' label value. */
export function legendOf(format: string | undefined, metric: Readonly<Record<string, string>>): string {
  if (format === undefined || format === '') return JSON.stringify(metric);
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, label: string) => metric[label] ?? '');
}

/** The label_values(metric, label) query of a template variable, split into its parts. */
export function labelValuesQuery(variable: TemplateVariable): { metric: string; label: string } {
  const text = typeof variable.query === 'string' ? variable.query : variable.query?.query ?? '';
  const match = /^label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*(\w+)\s*\)$/.exec(text);
  if (match === null) throw new Error(`variable ${variable.name}: not a label_values(metric, label) query: ${text}`);
  return { metric: match[1] as string, label: match[2] as string };
}
