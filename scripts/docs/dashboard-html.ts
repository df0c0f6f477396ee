/**
 * Draws a Grafana dashboard's panels as one HTML page (inline SVG charts in the dashboard's grid
 * layout, Grafana's dark colours) from query results already fetched, for the docs picture. Not a
 * Grafana: time series as lines (stacked areas where the panel stacks), stat panels as their last
 * value with the panel's value mappings and thresholds.
 */
import { legendOf, type DashboardPanel } from '../lib/dashboard.js';

export interface SeriesData {
  readonly name: string;
  /** [seconds since the epoch, value]; NaN breaks the line. */
  readonly points: ReadonlyArray<readonly [number, number]>;
}

export interface PanelData {
  readonly panel: DashboardPanel;
  /** Time series panels: every series of every target over the range. */
  readonly series: readonly SeriesData[];
}

export interface PageOptions {
  readonly title: string;
  readonly variables: Readonly<Record<string, string>>;
  readonly from: number;
  readonly to: number;
  /** Width of the page in CSS pixels (24 grid columns). */
  readonly width: number;
  readonly caption: string;
}

const ROW_PX = 30;
const GAP_PX = 8;
const PALETTE = ['#73BF69', '#F2CC0C', '#5794F2', '#FF9830', '#F2495C', '#B877D9', '#8AB8FF', '#FADE2A'];
const NAMED: Readonly<Record<string, string>> = { green: '#73BF69', red: '#F2495C', orange: '#FF9830', blue: '#5794F2', yellow: '#FADE2A' };

const escape = (text: string): string => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
const colour = (name: string | undefined): string => (name === undefined ? '#CCCCDC' : NAMED[name] ?? name);

/** A value as the panel's unit shows it. */
export function formatValue(value: number, unit: string | undefined, decimals?: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  const fixed = (v: number, d: number): string => (decimals === undefined ? Number(v.toFixed(d)).toString() : v.toFixed(decimals));
  switch (unit) {
    case 'percent':
      return `${fixed(value, 1)}%`;
    case 'percentunit':
      return `${fixed(value * 100, 1)}%`;
    case 'reqps':
      return `${fixed(value, 1)} req/s`;
    case 's':
      return value < 1 ? `${fixed(value * 1000, 1)} ms` : `${fixed(value, 2)} s`;
    default:
      return fixed(value, 2);
  }
}

/** Sums the series point by point (same timestamps, as a range query returns them), bottom first. */
export function stack(series: readonly SeriesData[]): SeriesData[] {
  const totals = new Map<number, number>();
  return series.map((s) => ({
    name: s.name,
    points: s.points.map(([t, v]) => {
      const sum = (totals.get(t) ?? 0) + (Number.isFinite(v) ? v : 0);
      totals.set(t, sum);
      return [t, Number.isFinite(v) ? sum : Number.NaN] as const;
    }),
  }));
}

/** SVG path data for a line, broken at NaN. */
export function linePath(points: ReadonlyArray<readonly [number, number]>, x: (t: number) => number, y: (v: number) => number): string {
  let d = '';
  let pen = false;
  for (const [t, v] of points) {
    if (!Number.isFinite(v)) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
    pen = true;
  }
  return d;
}

function timeLabel(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(11, 19);
}

/** A round step (1, 2, 2.5 or 5 times a power of ten) giving about four intervals over `span`. */
export function tickStep(span: number): number {
  const raw = span / 4;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((candidate) => candidate >= raw * 0.999) as number;
}

/** Rows the legend wraps to (about 6 px a character at 11 px, plus the swatch and the gap). */
function legendRows(names: readonly string[], width: number): number {
  let rows = 1;
  let used = 0;
  for (const name of names) {
    const item = name.length * 6 + 29;
    if (used > 0 && used + item > width) {
      rows++;
      used = 0;
    }
    used += item;
  }
  return rows;
}

/** The chart and its legend, within `width` x `space` pixels. */
function timeSeriesSvg(data: PanelData, width: number, space: number, from: number, to: number): string {
  const defaults = data.panel.fieldConfig.defaults;
  const stacked = defaults.custom?.stacking?.mode === 'normal';
  const drawn = stacked ? stack(data.series) : [...data.series];
  const height = space - legendRows(drawn.map((s) => s.name), width) * 16 - 4;
  const values = drawn.flatMap((s) => s.points.map(([, v]) => v)).filter(Number.isFinite);
  const low = defaults.min ?? Math.min(0, ...values);
  const step = tickStep((defaults.max ?? Math.max(...values, low + 1e-9) * 1.05) - low);
  const top = defaults.max ?? low + Math.ceil((Math.max(...values, low + 1e-9) * 1.05 - low) / step) * step;
  const left = 64;
  const bottom = 20;
  const plotW = width - left - 8;
  const plotH = height - bottom - 6;
  const x = (t: number): number => left + ((t - from) / (to - from)) * plotW;
  const y = (v: number): number => 6 + plotH - ((v - low) / (top - low)) * plotH;
  const parts: string[] = [];
  for (let v = low; v <= top + step / 1e6; v += step) {
    parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#2c3235"/>`);
    parts.push(`<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${escape(formatValue(v, defaults.unit))}</text>`);
  }
  for (let i = 0; i <= 4; i++) {
    const t = from + ((to - from) * i) / 4;
    parts.push(`<text x="${x(t).toFixed(1)}" y="${height - 4}" text-anchor="${i === 0 ? 'start' : i === 4 ? 'end' : 'middle'}">${timeLabel(t)}</text>`);
  }
  drawn.forEach((s, i) => {
    const c = PALETTE[i % PALETTE.length] as string;
    const line = linePath(s.points, x, y);
    if (line === '') return;
    if (stacked) {
      const below = i === 0 ? undefined : drawn[i - 1];
      const base = (t: number): number => below?.points.find(([bt]) => bt === t)?.[1] ?? low;
      const finite = s.points.filter(([, v]) => Number.isFinite(v));
      const back = [...finite].reverse().map(([t]) => `L${x(t).toFixed(1)},${y(Number.isFinite(base(t)) ? base(t) : low).toFixed(1)}`).join('');
      parts.push(`<path d="${line}${back}Z" fill="${c}" fill-opacity="0.35" stroke="none"/>`);
    }
    parts.push(`<path d="${line}" fill="none" stroke="${c}" stroke-width="1.5"/>`);
  });
  const legend = drawn
    .map((s, i) => `<span class="key"><i style="background:${PALETTE[i % PALETTE.length]}"></i>${escape(s.name)}</span>`)
    .join('');
  return `<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}</svg><div class="legend">${legend}</div>`;
}

function statHtml(data: PanelData): { html: string; background: string | undefined } {
  const defaults = data.panel.fieldConfig.defaults;
  const options = data.panel.options ?? {};
  const steps = defaults.thresholds?.steps ?? [];
  let background: string | undefined;
  const cells = data.series.map((s) => {
    const last = [...s.points].reverse().find(([, v]) => Number.isFinite(v))?.[1] ?? Number.NaN;
    const mapped = defaults.mappings?.flatMap((m) => (m.type === 'value' ? [m.options[String(last)]] : [])).find((o) => o !== undefined);
    const step = [...steps].reverse().find((st) => st.value === null || last >= st.value);
    const c = colour(mapped?.color ?? step?.color);
    const text = mapped?.text ?? formatValue(last, defaults.unit, defaults.decimals);
    if (options.colorMode === 'background') background = c;
    const style = options.colorMode === 'background' ? '' : ` style="color:${c}"`;
    const name = options.textMode === 'value' ? '' : `<div class="stat-name">${escape(s.name)}</div>`;
    return `<div class="stat">${name}<div class="stat-value"${style}>${escape(text)}</div></div>`;
  });
  return { html: `<div class="stats">${cells.join('')}</div>`, background };
}

/** The whole dashboard page. */
export function dashboardHtml(panels: readonly PanelData[], options: PageOptions): string {
  const column = (options.width - 2 * GAP_PX) / 24;
  const boxes = panels.map((data) => {
    const { x, y, w, h } = data.panel.gridPos;
    const width = w * column - GAP_PX;
    const height = h * ROW_PX + (h - 1) * GAP_PX;
    const innerH = height - 34;
    const style = `left:${(x * column + GAP_PX).toFixed(1)}px;top:${y * (ROW_PX + GAP_PX)}px;width:${width.toFixed(1)}px;height:${height}px`;
    let body: string;
    let background: string | undefined;
    if (data.panel.type === 'stat') ({ html: body, background } = statHtml(data));
    else body = timeSeriesSvg(data, Math.floor(width - 16), innerH, options.from, options.to);
    return `<section class="panel" style="${style}${background === undefined ? '' : `;background:${background}`}"><h2>${escape(data.panel.title)}</h2>${body}</section>`;
  });
  const rows = Math.max(...panels.map((p) => p.panel.gridPos.y + p.panel.gridPos.h));
  const vars = Object.entries(options.variables).map(([k, v]) => `<span class="var"><b>${escape(k)}</b> ${escape(v)}</span>`).join('');
  return `<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;background:#111217;color:#ccccdc;font:12px Inter,"Helvetica Neue",Arial,sans-serif;width:${options.width}px}
header{display:flex;gap:16px;align-items:center;padding:12px ${GAP_PX}px 8px}
header h1{font-size:18px;font-weight:500;margin:0 12px 0 0;color:#fff}
.var{background:#181b1f;border:1px solid #2c3235;padding:4px 8px;border-radius:2px}.var b{color:#6e9fff;font-weight:500;margin-right:6px}
.range{margin-left:auto;color:#9fa7b3}
.grid{position:relative;height:${rows * (ROW_PX + GAP_PX)}px}
.panel{position:absolute;box-sizing:border-box;background:#181b1f;border:1px solid #2c3235;border-radius:2px;padding:6px 8px;overflow:hidden}
.panel h2{font-size:13px;font-weight:500;margin:0 0 6px;color:#d8d9da}
svg text{fill:#9fa7b3;font-size:10px}
.legend{display:flex;flex-wrap:wrap;gap:4px 12px;margin-top:2px;color:#ccccdc;font-size:11px}
.key i{display:inline-block;width:12px;height:3px;margin-right:5px;vertical-align:middle}
.stats{display:flex;gap:16px;justify-content:space-around;align-items:center;height:calc(100% - 26px)}
.stat{text-align:center}.stat-name{color:#ccccdc;font-size:12px}.stat-value{font-size:28px;font-weight:500;color:#fff}
footer{padding:6px ${GAP_PX}px 10px;color:#9fa7b3;font-size:11px}
</style></head><body>
<header><h1>${escape(options.title)}</h1>${vars}<span class="range">${timeLabel(options.from)} to ${timeLabel(options.to)} UTC</span></header>
<div class="grid">${boxes.join('')}</div>
<footer>${escape(options.caption)}</footer>
</body></html>`;
}

/** A query's series with their legend names as Grafana would write them, in the legend's order. */
export function seriesOf(legendFormat: string | undefined, result: ReadonlyArray<{ metric: Record<string, string>; values: ReadonlyArray<[number, string]> }>): SeriesData[] {
  return result
    .map((r) => ({ name: legendOf(legendFormat, r.metric), points: r.values.map(([t, v]) => [t, Number(v)] as const) }))
    .sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
}
