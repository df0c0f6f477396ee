/** The bench's results: their shape (the JSON file), the markdown tables and the SVG chart. */
import type { CpuShares, LoadgenMeasurement } from './measure.js';

export interface RoundFigures {
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  /** Socket errors and non-2xx answers. */
  readonly errors: number;
  readonly cpu: CpuShares | undefined;
}

export interface TargetSummary {
  readonly key: string;
  readonly label: string;
  /** Medians over the rounds, each figure on its own. */
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** (max - min) / median of the rounds' req/s, percent. */
  readonly spreadPct: number;
  readonly errors: number;
  readonly cpu: CpuShares | undefined;
  readonly vsNginx: number | undefined;
  readonly vsReplyFrom: number | undefined;
  readonly rounds: readonly RoundFigures[];
}

export interface LatencyFigures {
  /** Medians over the rounds, ms, counted from each request's due time. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** The same from the actual send, without the generator's own lateness. */
  readonly serviceP50Ms: number;
  readonly serviceP99Ms: number;
  readonly sendLagP99Ms: number;
  readonly achievedRate: number;
  readonly failed: number;
  readonly runs: readonly LoadgenMeasurement[];
}

export interface LatencySummary {
  readonly rate: number;
  readonly connections: number;
  readonly direct: LatencyFigures;
  readonly gateway: LatencyFigures;
  readonly addedP50Ms: number;
  readonly addedP99Ms: number;
}

export interface PairSummary {
  readonly what: string;
  readonly baseline: TargetSummary;
  readonly variant: TargetSummary;
  /** variant / baseline req/s. */
  readonly ratio: number;
}

export interface MemorySummary {
  readonly connections: number;
  /** MB = 10^6 bytes. */
  readonly idleMB: number;
  /** Highest VmRSS sampled every 100 ms during the run. */
  readonly peakMB: number;
  /** VmHWM at the end: the process's lifetime peak, warm-up included. */
  readonly hwmMB: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly cpu: CpuShares | undefined;
}

export interface TargetCheck {
  readonly target: string;
  readonly figure: string;
  /** undefined: the section was not run. */
  readonly met: boolean | undefined;
}

export interface BenchReport {
  readonly date: string;
  readonly machine: string;
  readonly software: string;
  readonly command: string;
  readonly settings: Readonly<Record<string, string | number>>;
  readonly busyAtStartPct: number;
  readonly throughput: readonly TargetSummary[] | undefined;
  readonly latency: LatencySummary | undefined;
  readonly replicas: PairSummary | undefined;
  /** The many-replica pool with and without deterministic subsetting. */
  readonly replicasSubset?: PairSummary | undefined;
  readonly rules: PairSummary | undefined;
  readonly memory: MemorySummary | undefined;
  readonly cluster: string;
  readonly targets: readonly TargetCheck[];
  readonly notes: readonly string[];
}

export const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
export const fmtMs = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');
export const fmtRatio = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? '' : `${n.toFixed(2)}x`);
const fmtCpu = (c: CpuShares | undefined): string => (c === undefined ? '' : `${c.target} / ${c.backend} / ${c.load}`);

export function markdown(report: BenchReport): string {
  const out: string[] = [];
  const s = report.settings;
  out.push(`# canary-gateway benchmark, ${report.date}`, '', `${report.machine}; ${report.software}`, '', `\`${report.command}\``, '');
  if (report.throughput !== undefined) {
    out.push(
      `## Throughput: wrk, ${s['connections']} connections, POST ${s['path']}; median of ${s['rounds']} rounds x ${s['durationS']} s, targets alternated`,
      '',
      '| target | req/s | p50 ms | p99 ms | vs nginx | vs reply-from | rounds req/s (spread) | CPU % target / backend / wrk |',
      '|---|---:|---:|---:|---:|---:|---|---|',
      ...report.throughput.map(
        (t) =>
          `| ${t.label} | ${fmtInt(t.rps)} | ${fmtMs(t.p50Ms)} | ${fmtMs(t.p99Ms)} | ${fmtRatio(t.vsNginx)} | ${fmtRatio(t.vsReplyFrom)} | ${t.rounds.map((r) => fmtInt(r.rps)).join(', ')} (${t.spreadPct.toFixed(0)}%) | ${fmtCpu(t.cpu)} |`,
      ),
      '',
      `wrk, the backend and the target share the machine's cores; CPU columns are percent of one core over a run (median of the rounds). Direct is one backend process answering wrk: the ceiling of this setup, not of nginx.`,
      '',
    );
  }
  out.push('## Further figures', '', '| figure | result |', '|---|---|');
  const l = report.latency;
  if (l !== undefined) {
    out.push(
      `| (a) latency at ${fmtInt(l.rate)} req/s, open loop, ${l.connections} connections, from each request's due time: p50 / p99 ms | direct ${fmtMs(l.direct.p50Ms)} / ${fmtMs(l.direct.p99Ms)}; gateway ${fmtMs(l.gateway.p50Ms)} / ${fmtMs(l.gateway.p99Ms)}; **added ${fmtMs(l.addedP50Ms)} / ${fmtMs(l.addedP99Ms)}** |`,
      `| (a) the same from the actual send (generator lateness left out; its p99 ${fmtMs(Math.max(l.direct.sendLagP99Ms, l.gateway.sendLagP99Ms))} ms) | direct ${fmtMs(l.direct.serviceP50Ms)} / ${fmtMs(l.direct.serviceP99Ms)}; gateway ${fmtMs(l.gateway.serviceP50Ms)} / ${fmtMs(l.gateway.serviceP99Ms)} |`,
    );
  }
  const pair = (tag: string, p: PairSummary | undefined): void => {
    if (p === undefined) return;
    out.push(
      `| (${tag}) ${p.what}: req/s (p99 ms) | ${fmtInt(p.baseline.rps)} (${fmtMs(p.baseline.p99Ms)}) vs ${fmtInt(p.variant.rps)} (${fmtMs(p.variant.p99Ms)}): **${fmtRatio(p.ratio)}** |`,
    );
  };
  pair('b', report.replicas);
  pair('b', report.replicasSubset);
  pair('c', report.rules);
  const m = report.memory;
  if (m !== undefined) {
    out.push(
      `| (d) gateway resident memory at ${fmtInt(m.connections)} connections (wrk -c${m.connections}): peak VmRSS | **${m.peakMB.toFixed(1)} MB** (idle ${m.idleMB.toFixed(1)} MB, lifetime peak ${m.hwmMB.toFixed(1)} MB; ${fmtInt(m.rps)} req/s, p99 ${fmtMs(m.p99Ms)} ms, ${m.errors} errors) |`,
    );
  }
  out.push(`| (e) node:cluster | ${report.cluster} |`, '');
  out.push('## Targets', '', '| target | figure | status |', '|---|---|---|');
  for (const t of report.targets) out.push(`| ${t.target} | ${t.figure} | ${t.met === undefined ? 'not measured' : t.met ? 'met' : '**MISSED**'} |`);
  out.push('');
  if (report.notes.length > 0) out.push('## Notes', '', ...report.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}

const escapeXml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Horizontal bars of req/s per target, written by hand: no charting dependency for one picture. */
export function throughputSvg(targets: readonly TargetSummary[], subtitle: string): string {
  const width = 820;
  const left = 190;
  const barMax = 420;
  const rowH = 34;
  const top = 58;
  const height = top + targets.length * rowH + 26;
  const max = Math.max(...targets.map((t) => t.rps), 1);
  const x = (rps: number): number => left + Math.max(1, Math.round((rps / max) * barMax));
  const colour = (key: string): string => (key === 'gateway' ? '#e4572e' : key === 'direct' ? '#9aa0a6' : key === 'nginx' ? '#2e8b57' : '#4a7fc1');
  const rows = targets.map((t, i) => {
    const y = top + i * rowH;
    return [
      `<text x="${left - 10}" y="${y + 17}" text-anchor="end">${escapeXml(t.label)}</text>`,
      `<rect x="${left}" y="${y + 2}" width="${x(t.rps) - left}" height="22" fill="${colour(t.key)}"/>`,
      `<text x="${x(t.rps) + 8}" y="${y + 17}" stroke="#fff" stroke-width="4" paint-order="stroke">${fmtInt(t.rps)} req/s · p99 ${fmtMs(t.p99Ms)} ms</text>`,
    ].join('');
  });
  // The bar for the gateway: half of nginx's throughput, drawn first so the bars cover it.
  const nginx = targets.find((t) => t.key === 'nginx');
  if (nginx !== undefined) {
    const tx = x(nginx.rps * 0.5);
    rows.unshift(
      `<line x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${top + targets.length * rowH}" stroke="#333" stroke-dasharray="4 3"/>`,
      `<text x="${tx + 4}" y="${top + targets.length * rowH + 14}" fill="#333" font-size="11">target: 0.5x nginx</text>`,
    );
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="16" y="24" font-size="16" font-weight="bold">Throughput through each target (req/s, higher is better)</text>`,
    `<text x="16" y="44" fill="#555">${escapeXml(subtitle)}</text>`,
    ...rows,
    '</svg>',
    '',
  ].join('\n');
}
