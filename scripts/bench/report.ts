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

/** One target at one fixed rate (fixed-rate.ts): medians over the rounds, ms from each request's due time. */
export interface FixedRateTarget {
  readonly key: string;
  readonly label: string;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  /** Median over the rounds of (this target's figure - direct's in the same round); undefined for direct. */
  readonly addedP50Ms: number | undefined;
  readonly addedP99Ms: number | undefined;
  readonly addedP999Ms: number | undefined;
  /** CPU time of the target's processes per measured request, µs (median of the rounds); undefined for direct. */
  readonly cpuUsPerRequest: number | undefined;
  /** Of cpuUsPerRequest, the main threads' (a Node process's event loop; the rest is V8's and libuv's helper threads). */
  readonly mainThreadCpuUsPerRequest: number | undefined;
  /** p99 from the actual send, without the generator's own lateness. */
  readonly serviceP99Ms: number;
  readonly sendLagP99Ms: number;
  readonly achievedRate: number;
  readonly failed: number;
  /** What failed, over the rounds: "HTTP 503", "grpc-status 14", ... */
  readonly failures: Readonly<Record<string, number>>;
  readonly runs: readonly LoadgenMeasurement[];
}

export interface FixedRateSummary {
  readonly rate: number;
  readonly connections: number;
  readonly rounds: number;
  /** direct first. */
  readonly targets: readonly FixedRateTarget[];
}

/** The latency section at one rate: direct, nginx, the Node floor and the gateway. */
export interface LatencyAtRate extends FixedRateSummary {
  /** The gateway's added p99 over the floor's and over nginx's; undefined when the divisor is not above 0. */
  readonly gatewayVsFloorP99: number | undefined;
  readonly gatewayVsNginxP99: number | undefined;
  /** The gateway's CPU per request over the floor's. */
  readonly gatewayVsFloorCpu: number | undefined;
  /** This build against another one run beside it (--baseline); undefined without one. */
  readonly gatewayVsBaselineP99: number | undefined;
  readonly gatewayVsBaselineCpu: number | undefined;
}

export interface GrpcRound {
  readonly rps: number;
  readonly meanMs: number;
  /** Failed at the HTTP level, as h2load counts. */
  readonly failed: number;
  /** Counted by h2load but not answered OK by the simulator: gRPC errors from the target itself. */
  readonly unanswered: number;
  readonly cpu: CpuShares | undefined;
}

/** One target of the gRPC throughput table (h2load): medians over the rounds. */
export interface GrpcThroughputTarget {
  readonly key: string;
  readonly label: string;
  readonly rps: number;
  readonly meanMs: number;
  readonly spreadPct: number;
  readonly failed: number;
  readonly unanswered: number;
  readonly cpu: CpuShares | undefined;
  readonly vsNginx: number | undefined;
  readonly vsGrpcJs: number | undefined;
  /** Calls/s over the gRPC Node floor's (proxy-grpc-floor.ts). */
  readonly vsFloor: number | undefined;
  readonly rounds: readonly GrpcRound[];
}

export interface LargeMessageTarget {
  readonly key: string;
  readonly label: string;
  /** Every timed call's round trip, ms, in order. */
  readonly samplesMs: readonly number[];
  readonly medianMs: number;
  readonly maxMs: number;
}

export interface LargeMessageSummary {
  readonly requestBytes: number;
  readonly responseBytes: number;
  readonly direct: LargeMessageTarget;
  readonly gateway: LargeMessageTarget;
  /** gateway median - direct median. */
  readonly addedMs: number;
}

export interface GrpcSummary {
  readonly method: string;
  /** The request body h2load sends: the length-prefixed PredictRequest. */
  readonly requestBytes: number;
  readonly clients: number;
  readonly streams: number;
  readonly throughput: readonly GrpcThroughputTarget[];
  readonly fixedRate: FixedRateSummary;
  readonly large: LargeMessageSummary;
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
  /** The Node floor (proxy-node-floor.ts) under the same wrk run: what Node itself holds per connection. */
  readonly floor: { readonly idleMB: number; readonly peakMB: number; readonly errors: number };
}

export interface TargetCheck {
  readonly target: string;
  readonly figure: string;
  /** undefined: the section was not run (empty figure), or the figure has no meaning this time. */
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
  readonly latency: readonly LatencyAtRate[] | undefined;
  readonly grpc: GrpcSummary | undefined;
  readonly replicas: PairSummary | undefined;
  /** The many-replica pool with and without deterministic subsetting. */
  readonly replicasSubset?: PairSummary | undefined;
  readonly rules: PairSummary | undefined;
  readonly memory: MemorySummary | undefined;
  readonly cluster: string;
  readonly targets: readonly TargetCheck[];
  readonly notes: readonly string[];
}

/** Issue 16's CPU target: the gateway's CPU per request at most this times the Node floor's. */
export const TARGET_CPU_VS_FLOOR = 1.15;

/** The gRPC Node floor's key among the gRPC section's targets. */
export const GRPC_FLOOR_KEY = 'grpc-floor';

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
  if (report.latency !== undefined) out.push(...latencyTables(report.latency));
  if (report.grpc !== undefined) out.push(...grpcTables(report.grpc));
  out.push('## Further figures', '', '| figure | result |', '|---|---|');
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
      `| (d) gateway resident memory at ${fmtInt(m.connections)} connections (wrk -c${m.connections}): peak VmRSS | **${m.peakMB.toFixed(1)} MB** (idle ${m.idleMB.toFixed(1)} MB, lifetime peak ${m.hwmMB.toFixed(1)} MB; ${fmtInt(m.rps)} req/s, p99 ${fmtMs(m.p99Ms)} ms, ${m.errors} errors); the Node floor ${m.floor.peakMB.toFixed(1)} MB (idle ${m.floor.idleMB.toFixed(1)} MB, ${m.floor.errors} errors): **${fmtRatio(m.peakMB / m.floor.peakMB)}** |`,
    );
  }
  out.push(`| (e) node:cluster | ${report.cluster} |`, '');
  out.push('## Targets', '', '| target | figure | status |', '|---|---|---|');
  for (const t of report.targets) out.push(`| ${t.target} | ${t.figure} | ${t.met === undefined ? (t.figure === '' ? 'not measured' : 'n/a: noise (a p99 below direct\'s; see Notes)') : t.met ? 'met' : '**MISSED**'} |`);
  out.push('');
  if (report.notes.length > 0) out.push('## Notes', '', ...report.notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}

const fmtAdded = (n: number | undefined): string => (n === undefined ? '' : `${n >= 0 ? '+' : ''}${fmtMs(n)}`);
const fmtUs = (n: number | undefined): string => (n === undefined ? '' : n.toFixed(1));

/** One table of a fixed rate: each target's percentiles, what it adds over direct, its CPU per call. */
function fixedRateTable(f: FixedRateSummary, unit: string, floorKey: string | undefined): string[] {
  const floor = f.targets.find((t) => t.key === floorKey);
  const vsFloor = (t: FixedRateTarget, pick: (t: FixedRateTarget) => number | undefined): string => {
    const mine = pick(t);
    const theirs = floor === undefined ? undefined : pick(floor);
    return `${fmtUs(mine)}${mine !== undefined && theirs !== undefined && t.key !== floorKey ? ` (${fmtRatio(mine / theirs)})` : ''}`;
  };
  return [
    `| target | p50 ms | p99 ms | p99.9 ms | added p50 / p99 / p99.9 ms | CPU µs per ${unit}${floorKey === undefined ? '' : ' (vs floor)'} | of which the main thread${floorKey === undefined ? '' : ' (vs floor)'} | completed ${unit}s/s | failed |`,
    '|---|---:|---:|---:|---|---:|---:|---:|---:|',
    ...f.targets.map((t) => {
      const added = t.addedP99Ms === undefined ? '' : `${fmtAdded(t.addedP50Ms)} / **${fmtAdded(t.addedP99Ms)}** / ${fmtAdded(t.addedP999Ms)}`;
      return `| ${t.label} | ${fmtMs(t.p50Ms)} | ${fmtMs(t.p99Ms)} | ${fmtMs(t.p999Ms)} | ${added} | ${vsFloor(t, (x) => x.cpuUsPerRequest)} | ${vsFloor(t, (x) => x.mainThreadCpuUsPerRequest)} | ${fmtInt(t.achievedRate)} | ${t.failed} |`;
    }),
    '',
  ];
}

function latencyTables(rates: readonly LatencyAtRate[]): string[] {
  const first = rates[0];
  if (first === undefined) return [];
  const out = [
    `## Latency added at fixed rates: open loop, ${first.connections} connections, POST predict; median of ${first.rounds} rounds, targets alternated`,
    '',
    "Percentiles from each request's due time (a stall counts against every request due during it). Added: per round, the target's percentile minus direct's in the same round; the median of those. CPU: the proxy process's CPU time (/proc/<pid>/stat, user + system; nginx: master and worker) from the first measured request's send to the last one's answer, over the number of measured requests; of which the main thread: the same for the main thread alone (/proc/<pid>/task/<pid>/stat; a Node process's event loop, the rest being V8's and libuv's helper threads).",
    '',
  ];
  for (const r of rates) {
    out.push(`### ${fmtInt(r.rate)} req/s`, '', ...fixedRateTable(r, 'request', 'floor'));
    out.push(
      `Gateway's added p99: **${fmtRatio(r.gatewayVsFloorP99) || 'n/a'}** the Node floor's, **${fmtRatio(r.gatewayVsNginxP99) || 'n/a'}** nginx's; CPU per request **${fmtRatio(r.gatewayVsFloorCpu) || 'n/a'}** the floor's.`,
      '',
    );
    if (r.targets.some((t) => t.key === 'baseline')) {
      out.push(`This build against the baseline build: added p99 **${fmtRatio(r.gatewayVsBaselineP99) || 'n/a'}**, CPU per request **${fmtRatio(r.gatewayVsBaselineCpu) || 'n/a'}**.`, '');
    }
  }
  return out;
}

function grpcTables(g: GrpcSummary): string[] {
  const r = g.throughput[0]?.rounds.length ?? 0;
  const l = g.large;
  return [
    `## gRPC: unary ${g.method}, ${fmtInt(g.requestBytes)}-byte request body, h2load ${g.clients} connections x ${g.streams} streams; median of ${r} rounds, targets alternated`,
    '',
    '| target | calls/s | mean ms | vs nginx grpc_pass | vs grpc-js proxy | vs Node floor | rounds calls/s (spread) | CPU % target / backend / h2load | failed / not answered by the simulator |',
    '|---|---:|---:|---:|---:|---:|---|---|---:|',
    ...g.throughput.map(
      (t) =>
        `| ${t.label} | ${fmtInt(t.rps)} | ${fmtMs(t.meanMs)} | ${fmtRatio(t.vsNginx)} | ${fmtRatio(t.vsGrpcJs)} | ${fmtRatio(t.vsFloor)} | ${t.rounds.map((x) => fmtInt(x.rps)).join(', ')} (${t.spreadPct.toFixed(0)}%) | ${fmtCpu(t.cpu)} | ${t.failed} / ${t.unanswered} |`,
    ),
    '',
    "h2load judges answers by HTTP status; a gRPC error is an HTTP 200 with grpc-status in its trailers. So every target answered one checked call (grpc-status 0, the PredictResponse decoded) before it was measured, and each run's calls are set against those the simulator answered OK meanwhile (its counters): the last column's second figure is calls h2load counted that the simulator did not answer (the target's own errors), beyond the calls in flight at the end. The open-loop figures below read grpc-status on every call.",
    '',
    `### gRPC latency added at ${fmtInt(g.fixedRate.rate)} calls/s: open loop over node:http2, ${g.fixedRate.connections} connections; median of ${g.fixedRate.rounds} rounds`,
    '',
    ...fixedRateTable(g.fixedRate, 'call', GRPC_FLOOR_KEY),
    `### ${(l.requestBytes / 2 ** 20).toFixed(0)} MiB Predict round trip (request ${fmtInt(l.requestBytes)} bytes, answer ${fmtInt(l.responseBytes)} bytes), one call at a time`,
    '',
    '| target | median ms | max ms | calls |',
    '|---|---:|---:|---:|',
    `| ${l.direct.label} | ${fmtMs(l.direct.medianMs)} | ${fmtMs(l.direct.maxMs)} | ${l.direct.samplesMs.length} |`,
    `| ${l.gateway.label} | ${fmtMs(l.gateway.medianMs)} (**${fmtAdded(l.addedMs)}**) | ${fmtMs(l.gateway.maxMs)} | ${l.gateway.samplesMs.length} |`,
    '',
  ];
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
  // The issue's bar for the gateway: half of nginx's throughput, drawn first so the bars cover it.
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
