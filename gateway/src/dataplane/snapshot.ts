/**
 * The routing snapshot: everything a routing decision reads, compiled once from the policies and
 * swapped whole when one changes. Nothing in it is edited after it is built. Pools are shared
 * between snapshots (they hold connections and health, which outlive a policy change).
 */
import { compileRuleRegex, type RuleRegex } from '../policy/rule-regex.js';
import type { CookieRule, HeaderRule, PolicyDocument, ShadowDocument, TargetSide } from '../policy/schema.js';
import type { StoredPolicy } from '../policy/stored.js';
import { canaryBuckets, saltState } from './cohort.js';
import type { VersionPool } from './pool.js';

export type Side = 'stable' | 'canary' | 'other';
export type Reason = 'version' | 'label' | 'header' | 'cookie' | 'sticky' | 'split' | 'fallback';

/** Decisions are preallocated per snapshot: the hot path returns one of these, it never builds one. */
export interface Decision {
  readonly pool: VersionPool;
  readonly side: Side;
  /** The client named the version (URL version or label): it gets that version's errors. */
  readonly pinned: boolean;
  readonly reason: Reason;
}

export interface CompiledRule {
  /** Position in its list: the first rule that decides wins. */
  readonly index: number;
  /** Lowercased header name, or the cookie name as written. */
  readonly name: string;
  readonly equals: string | undefined;
  /** Linear-time (RE2); tests only values up to RULE_VALUE_MAX_LENGTH. */
  readonly regex: RuleRegex | undefined;
  readonly to: TargetSide;
}

/** A policy's shadow, compiled: the pool that gets the copies and the share, in buckets of 10,000. */
export interface CompiledShadow {
  readonly pool: VersionPool;
  readonly buckets: number;
  readonly settings: ShadowDocument;
}

export interface CompiledModel {
  readonly name: string;
  readonly revision: number;
  readonly policy: PolicyDocument;
  /** Everything the store said, for the admin API. */
  readonly stored: StoredPolicy;
  /** Every pool by canonical version text, as the URL parser yields it. */
  readonly pools: ReadonlyMap<string, VersionPool>;
  readonly stable: VersionPool;
  readonly canary: VersionPool | null;
  /** Canary share in buckets (0..10000). */
  readonly canaryBuckets: number;
  readonly headerRules: readonly CompiledRule[];
  /**
   * With many header rules, the rules by header name: a request is then matched by looking up the
   * few headers it has, not by trying every rule (1,000 rules cost what 10 do).
   */
  readonly headerIndex: ReadonlyMap<string, readonly CompiledRule[]> | undefined;
  readonly cookieRules: readonly CompiledRule[];
  readonly stickyHeader: string | undefined;
  readonly stickyCookie: string | undefined;
  readonly saltState: number;
  readonly needsCookies: boolean;
  readonly labels: { readonly stable: string; readonly canary: string };
  /** Null without a shadow: all the hot path reads of it then. */
  readonly shadow: CompiledShadow | null;
  readonly decisions: {
    readonly byVersion: ReadonlyMap<string, Decision>;
    readonly stableLabel: Decision;
    readonly canaryLabel: Decision | undefined;
    readonly stable: Readonly<Record<'header' | 'cookie' | 'sticky' | 'split' | 'fallback', Decision>>;
    /** Undefined without a canary, and while rolled back: then every unpinned request is stable's. */
    readonly canary: Readonly<Record<'header' | 'cookie' | 'sticky' | 'split', Decision>> | undefined;
  };
}

export interface RoutingSnapshot {
  readonly models: ReadonlyMap<string, CompiledModel>;
}

/**
 * Assumes a validated policy (its versions have pools); throws otherwise, which is a bug upstream.
 * `policy` is the stored policy after validation (defaults filled).
 */
export function compileModel(
  stored: StoredPolicy,
  pools: ReadonlyMap<number, VersionPool>,
  labels: { stable: string; canary: string },
): CompiledModel {
  const input = { name: stored.model, revision: stored.revision, policy: stored.policy };
  const { policy } = input;
  const stable = pools.get(policy.stable);
  if (stable === undefined) throw new Error(`policy of ${input.name} names stable version ${policy.stable} without a pool`);
  const canary = policy.canary === null ? null : pools.get(policy.canary);
  if (canary === undefined) throw new Error(`policy of ${input.name} names canary version ${policy.canary} without a pool`);
  const byText = new Map<string, VersionPool>();
  const byVersion = new Map<string, Decision>();
  for (const pool of pools.values()) {
    byText.set(pool.versionText, pool);
    const side: Side = pool === stable ? 'stable' : pool === canary ? 'canary' : 'other';
    byVersion.set(pool.versionText, freeze<Decision>({ pool, side, pinned: true, reason: 'version' }));
  }
  const decide = (pool: VersionPool, side: Side, reason: Reason): Decision =>
    freeze<Decision>({ pool, side, pinned: false, reason });
  const compileRule = (rule: HeaderRule | CookieRule, name: string, index: number): CompiledRule =>
    freeze({
      index,
      name,
      equals: rule.equals,
      regex: rule.regex === undefined ? undefined : ruleRegex(input.name, rule.regex),
      to: rule.to ?? 'canary',
    });
  const cookieRules = policy.cookieRules.map((r, i) => compileRule(r, r.cookie, i));
  const headerRules = policy.headerRules.map((r, i) => compileRule(r, r.header.toLowerCase(), i));
  const stickyCookie = policy.sticky?.cookie;
  let shadow: CompiledShadow | null = null;
  if (policy.shadow !== null) {
    const pool = pools.get(policy.shadow.version);
    if (pool === undefined) throw new Error(`policy of ${input.name} names shadow version ${policy.shadow.version} without a pool`);
    shadow = freeze({ pool, buckets: canaryBuckets(policy.shadow.percent), settings: policy.shadow });
  }
  return freeze({
    name: input.name,
    revision: input.revision,
    policy,
    stored,
    pools: byText,
    stable,
    canary,
    canaryBuckets: canary === null ? 0 : canaryBuckets(policy.percent),
    headerRules,
    headerIndex: headerRules.length > INDEX_RULES_FROM ? indexByName(headerRules) : undefined,
    cookieRules,
    stickyHeader: policy.sticky?.header?.toLowerCase(),
    stickyCookie,
    saltState: saltState(policy.salt),
    needsCookies: cookieRules.length > 0 || stickyCookie !== undefined,
    labels,
    shadow,
    decisions: {
      byVersion,
      stableLabel: freeze<Decision>({ pool: stable, side: 'stable', pinned: true, reason: 'label' }),
      canaryLabel: canary === null ? undefined : freeze<Decision>({ pool: canary, side: 'canary', pinned: true, reason: 'label' }),
      stable: {
        header: decide(stable, 'stable', 'header'),
        cookie: decide(stable, 'stable', 'cookie'),
        sticky: decide(stable, 'stable', 'sticky'),
        split: decide(stable, 'stable', 'split'),
        fallback: decide(stable, 'stable', 'fallback'),
      },
      canary:
        canary === null || stored.rolledBack
          ? undefined
          : {
              header: decide(canary, 'canary', 'header'),
              cookie: decide(canary, 'canary', 'cookie'),
              sticky: decide(canary, 'canary', 'sticky'),
              split: decide(canary, 'canary', 'split'),
            },
    },
  });
}

/** The compiled pattern (shared, see rule-regex.ts); validation refused the policy otherwise. */
function ruleRegex(model: string, pattern: string): RuleRegex {
  const compiled = compileRuleRegex(pattern);
  if (!compiled.ok) throw new Error(`policy of ${model} has a rule regex that does not compile (${compiled.message})`);
  return compiled.regex;
}

/** Below this many rules a plain scan is cheaper than a lookup per request header. */
const INDEX_RULES_FROM = 8;

function indexByName(rules: readonly CompiledRule[]): ReadonlyMap<string, readonly CompiledRule[]> {
  const index = new Map<string, CompiledRule[]>();
  for (const rule of rules) {
    const list = index.get(rule.name);
    if (list === undefined) index.set(rule.name, [rule]);
    else list.push(rule);
  }
  return index;
}

function freeze<T extends object>(value: T): T {
  return Object.freeze(value);
}

/**
 * Holds the snapshot in force. The watcher is its only writer; a request reads `current` once and
 * keeps that snapshot for its whole life.
 */
export class SnapshotHolder {
  #current: RoutingSnapshot;

  constructor(initial: RoutingSnapshot) {
    this.#current = initial;
  }

  get current(): RoutingSnapshot {
    return this.#current;
  }

  swap(next: RoutingSnapshot): void {
    this.#current = next;
  }
}
