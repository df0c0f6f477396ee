/**
 * Small SVG line charts, one line per version, drawn at the container's real width (text stays
 * legible on a phone, which a scaled viewBox would not give). Canary lines are dashed so the
 * versions differ by more than colour.
 */
import type { RefObject } from 'preact';
import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { ms, rate, rps } from './format';
import { HISTORY_SECONDS, type ChartPoint, type Sample } from './live';

interface Metric {
  title: string;
  pick: (v: ChartPoint) => number | null;
  format: (value: number) => string;
  /** The y axis goes at least this high, so a flat line near zero does not fill the chart. */
  floor: number;
  /** A line's name in the legend; default `v<version> <role>`. */
  label?: (version: number) => string;
}

const METRICS: Metric[] = [
  { title: 'Requests per second', pick: (v) => v.rps, format: rps, floor: 1 },
  { title: 'Error rate', pick: (v) => v.errorRate, format: rate, floor: 0.01 },
  { title: 'p99 latency', pick: (v) => v.p99Ms, format: (v) => ms(v), floor: 10 },
];

const HEIGHT = 150;
const PAD = { left: 56, right: 12, top: 10, bottom: 22 };

export function Charts({ samples }: { samples: Sample[] }) {
  if (samples.length === 0) return <p class="muted">Waiting for the first stats from the gateway…</p>;
  return (
    <div class="charts">
      {METRICS.map((m) => (
        <Chart key={m.title} metric={m} samples={samples} />
      ))}
    </div>
  );
}

const AGREEMENT: Metric = { title: 'Shadow agreement', pick: (v) => v.rps, format: rate, floor: 1, label: (version) => `v${version} shadow` };

/**
 * The shadow's agreement over time, drawn as one more chart: each tick's agreement as a point of
 * the shadow version (the line breaks where a tick had no results, or the shadow version changed).
 */
export function AgreementChart({ samples }: { samples: Sample[] }) {
  if (!samples.some((s) => s.shadow !== undefined)) return null;
  const points: Sample[] = samples.map((s) => ({
    t: s.t,
    versions:
      s.shadow === undefined || s.shadow.agreementRate === null
        ? []
        : [{ version: s.shadow.version, role: 'idle', rps: s.shadow.agreementRate, errorRate: 0, p50Ms: null, p99Ms: null }],
  }));
  return (
    <div class="charts">
      <Chart metric={AGREEMENT} samples={points} />
    </div>
  );
}

function useWidth(): [RefObject<HTMLDivElement | null>, number] {
  const ref = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(0);
  useLayoutEffect(() => {
    const el = ref.current;
    if (el === null) return;
    const observer = new ResizeObserver(() => setWidth(el.clientWidth));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

function niceMax(value: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return ([1, 2, 2.5, 5, 10].find((f) => f * magnitude >= value) ?? 10) * magnitude;
}

function Chart({ metric, samples }: { metric: Metric; samples: Sample[] }) {
  const [ref, width] = useWidth();
  const last = samples[samples.length - 1] as Sample;
  const versions = new Map<number, ChartPoint['role']>();
  for (const s of samples) for (const v of s.versions) versions.set(v.version, v.role);
  let top = metric.floor;
  for (const s of samples) for (const v of s.versions) top = Math.max(top, metric.pick(v) ?? 0);
  top = niceMax(top);

  const plotW = Math.max(10, width - PAD.left - PAD.right);
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  // The last minute at least, growing to the whole history as it fills: a page opened a moment
  // ago should not squeeze its few seconds into the right edge of five minutes.
  const span = Math.min(HISTORY_SECONDS * 1000, Math.max(60_000, last.t - (samples[0] as Sample).t));
  const x = (t: number): number => PAD.left + plotW * (1 - (last.t - t) / span);
  const y = (value: number): number => PAD.top + plotH * (1 - value / top);

  const lines = [...versions].map(([version, role]) => {
    let d = '';
    // A run of one sample (the first tick, or one between two gaps) is a path of a single point,
    // which a stroke does not show: it gets a dot.
    const dots: Array<[number, number]> = [];
    let run: Array<[number, number]> = [];
    const endRun = (): void => {
      if (run.length === 1) dots.push(run[0] as [number, number]);
      run = [];
    };
    for (const s of samples) {
      const v = s.versions.find((e) => e.version === version);
      const value = v === undefined ? null : metric.pick(v);
      if (value === null) {
        endRun(); // a gap: no request in the window, so no latency to draw
        continue;
      }
      const point: [number, number] = [x(s.t), y(value)];
      d += `${run.length > 0 ? 'L' : 'M'}${point[0].toFixed(1)},${point[1].toFixed(1)}`;
      run.push(point);
    }
    endRun();
    const now = last.versions.find((e) => e.version === version);
    const value = now === undefined ? null : metric.pick(now);
    return { version, role, d, dots, now: value === null ? '—' : metric.format(value) };
  });
  const spanText = span >= 120_000 ? `${Math.round(span / 60_000)} min` : `${Math.round(span / 1000)} s`;
  const summary = lines.map((l) => `version ${l.version} (${l.role}) ${l.now}`).join(', ');

  return (
    <figure class="chart">
      <figcaption>
        <span class="chart-title">{metric.title}</span>
        <span class="legend">
          {lines.map((l) => (
            <span key={l.version} class={`key role-${l.role}`}>
              <svg width="18" height="8" aria-hidden="true">
                <line x1="0" y1="4" x2="18" y2="4" class={`line role-${l.role}`} />
              </svg>
              {metric.label?.(l.version) ?? `v${l.version} ${l.role}`} <b>{l.now}</b>
            </span>
          ))}
        </span>
      </figcaption>
      <div ref={ref} class="chart-box">
        {width > 0 && (
          <svg width={width} height={HEIGHT} role="img" aria-label={`${metric.title} over the last ${spanText}: now ${summary}`}>
            {[0, 0.5, 1].map((f) => (
              <g key={f}>
                <line class="grid" x1={PAD.left} x2={PAD.left + plotW} y1={y(top * f)} y2={y(top * f)} />
                <text class="tick" x={PAD.left - 6} y={y(top * f) + 4} text-anchor="end">
                  {f === 0 ? '0' : metric.format(top * f)}
                </text>
              </g>
            ))}
            <text class="tick" x={PAD.left} y={HEIGHT - 6}>
              −{spanText}
            </text>
            <text class="tick" x={PAD.left + plotW} y={HEIGHT - 6} text-anchor="end">
              now
            </text>
            {lines.map((l) => (
              <g key={l.version} data-version={l.version}>
                <path d={l.d} class={`line role-${l.role}`} />
                {l.dots.map(([cx, cy]) => (
                  <circle key={cx} cx={cx.toFixed(1)} cy={cy.toFixed(1)} r="3" class={`dot role-${l.role}`} />
                ))}
              </g>
            ))}
          </svg>
        )}
      </div>
    </figure>
  );
}
