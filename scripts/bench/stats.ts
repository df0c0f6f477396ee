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
