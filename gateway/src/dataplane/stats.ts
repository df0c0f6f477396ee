/**
 * Live numbers per version pool over a sliding window: requests, errors and a latency histogram
 * for each of the last N seconds. The hot path only increments counters of the current second
 * (no allocation, no clock reads beyond the latency itself); a once-a-second tick, outside the hot
 * path, closes the second into the ring. Percentiles come from log-linear buckets (8 per power of
 * two, so within about 6% of the true value), merged over the window on demand:
 * only the buckets a second used (a range noted when it closes), since the controller merges
 * several windows per model four times a second and a second's latencies fill a few dozen of
 * the 232 buckets.
 */

/** Buckets 0..15 hold 0..15 µs exactly; then 8 buckets per power of two, up to 2^31 µs. */
const LINEAR = 16;
export const LATENCY_BUCKETS = LINEAR + (31 - 4) * 8;

export function latencyBucket(micros: number): number {
  const us = micros < 0 ? 0 : micros >= 0x7fffffff ? 0x7fffffff : micros | 0;
  if (us < LINEAR) return us;
  const exponent = 31 - Math.clz32(us);
  return LINEAR + (exponent - 4) * 8 + ((us >>> (exponent - 3)) & 7);
}

/** Upper bound of a bucket, in milliseconds. */
export function bucketUpperMs(bucket: number): number {
  if (bucket < LINEAR) return (bucket + 1) / 1000;
  const exponent = ((bucket - LINEAR) >> 3) + 4;
  const sub = (bucket - LINEAR) & 7;
  const width = 2 ** (exponent - 3);
  return ((8 + sub + 1) * width) / 1000;
}

/** Middle of a bucket, in milliseconds. */
export function bucketMidMs(bucket: number): number {
  if (bucket < LINEAR) return bucket / 1000;
  const exponent = ((bucket - LINEAR) >> 3) + 4;
  const sub = (bucket - LINEAR) & 7;
  const width = 2 ** (exponent - 3);
  return ((8 + sub) * width + width / 2) / 1000;
}

/** How an attempt at a replica failed. */
export type FailureKind = 'connect' | 'reset' | 'timeout' | 'status' | 'breaker';

/** The protocols a request can come in by; the stats window judges them together. */
export type Protocol = 'rest' | 'grpc';
export const PROTOCOLS: readonly Protocol[] = ['rest', 'grpc'];

/** One protocol's counts since start (for /metrics). */
export class ProtocolCounters {
  /** Responses by status class (gRPC codes as their HTTP status): index 1..5 for 1xx..5xx. */
  readonly responses = new Float64Array(6);
  /** Client-visible durations: counts per latency bucket, and their sum in seconds. */
  readonly durations = new Float64Array(LATENCY_BUCKETS);
  durationSumSeconds = 0;
  /** Attempts at this pool's replicas, failed or not. */
  attempts = 0;
  readonly failuresByKind: Record<FailureKind, number> = { connect: 0, reset: 0, timeout: 0, status: 0, breaker: 0 };
  retries = 0;
}

export interface WindowStats {
  /** Seconds covered (complete seconds, plus the current one when asked). */
  readonly seconds: number;
  readonly requests: number;
  readonly errors: number;
  /** Requests bound for this pool that went elsewhere because its replicas were failing. */
  readonly diverted: number;
  /** Retries that landed on this pool. */
  readonly retries: number;
  readonly rps: number;
  /** errors / requests; 0 without requests. */
  readonly errorRate: number;
  /** null without requests. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /**
   * p99, but never the single slowest of two or more requests: under 100 requests p99 is the
   * slowest one, so a canary with a small share would be judged on its one worst request (a GC
   * pause, a stall) while stable, with many more, leaves its 1% slowest out. What the rollback
   * compares.
   */
  readonly p99ExceptSlowestMs: number | null;
}

export class PoolStats {
  readonly #capacity: number;
  readonly #requests: Uint32Array;
  readonly #errors: Uint32Array;
  readonly #diverted: Uint32Array;
  readonly #retries: Uint32Array;
  readonly #latency: Uint32Array;
  /** Per closed second: its first used latency bucket and one past its last (equal when none). */
  readonly #usedFrom: Uint8Array;
  readonly #usedTo: Uint8Array;
  /** Index of the second being filled. */
  #head = 0;
  /** Complete seconds in the ring. */
  #filled = 0;
  /** Seconds closed since start: lets a caller ask for the window since a moment it noted. */
  closedSeconds = 0;
  totalRequests = 0;
  totalErrors = 0;
  /** Since start, for /metrics, by protocol: what clients got, and how attempts went. */
  readonly byProtocol: Readonly<Record<Protocol, ProtocolCounters>> = { rest: new ProtocolCounters(), grpc: new ProtocolCounters() };
  /** Requests routed in panic (see VersionPool.panicPick). */
  panicTotal = 0;

  constructor(windowSeconds = 60) {
    this.#capacity = windowSeconds + 1;
    this.#requests = new Uint32Array(this.#capacity);
    this.#errors = new Uint32Array(this.#capacity);
    this.#diverted = new Uint32Array(this.#capacity);
    this.#retries = new Uint32Array(this.#capacity);
    this.#latency = new Uint32Array(this.#capacity * LATENCY_BUCKETS);
    this.#usedFrom = new Uint8Array(this.#capacity);
    this.#usedTo = new Uint8Array(this.#capacity);
  }

  /** One attempt at a replica of this pool (or a request the pool could not take). */
  record(latencyMs: number, error: boolean): void {
    const head = this.#head;
    this.#requests[head]!++;
    this.totalRequests++;
    if (error) {
      this.#errors[head]!++;
      this.totalErrors++;
    }
    this.#latency[head * LATENCY_BUCKETS + latencyBucket(latencyMs * 1000)]!++;
  }

  recordDiverted(): void {
    this.#diverted[this.#head]!++;
  }

  /** A request its pool had no replica for: an attempt that failed (or a busy pool's, which did not). */
  recordNoReplica(protocol: Protocol, failed: boolean): void {
    this.record(0, failed);
    this.byProtocol[protocol].attempts++;
  }

  recordRetry(protocol: Protocol): void {
    this.#retries[this.#head]!++;
    this.byProtocol[protocol].retries++;
  }

  /** What a client got from this pool (an HTTP status; gRPC's code as its HTTP status), and how long the whole request took. */
  recordResponse(protocol: Protocol, status: number, durationMs: number): void {
    const counters = this.byProtocol[protocol];
    counters.responses[(status / 100) | 0]!++;
    counters.durations[latencyBucket(durationMs * 1000)]!++;
    counters.durationSumSeconds += durationMs / 1000;
  }

  /**
   * The retry budget: retries landing here in this second and the last stay under `percent` of
   * the requests in that time, or under `minimumPerSecond` a second (so a quiet pool can still retry).
   */
  retryAllowed(percent: number, minimumPerSecond: number): boolean {
    const head = this.#head;
    const previous = (head - 1 + this.#capacity) % this.#capacity;
    const retries = this.#retries[head]! + this.#retries[previous]!;
    const requests = this.#requests[head]! + this.#requests[previous]!;
    return retries < minimumPerSecond * 2 || retries < (requests * percent) / 100;
  }

  /** Closes the current second. Called once a second by the stats clock. */
  tick(): void {
    this.#noteUsedBuckets(this.#head);
    const next = (this.#head + 1) % this.#capacity;
    this.#requests[next] = 0;
    this.#errors[next] = 0;
    this.#diverted[next] = 0;
    this.#retries[next] = 0;
    this.#latency.fill(0, next * LATENCY_BUCKETS, (next + 1) * LATENCY_BUCKETS);
    this.#head = next;
    this.closedSeconds++;
    if (this.#filled < this.#capacity - 1) this.#filled++;
  }

  #noteUsedBuckets(slot: number): void {
    let from = 0;
    let to = 0;
    if (this.#requests[slot] !== 0) {
      const base = slot * LATENCY_BUCKETS;
      from = LATENCY_BUCKETS;
      for (let b = 0; b < LATENCY_BUCKETS; b++) {
        if (this.#latency[base + b] !== 0) {
          if (from === LATENCY_BUCKETS) from = b;
          to = b + 1;
        }
      }
      if (from === LATENCY_BUCKETS) from = 0;
    }
    this.#usedFrom[slot] = from;
    this.#usedTo[slot] = to;
  }

  /**
   * The last `seconds` complete seconds (fewer right after start); with `includeCurrent`, the
   * second being filled too, for decisions that cannot wait for it to close.
   */
  window(span: number, includeCurrent = false): WindowStats {
    const n = Math.min(span, this.#filled);
    let requests = 0;
    let errors = 0;
    let diverted = 0;
    let retries = 0;
    const merged = scratch;
    let lowest = LATENCY_BUCKETS;
    let highest = 0;
    for (let k = includeCurrent ? 0 : 1; k <= n; k++) {
      const slot = (this.#head - k + this.#capacity) % this.#capacity;
      requests += this.#requests[slot]!;
      errors += this.#errors[slot]!;
      diverted += this.#diverted[slot]!;
      retries += this.#retries[slot]!;
      if (this.#requests[slot] === 0) continue;
      // The second being filled has no range noted yet: all of it.
      const from = k === 0 ? 0 : this.#usedFrom[slot]!;
      const to = k === 0 ? LATENCY_BUCKETS : this.#usedTo[slot]!;
      const base = slot * LATENCY_BUCKETS;
      for (let b = from; b < to; b++) merged[b]! += this.#latency[base + b]!;
      if (from < lowest) lowest = from;
      if (to > highest) highest = to;
    }
    const seconds = includeCurrent ? n + 1 : n;
    const stats: WindowStats = {
      seconds,
      requests,
      errors,
      diverted,
      retries,
      rps: n === 0 ? 0 : requests / seconds,
      errorRate: requests === 0 ? 0 : errors / requests,
      p50Ms: atRank(merged, lowest, highest, Math.ceil(0.5 * requests)),
      p99Ms: atRank(merged, lowest, highest, Math.ceil(0.99 * requests)),
      p99ExceptSlowestMs: atRank(merged, lowest, highest, requests < 2 ? requests : Math.min(Math.ceil(0.99 * requests), requests - 1)),
    };
    if (lowest < highest) merged.fill(0, lowest, highest);
    return stats;
  }
}

/** The merge's buckets, shared: a window is merged and read in one synchronous call, and left zeroed. */
const scratch = new Uint32Array(LATENCY_BUCKETS);

/** The value of the rank-th fastest sample (1-based); null without samples. */
function atRank(histogram: Uint32Array, from: number, to: number, rank: number): number | null {
  if (rank < 1) return null;
  let seen = 0;
  for (let b = from; b < to; b++) {
    seen += histogram[b]!;
    if (seen >= rank) return Math.round(bucketMidMs(b) * 1000) / 1000;
  }
  return null;
}
