/**
 * The comparator: takes each settled live/shadow pair (dataplane/shadow.ts hands it over on a
 * later turn than the client's answer), compares the answers (compare.ts, compare-grpc.ts) and
 * records the outcome in the model's rolling results. Results are kept per model and start over
 * when the shadow version changes: version 4's numbers are not version 3's.
 */
import type { SettledPair } from '../dataplane/shadow.js';
import { compareRestAnswers, type CompareOutcome } from './compare.js';
import { compareGrpcAnswers, grpcAnswerText } from './compare-grpc.js';
import { ANSWER_PREVIEW_CHARS, ShadowResults, type Disagreement, type RecordedPair } from './shadow-results.js';

export class ShadowAnalysis {
  readonly #results = new Map<string, ShadowResults>();
  /** Pairs whose comparison threw (a bug): counted, never allowed to reach the data plane. */
  failures = 0;

  /** The model's results, if it has had a shadow on this gateway. */
  results(model: string): ShadowResults | undefined {
    return this.#results.get(model);
  }

  all(): ReadonlyMap<string, ShadowResults> {
    return this.#results;
  }

  /** Bound, to be handed to the data plane as its sink. */
  readonly submit = (pair: SettledPair): void => {
    let results = this.#results.get(pair.model);
    if (results === undefined || results.version !== pair.shadowVersion) {
      results = new ShadowResults(pair.shadowVersion);
      this.#results.set(pair.model, results);
    }
    try {
      const [recorded, disagreement] = judge(pair);
      results.record(recorded, disagreement);
    } catch {
      this.failures++;
      results.record({ outcome: 'skipped', latencyMs: null, elements: 0, sumAbsDiff: 0, maxAbsDiff: 0 });
    }
  };
}

function judge(pair: SettledPair): [RecordedPair, Disagreement | undefined] {
  const { live, shadow } = pair;
  const none = { elements: 0, sumAbsDiff: 0, maxAbsDiff: 0 };
  // The live answer failed: nothing to hold the shadow's against (the client's error, or stable's).
  if (!live.ok) return [{ outcome: 'skipped', latencyMs: shadow.latencyMs, ...none }, undefined];
  if (!shadow.ok) return [{ outcome: 'error', latencyMs: shadow.latencyMs, ...none }, undefined];
  if (live.body === null || shadow.body === null) return [{ outcome: 'skipped', latencyMs: shadow.latencyMs, ...none }, undefined];
  const outcome: CompareOutcome =
    pair.protocol === 'rest'
      ? compareRestAnswers(pair.operation, live.body, shadow.body, pair.tolerance)
      : compareGrpcAnswers(pair.operation, live.body, shadow.body, pair.tolerance);
  if (!outcome.comparable) return [{ outcome: 'skipped', latencyMs: shadow.latencyMs, ...none }, undefined];
  const recorded: RecordedPair = {
    outcome: outcome.agree ? 'agreed' : 'disagreed',
    latencyMs: shadow.latencyMs,
    elements: outcome.elements,
    sumAbsDiff: outcome.sumAbsDiff,
    maxAbsDiff: outcome.maxAbsDiff,
  };
  if (outcome.agree) return [recorded, undefined];
  const text = (body: Buffer): string => cut(pair.protocol === 'rest' ? body.toString('utf8') : grpcAnswerText(pair.operation, body));
  return [
    recorded,
    {
      at: new Date().toISOString(),
      requestId: pair.requestId,
      protocol: pair.protocol,
      operation: pair.operation,
      liveVersion: pair.liveVersion,
      detail: outcome.detail ?? 'the answers differ',
      live: text(live.body),
      shadow: text(shadow.body),
    },
  ];
}

function cut(text: string): string {
  return text.length > ANSWER_PREVIEW_CHARS ? `${text.slice(0, ANSWER_PREVIEW_CHARS)}…` : text;
}
