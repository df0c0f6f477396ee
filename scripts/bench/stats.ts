/** Figures shared by the bench's processes: percentiles, medians, the load generator's result. */

export interface Percentiles {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

export interface LoadgenResult {
  readonly rate: number;
  readonly durationS: number;
  /** Requests due in the measured window (after the warm-up). */
  readonly requests: number;
  readonly ok: number;
  readonly failed: number;
  /** What failed, counted: "HTTP 503", "grpc-status 14", "reset 2", "error ECONNRESET". */
  readonly failures: Readonly<Record<string, number>>;
  /** Completed requests per second over the measured window. */
  readonly achievedRate: number;
  /** Due time to the answer's last byte, ms: what a client on this schedule sees. */
  readonly latencyMs: Percentiles;
  /** Actual send to the answer's last byte, ms: the same without the generator's own lateness. */
  readonly serviceMs: Percentiles;
  /** How late the generator sent each request, ms. */
  readonly sendLagMs: Percentiles;
  /** When the slowest 1% were due, in bursts: whether the tail is one stall or spread over the run. */
  readonly slowest: SlowBursts;
}

/** One run of slow requests due close together (gaps under SLOW_BURST_GAP_MS). */
export interface SlowBurst {
  /** When the first was due, seconds into the measured window. */
  readonly atS: number;
  /** From the first's due time to the last's, ms. */
  readonly spanMs: number;
  readonly count: number;
  /** The slowest of them, ms from its due time. */
  readonly maxMs: number;
}

export interface SlowBursts {
  /** Requests in the slowest 1% (at least 1). */
  readonly count: number;
  /** The largest bursts, by count, at most MAX_SLOW_BURSTS. */
  readonly bursts: readonly SlowBurst[];
  /** Share of the slowest 1% in the largest burst: near 1 is one stall, near 0 a tail spread evenly. */
  readonly largestShare: number;
}

export const SLOW_BURST_GAP_MS = 50;
const MAX_SLOW_BURSTS = 5;

/**
 * `latency[i]` of the request due at `due(i)`: the slowest 1%, grouped by due time into bursts.
 * A stall of the target (a long pause, a blocked loop) makes one burst holding most of them; costs
 * spread over every request (scavenges, preemption) make many small ones.
 */
export function slowBursts(latency: Float64Array, due: (i: number) => number): SlowBursts {
  const count = Math.max(1, Math.ceil(latency.length / 100));
  const order = Array.from(latency.keys()).sort((a, b) => (latency[b] as number) - (latency[a] as number));
  const slow = order.slice(0, count).sort((a, b) => a - b);
  const bursts: SlowBurst[] = [];
  let first = 0;
  for (let k = 1; k <= slow.length; k++) {
    if (k < slow.length && due(slow[k] as number) - due(slow[k - 1] as number) < SLOW_BURST_GAP_MS) continue;
    const members = slow.slice(first, k);
    const start = due(members[0] as number);
    bursts.push({
      atS: round3(start / 1000),
      spanMs: round1(due(members[members.length - 1] as number) - start),
      count: members.length,
      maxMs: round3(Math.max(...members.map((i) => latency[i] as number))),
    });
    first = k;
  }
  bursts.sort((a, b) => b.count - a.count);
  return { count: slow.length, bursts: bursts.slice(0, MAX_SLOW_BURSTS), largestShare: round3((bursts[0]?.count ?? 0) / slow.length) };
}

export function percentiles(values: Float64Array): Percentiles {
  const sorted = Float64Array.from(values).sort();
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
  return { p50: round3(at(0.5)), p90: round3(at(0.9)), p99: round3(at(0.99)), p999: round3(at(0.999)), max: round3(at(1)) };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export const round3 = (n: number): number => Math.round(n * 1000) / 1000;
export const round1 = (n: number): number => Math.round(n * 10) / 10;

/** How far apart the rounds were: (max - min) / median, in percent (0 when the median is 0). */
export function spreadPct(values: readonly number[], med: number): number {
  return med > 0 ? ((Math.max(...values) - Math.min(...values)) / med) * 100 : 0;
}
