/**
 * A version pool: the replicas serving one version of one model. It keeps the list of replicas
 * that may take traffic (rebuilt when a health, breaker or ejection state changes, never per
 * request), picks one by power of two choices on outstanding requests, and ejects a replica that
 * fails too often in a row (outlier ejection, never more than the allowed share of the pool).
 */
import type { ResilienceSettings } from '../config/load.js';
import { errorBody, servableNotFoundSpecific } from '../tfserving/errors.js';
import { operationSuffix, type TfOperation } from '../tfserving/path.js';
import type { AttemptFailure } from './attempt-errors.js';
import { REFUSED, type BreakerState } from './breaker.js';
import type { Replica } from './replica.js';
import { PoolStats, type Protocol } from './stats.js';

export type ReplicaSignal =
  | { readonly kind: 'breaker'; readonly state: BreakerState }
  | { readonly kind: 'ejection'; readonly ejected: boolean; readonly durationMs: number; readonly times: number };

/** Told of every breaker and ejection change, for logs, metrics and the admin event stream. */
export type PoolObserver = (pool: VersionPool, replica: Replica, signal: ReplicaSignal) => void;

export class VersionPool {
  readonly model: string;
  readonly version: number;
  readonly versionText: string;
  readonly resilience: ResilienceSettings;
  /** Upstream paths per operation, built once: the replica is always asked for this exact version. */
  readonly paths: Readonly<Record<TfOperation, string>>;
  /** Attempts at this pool's replicas over a sliding window: what the admin API and rollback read. */
  readonly stats = new PoolStats();
  /**
   * TF Serving's 404 text when a replica does not have this version loaded (loading, unloading,
   * unloaded), and the most bytes such an answer can take (the exchange holds 404s up to that to
   * read them; anything longer is some other 404 and is relayed as it comes).
   */
  readonly notLoaded: { readonly message: string; readonly maxBytes: number };
  /** Set by the drain monitor while this pool's error rate is too high to send it traffic. */
  draining = false;
  /**
   * While draining: how many more unpinned requests may still come before the drain monitor's next
   * tick. The drain is sticky, and this trickle is what shows the monitor a recovered version.
   */
  probes = 0;
  observer: PoolObserver | undefined;
  /** Replaced whole when replicas come and go (never edited in place: readers may hold the old one). */
  #replicas: readonly Replica[] = [];
  #up: Replica[] = [];
  #healthy = 0;

  constructor(model: string, version: number, replicas: readonly Replica[], resilience: ResilienceSettings) {
    this.model = model;
    this.version = version;
    this.versionText = String(version);
    this.resilience = resilience;
    const message = servableNotFoundSpecific(model, this.versionText);
    // Room for another JSON writer's spacing; TF Serving's own answer is errorBody() exactly.
    this.notLoaded = { message, maxBytes: 2 * Buffer.byteLength(errorBody(message)) + 64 };
    const base = `/v1/models/${encodeURIComponent(model)}/versions/${this.versionText}`;
    this.paths = {
      status: base,
      metadata: base + operationSuffix('metadata'),
      predict: base + operationSuffix('predict'),
      classify: base + operationSuffix('classify'),
      regress: base + operationSuffix('regress'),
    };
    this.setReplicas(replicas);
  }

  get replicas(): readonly Replica[] {
    return this.#replicas;
  }

  /**
   * The pool's replicas from now on. New ones take traffic once their health check passes; ones
   * left out get no new request (their owner drains and closes them).
   */
  setReplicas(next: readonly Replica[]): void {
    const known = new Set(this.#replicas);
    for (const replica of next) if (!known.has(replica)) this.#watch(replica);
    this.#replicas = next;
    this.refresh();
  }

  #watch(replica: Replica): void {
    replica.breaker.onChange = (state) => {
      if (!this.#replicas.includes(replica)) return;
      this.refresh();
      this.observer?.(this, replica, { kind: 'breaker', state });
    };
  }

  /** One second passed (the stats clock): this pool's stats window and its breakers' windows move on. */
  tick(): void {
    this.stats.tick();
    for (const replica of this.#replicas) replica.breaker.rotate();
  }

  /** Replicas whose health check passes (breakers and ejection aside). */
  get healthyCount(): number {
    return this.#healthy;
  }

  /** Replicas that may take traffic now. */
  get availableCount(): number {
    return this.#up.length;
  }

  /** Whether requests bound here should come: some replica may take them and the pool is not draining. */
  get canServe(): boolean {
    return this.#up.length > 0 && !this.draining;
  }

  /**
   * Whether an unpinned request bound here may come (and counts it if it is a drain probe): some
   * replica may take it and the pool is not draining, or the drain's probe allowance is not used up.
   */
  admitUnpinned(): boolean {
    if (this.#up.length === 0) return false;
    if (!this.draining) return true;
    if (this.probes <= 0) return false;
    this.probes--;
    return true;
  }

  /** Healthy replicas that are failing under traffic (breakers, ejections, drain): a bad version, not a missing one. */
  get degraded(): boolean {
    return this.#healthy > 0 && !this.canServe;
  }

  /** Called after a replica's health, breaker or ejection changed. */
  refresh(): void {
    this.#up = this.#replicas.filter((r) => r.available);
    this.#healthy = this.#replicas.reduce((n, r) => (r.health === 'up' ? n + 1 : n), 0);
  }

  /**
   * Power of two choices: two distinct random replicas, the one with fewer requests in flight. A
   * replica at its limit of requests in flight is passed over (an attempt never waits in a queue
   * for a connection, where its time would be blamed on the replica), as is a half-open breaker
   * whose single trial is out.
   */
  pick(exclude?: Replica): Replica | undefined {
    const up = this.#up;
    const n = up.length;
    if (n === 0) return undefined;
    if (n === 1) {
      const only = up[0] as Replica;
      return only === exclude || !only.admits() ? undefined : only;
    }
    const i = (Math.random() * n) | 0;
    let j = (Math.random() * (n - 1)) | 0;
    if (j >= i) j++;
    const a = up[i] as Replica;
    const b = up[j] as Replica;
    const aOk = a !== exclude && a.admits();
    const bOk = b !== exclude && b.admits();
    if (aOk && bOk) return b.outstanding < a.outstanding ? b : a;
    if (aOk) return a;
    if (bOk) return b;
    return up.find((r) => r !== exclude && r.admits());
  }

  /**
   * Panic routing (as Envoy's panic threshold): when breakers and ejections leave no replica to
   * pick while some pass their health checks, a pick among those healthy ones, breakers and
   * ejections aside, rather than a 503 for every request. For a model's stable pool only (the
   * exchange decides): a canary has stable to fall back to. Counted in the stats.
   */
  panicPick(exclude?: Replica): Replica | undefined {
    if (this.#up.length > 0) return undefined;
    let best: Replica | undefined;
    let seen = 0;
    for (const r of this.#replicas) {
      if (r === exclude || r.health !== 'up' || r.outstanding >= r.capacity) continue;
      // The least loaded of the healthy ones, ties broken at random: the panic should not pile on one.
      if (best === undefined || r.outstanding < best.outstanding || (r.outstanding === best.outstanding && Math.random() * ++seen < 1)) best = r;
    }
    if (best !== undefined) this.stats.panicTotal++;
    return best;
  }

  /** Whether every replica that may take traffic is at its limit of requests in flight (a busy pool, not a broken one). */
  get saturated(): boolean {
    return this.#up.length > 0 && this.#up.every((r) => r.outstanding >= r.capacity);
  }

  /**
   * The one place an attempt's end is recorded, once per attempt: its breaker (by the ticket it was
   * admitted with), outlier ejection, the pool's stats and its failure counts. `failure` undefined:
   * the replica answered (a 4xx relayed whole is a failure of kind null: the client's). A failure
   * that says nothing about the replica (kind null) counts as an answer in the stats and leaves its
   * failure streak alone. An attempt its breaker refused was never sent: only counted as such.
   */
  conclude(replica: Replica, ticket: number, latencyMs: number, failure: AttemptFailure | undefined, protocol: Protocol): void {
    replica.outstanding--;
    const counters = this.stats.byProtocol[protocol];
    if (ticket === REFUSED) {
      counters.failuresByKind.breaker++;
      return;
    }
    replica.breaker.report(ticket, failure);
    const kind = failure?.kind ?? null;
    if (failure === undefined || kind !== null) this.noteOutcome(replica, kind !== null);
    this.stats.record(latencyMs, kind !== null);
    counters.attempts++;
    if (kind !== null) counters.failuresByKind[kind]++;
  }

  /** Outlier ejection bookkeeping, after every attempt at `replica`. */
  noteOutcome(replica: Replica, failed: boolean): void {
    if (!failed) {
      replica.consecutiveFailures = 0;
      return;
    }
    const settings = this.resilience.ejection;
    if (++replica.consecutiveFailures < settings.consecutiveFailures || replica.ejectedUntil !== 0) return;
    const ejected = this.#replicas.reduce((k, r) => (r.ejectedUntil !== 0 ? k + 1 : k), 0);
    if (ejected + 1 > Math.floor((this.#replicas.length * settings.maxEjectedPercent) / 100)) return;
    const now = Date.now();
    // A replica that has behaved for as long as the longest ejection starts its count over.
    if (replica.ejections > 0 && now - replica.lastEjectionEnded > settings.maxMs) replica.ejections = 0;
    replica.ejections++;
    replica.ejectionsTotal++;
    const duration = Math.min(settings.baseMs * replica.ejections, settings.maxMs);
    replica.ejectedUntil = now + duration;
    replica.consecutiveFailures = 0;
    replica.ejectionTimer = setTimeout(() => this.#readmit(replica), duration);
    replica.ejectionTimer.unref();
    this.refresh();
    this.observer?.(this, replica, { kind: 'ejection', ejected: true, durationMs: duration, times: replica.ejections });
  }

  /** Ends an ejection early: a replica that went down and passed its health checks again starts afresh. */
  clearEjection(replica: Replica): void {
    if (replica.ejectedUntil === 0) return;
    clearTimeout(replica.ejectionTimer);
    this.#readmit(replica);
  }

  #readmit(replica: Replica): void {
    replica.ejectedUntil = 0;
    replica.lastEjectionEnded = Date.now();
    replica.ejectionTimer = undefined;
    this.refresh();
    this.observer?.(this, replica, { kind: 'ejection', ejected: false, durationMs: 0, times: replica.ejections });
  }
}
