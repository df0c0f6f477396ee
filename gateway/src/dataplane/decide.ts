/**
 * The routing decision, made once per request and kept for its whole life (retries included).
 * A pure function of the compiled model, the parsed TF Serving target and the request headers, so
 * the REST listener and a future gRPC listener share it. Precedence, first match wins:
 *   URL version > URL label > header rules (in order) > cookie rules (in order) > sticky cohort > weighted split.
 * A canary decision falls back to stable when the canary pool cannot serve (no replica healthy,
 * closed-breaker and not ejected, or the pool draining), unless the client pinned the canary (then
 * it gets that version's real answer or error). The one piece of live state a decision consumes is
 * a draining canary's probe allowance: the few requests that still go to it to show it recovered.
 */
import type { TfTarget } from '../tfserving/path.js';
import { bucketOf, randomBucket } from './cohort.js';
import { cookieValue } from './cookies.js';
import type { CompiledModel, CompiledRule, Decision } from './snapshot.js';

/** Lowercased header names to values, as node:http's `req.headers` (gRPC metadata converts to it). */
export type HeaderBag = Readonly<Record<string, string | readonly string[] | undefined>>;

export type Resolution =
  | Decision
  /** URL version without a pool. */
  | 'unknown-version'
  /** URL label that is neither the stable nor the canary label (or canary label without a canary). */
  | 'unknown-label';

/**
 * `cookies`: whether cookie rules and a sticky cookie apply (REST: yes; gRPC metadata has no
 * cookies of a browser's, so they do not).
 */
export function decide(model: CompiledModel, target: TfTarget, headers: HeaderBag, cookies = true): Resolution {
  if (target.version !== undefined) {
    return model.decisions.byVersion.get(target.version) ?? 'unknown-version';
  }
  if (target.label !== undefined) {
    if (target.label === model.labels.stable) return model.decisions.stableLabel;
    if (target.label === model.labels.canary && model.decisions.canaryLabel !== undefined) {
      return model.decisions.canaryLabel;
    }
    return 'unknown-label';
  }
  return decideUnpinned(model, headers, cookies);
}

export function decideUnpinned(model: CompiledModel, headers: HeaderBag, cookies = true): Decision {
  const stable = model.decisions.stable;
  const canary = model.decisions.canary;
  if (canary === undefined) return stable.split;
  let side =
    model.headerIndex === undefined ? evaluateRules(model.headerRules, headers, undefined) : evaluateIndexed(model.headerIndex, headers);
  let reason: 'header' | 'cookie' | 'sticky' | 'split' = 'header';
  const cookieHeader = cookies && model.needsCookies ? first(headers['cookie']) : undefined;
  if (side === undefined && cookies && model.cookieRules.length > 0) {
    side = evaluateRules(model.cookieRules, undefined, cookieHeader);
    reason = 'cookie';
  }
  if (side === undefined) {
    let key = model.stickyHeader === undefined ? undefined : first(headers[model.stickyHeader]);
    if ((key === undefined || key === '') && model.stickyCookie !== undefined) key = cookieValue(cookieHeader, model.stickyCookie);
    if (key !== undefined && key !== '') {
      side = bucketOf(model.saltState, key) < model.canaryBuckets ? 'canary' : 'stable';
      reason = 'sticky';
    } else {
      side = randomBucket() < model.canaryBuckets ? 'canary' : 'stable';
      reason = 'split';
    }
  }
  if (side === 'stable') return stable[reason];
  return model.canary !== null && model.canary.admitUnpinned() ? canary[reason] : stable.fallback;
}

/** Header rules read `headers`; cookie rules read the Cookie header. */
function evaluateRules(
  rules: readonly CompiledRule[],
  headers: HeaderBag | undefined,
  cookieHeader: string | undefined,
): 'canary' | 'stable' | undefined {
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i] as CompiledRule;
    const value = headers !== undefined ? first(headers[rule.name]) : cookieValue(cookieHeader, rule.name);
    if (value === undefined) continue;
    const side = ruleDecides(rule, value);
    if (side !== undefined) return side;
  }
  return undefined;
}

/** Same result as evaluateRules (the lowest-indexed deciding rule wins), found from the request's headers. */
function evaluateIndexed(index: ReadonlyMap<string, readonly CompiledRule[]>, headers: HeaderBag): 'canary' | 'stable' | undefined {
  let best: CompiledRule | undefined;
  let side: 'canary' | 'stable' | undefined;
  for (const name in headers) {
    const rules = index.get(name);
    if (rules === undefined) continue;
    const value = first(headers[name]);
    if (value === undefined) continue;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i] as CompiledRule;
      if (best !== undefined && rule.index > best.index) break;
      const decided = ruleDecides(rule, value);
      if (decided !== undefined) {
        best = rule;
        side = decided;
        break;
      }
    }
  }
  return side;
}

function ruleDecides(rule: CompiledRule, value: string): 'canary' | 'stable' | undefined {
  if (rule.equals !== undefined) return value === rule.equals ? rule.to : undefined;
  if (rule.regex !== undefined) return rule.regex.test(value) ? rule.to : undefined;
  if (value === 'always') return 'canary';
  if (value === 'never') return 'stable';
  return undefined;
}

function first(value: string | readonly string[] | undefined): string | undefined {
  return typeof value === 'string' || value === undefined ? value : value[0];
}
