/**
 * Rolling results of a model's shadow: the last RESULTS_WINDOW pairs (agreement, absolute
 * differences, the shadow's errors and latency), totals since the shadow version was set, and the
 * last few disagreements with both answers. Written once per pair, off the client's path (the
 * comparison's turn); read by the admin API, the event stream and /metrics. Fixed-size arrays:
 * memory per model does not grow with traffic.
 */
import type { Protocol } from '../dataplane/stats.js';

/** Pairs the rolling figures cover. */
export const RESULTS_WINDOW = 1000;
/** Disagreements kept, newest first, with both answers. */
export const DISAGREEMENTS_KEPT = 5;
/** Characters of each answer kept with a disagreement. */
export const ANSWER_PREVIEW_CHARS = 2000;

/** What one pair came to: compared (agreed or not), a shadow error, or not compared (skipped). */
export type PairOutcome = 'agreed' | 'disagreed' | 'error' | 'skipped';
export const PAIR_OUTCOMES: readonly PairOutcome[] = ['agreed', 'disagreed', 'error', 'skipped'];

const AGREED = 0;
const DISAGREED = 1;
const ERROR = 2;

export interface Disagreement {
  readonly at: string;
  readonly requestId: string;
  readonly protocol: Protocol;
  readonly operation: string;
  readonly liveVersion: number;
  readonly detail: string;
  /** Both answers as text (JSON for REST, the decoded message for gRPC), cut at ANSWER_PREVIEW_CHARS. */
  readonly live: string;
  readonly shadow: string;
}

export interface RecordedPair {
  readonly outcome: PairOutcome;
  /** The shadow's latency; null when it was not reached (a skipped pair may still have one). */
  readonly latencyMs: number | null;
  readonly elements: number;
  readonly sumAbsDiff: number;
  readonly maxAbsDiff: number;
}

export interface ResultsSummary {
  readonly version: number;
  readonly since: string;
  /** Pairs in the rolling window (compared or errored). */
  readonly window: number;
  readonly compared: number;
  /** agreed / compared over the window; null before any pair was compared. */
  readonly agreementRate: number | null;
  readonly meanAbsDiff: number | null;
  readonly maxAbsDiff: number | null;
  /** Shadow errors / (compared + errors) over the window. */
  readonly errorRate: number | null;
  readonly p99Ms: number | null;
  readonly totals: Readonly<Record<PairOutcome, number>>;
  readonly disagreements: readonly Disagreement[];
}

export class ShadowResults {
  readonly version: number;
  readonly since = new Date().toISOString();
  readonly totals: Record<PairOutcome, number> = { agreed: 0, disagreed: 0, error: 0, skipped: 0 };
  readonly #kind = new Uint8Array(RESULTS_WINDOW);
  readonly #latency = new Float64Array(RESULTS_WINDOW);
  readonly #elements = new Float64Array(RESULTS_WINDOW);
  readonly #sum = new Float64Array(RESULTS_WINDOW);
  readonly #max = new Float64Array(RESULTS_WINDOW);
  #next = 0;
  #count = 0;
  #disagreements: Disagreement[] = [];

  constructor(version: number) {
    this.version = version;
  }

  record(pair: RecordedPair, disagreement?: Disagreement): void {
    this.totals[pair.outcome]++;
    if (disagreement !== undefined) this.#disagreements = [disagreement, ...this.#disagreements.slice(0, DISAGREEMENTS_KEPT - 1)];
    // A skipped pair says nothing of the shadow's answers: the window holds the others.
    if (pair.outcome === 'skipped') return;
    const i = this.#next;
    this.#kind[i] = pair.outcome === 'agreed' ? AGREED : pair.outcome === 'disagreed' ? DISAGREED : ERROR;
    this.#latency[i] = pair.latencyMs ?? 0;
    this.#elements[i] = pair.elements;
    this.#sum[i] = pair.sumAbsDiff;
    this.#max[i] = pair.maxAbsDiff;
    this.#next = (i + 1) % RESULTS_WINDOW;
    if (this.#count < RESULTS_WINDOW) this.#count++;
  }

  summary(): ResultsSummary {
    let agreed = 0;
    let compared = 0;
    let errors = 0;
    let elements = 0;
    let sum = 0;
    let max = 0;
    const latencies = new Float64Array(this.#count);
    for (let i = 0; i < this.#count; i++) {
      latencies[i] = this.#latency[i] as number;
      const kind = this.#kind[i];
      if (kind === ERROR) {
        errors++;
        continue;
      }
      compared++;
      if (kind === AGREED) agreed++;
      elements += this.#elements[i] as number;
      sum += this.#sum[i] as number;
      if ((this.#max[i] as number) > max) max = this.#max[i] as number;
    }
    latencies.sort();
    const p99 = this.#count === 0 ? null : (latencies[Math.min(this.#count - 1, Math.ceil(this.#count * 0.99) - 1)] as number);
    return {
      version: this.version,
      since: this.since,
      window: this.#count,
      compared,
      agreementRate: compared === 0 ? null : round(agreed / compared, 4),
      meanAbsDiff: elements === 0 ? null : sum / elements,
      maxAbsDiff: compared === 0 ? null : max,
      errorRate: this.#count === 0 ? null : round(errors / this.#count, 4),
      p99Ms: p99 === null ? null : round(p99, 3),
      totals: { ...this.totals },
      disagreements: this.#disagreements,
    };
  }
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
