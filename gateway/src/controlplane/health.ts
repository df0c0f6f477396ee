/**
 * Active health checks, the way TF Serving wants them: GET the version's status and look for
 * AVAILABLE (the endpoint answers 200 whatever the state, so the status code alone says nothing).
 * A replica never seen healthy needs one good check; one that went down needs `healthyThreshold`
 * in a row; an up replica goes down after `unhealthyThreshold` failures in a row. Checks use their
 * own connections so a saturated traffic pool cannot starve them.
 *
 * The data plane may ask for a check out of turn (`Replica.recheck`): the replica answered that it
 * does not have its version loaded. That check, if the replica answers it and says the version is
 * not AVAILABLE, takes the replica down at once: two signals agree, and waiting for the threshold
 * would only cost retries. A check that times out or cannot connect is judged as usual.
 */
import { EventEmitter } from 'node:events';
import type { Agent, buildConnector } from 'undici';
import type { HealthCheckSettings } from '../config/load.js';
import type { VersionPool } from '../dataplane/pool.js';
import type { Replica, ReplicaHealth } from '../dataplane/replica.js';
import { probeAgent, probeStatus, STATUS_BODY_LIMIT } from './status-probe.js';

export interface HealthChange {
  readonly model: string;
  readonly version: number;
  readonly replica: string;
  readonly from: ReplicaHealth;
  readonly to: ReplicaHealth;
  readonly detail: string;
}

interface Target {
  readonly pool: VersionPool;
  readonly replica: Replica;
  readonly settings: HealthCheckSettings;
  okStreak: number;
  failStreak: number;
  everUp: boolean;
  timer: NodeJS.Timeout | undefined;
  /** The delay `timer` was set with: a timer of the regular period is re-armed, not replaced. */
  timerMs: number;
  /** Starts a check: one closure per replica, not one per check. */
  readonly fire: () => void;
  /** Its own period, the interval plus up to a tenth, so that replicas do not fall into step. */
  readonly periodMs: number;
  removed: boolean;
  /** A check is under way. */
  checking: boolean;
  /** performance.now() when the last check started. */
  lastStartedAt: number;
  /** The data plane asked for a check: the next one to finish is judged as a confirmation. */
  suspected: boolean;
  /** A check out of turn is scheduled. */
  hastened: boolean;
  /** Its share of the interval, in [0, 1): where its checks fall within each interval. */
  readonly phase: number;
  /** No check has been scheduled after a first one yet. */
  first: boolean;
}

/**
 * The n-th term of the van der Corput sequence (base 2), in [0, 1): any run of consecutive terms is
 * spread evenly (n terms leave no gap wider than 2/n), however many replicas come and go.
 */
export function spreadPhase(n: number): number {
  let bits = n >>> 0;
  bits = ((bits & 0x55555555) << 1) | ((bits >>> 1) & 0x55555555);
  bits = ((bits & 0x33333333) << 2) | ((bits >>> 2) & 0x33333333);
  bits = ((bits & 0x0f0f0f0f) << 4) | ((bits >>> 4) & 0x0f0f0f0f);
  bits = ((bits & 0x00ff00ff) << 8) | ((bits >>> 8) & 0x00ff00ff);
  bits = (bits << 16) | (bits >>> 16);
  return (bits >>> 0) / 2 ** 32;
}

export interface HealthCheckerOptions {
  /** Opens the checks' connections (TLS to https replicas, as the traffic's); default: undici's own. */
  readonly connect?: buildConnector.connector;
  /** Told of every check scheduled after another, with its delay and the timer that will start it (tests). */
  readonly onSchedule?: (replica: Replica, delayMs: number, timer: NodeJS.Timeout) => void;
}

/** A replica answered the check and reported its version not AVAILABLE (a timeout proves less). */
interface ProbeResult {
  readonly ok: boolean;
  readonly detail: string;
  readonly answered: boolean;
}

export class HealthChecker extends EventEmitter<{ change: [HealthChange] }> {
  readonly #targets = new Map<Replica, Target>();
  readonly #agent: Agent;
  readonly #onSchedule: HealthCheckerOptions['onSchedule'];
  #started = false;
  #stopped = false;
  /** Replicas added so far: the next one's place in the spread. */
  #added = 0;

  constructor(options: HealthCheckerOptions = {}) {
    super();
    const { connect } = options;
    this.#onSchedule = options.onSchedule;
    this.#agent = probeAgent(connect);
  }

  /** Starts checking a replica of `pool` (at once, if the checker is running). */
  add(pool: VersionPool, replica: Replica, settings: HealthCheckSettings): Promise<void> {
    if (this.#targets.has(replica)) return Promise.resolve();
    const target: Target = {
      pool,
      replica,
      settings,
      okStreak: 0,
      failStreak: 0,
      everUp: false,
      timer: undefined,
      timerMs: -1,
      fire: () => void this.#check(target),
      periodMs: settings.intervalMs * (1 + Math.random() * 0.1),
      removed: false,
      checking: false,
      lastStartedAt: -Infinity,
      suspected: false,
      hastened: false,
      phase: spreadPhase(this.#added++),
      first: true,
    };
    this.#targets.set(replica, target);
    replica.recheck = () => this.#recheck(target);
    return this.#started ? this.#check(target) : Promise.resolve();
  }

  /** Stops checking a replica that left its pool. */
  remove(replica: Replica): void {
    const target = this.#targets.get(replica);
    if (target === undefined) return;
    target.removed = true;
    clearTimeout(target.timer);
    replica.recheck = undefined;
    this.#targets.delete(replica);
  }

  /** Runs the first check of every replica and resolves when all have answered or timed out. */
  async start(): Promise<void> {
    this.#started = true;
    await Promise.all([...this.#targets.values()].map((t) => this.#check(t)));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#targets.values()) clearTimeout(t.timer);
    await this.#agent.close();
  }

  /**
   * A check out of turn, for an up replica. Hints come from traffic, so they come in bursts: one
   * check answers them all, and checks out of turn start at most four per interval.
   */
  #recheck(target: Target): void {
    if (!this.#started || this.#stopped || target.removed || target.replica.health !== 'up') return;
    target.suspected = true;
    if (target.checking || target.hastened) return;
    target.hastened = true;
    clearTimeout(target.timer);
    const wait = Math.max(0, target.lastStartedAt + target.settings.intervalMs / 4 - performance.now());
    this.#arm(target, wait);
  }

  /**
   * The target's next check in `delayMs`. A check every two seconds per replica made each replica
   * a timer, a closure and its context every two seconds that lived until the next: hundreds of
   * replicas' worth of them were alive at every scavenge, copied and then promoted (README,
   * Performance). The regular period's timer is re-armed in place instead.
   */
  #arm(target: Target, delayMs: number): NodeJS.Timeout {
    if (target.timer !== undefined && target.timerMs === delayMs) return target.timer.refresh();
    clearTimeout(target.timer);
    target.timer = setTimeout(target.fire, delayMs);
    target.timerMs = delayMs;
    return target.timer;
  }

  async #check(target: Target): Promise<void> {
    if (this.#stopped || target.removed) return;
    target.checking = true;
    target.hastened = false;
    target.lastStartedAt = performance.now();
    const result = await probe(this.#agent, target);
    target.checking = false;
    if (this.#stopped || target.removed) return;
    this.#record(target, result);
    // After the first check, the replica's own share of the interval: replicas checked together
    // (the first pass) fall apart evenly. Later, its own period, so they do not fall back into step.
    const delay = target.first ? target.settings.intervalMs * (1 + target.phase) : target.periodMs;
    target.first = false;
    const timer = this.#arm(target, delay);
    this.#onSchedule?.(target.replica, delay, timer);
  }

  #record(target: Target, { ok, detail, answered }: ProbeResult): void {
    const { replica, settings } = target;
    const confirmation = target.suspected && answered;
    target.suspected = false;
    // In place: a new object per check would live until the next one, through a scavenge.
    const last = replica.lastCheck;
    if (last === null) replica.lastCheck = { at: Date.now(), ok, detail };
    else {
      last.at = Date.now();
      last.ok = ok;
      last.detail = detail;
    }
    const before = replica.health;
    if (ok) {
      target.okStreak++;
      target.failStreak = 0;
      if (before !== 'up' && (!target.everUp || target.okStreak >= settings.healthyThreshold)) {
        target.everUp = true;
        this.#set(target, 'up', detail);
      }
    } else {
      target.failStreak++;
      target.okStreak = 0;
      if (before === 'unknown' || (before === 'up' && (confirmation || target.failStreak >= settings.unhealthyThreshold))) {
        this.#set(target, 'down', detail);
      }
    }
  }

  #set(target: Target, to: ReplicaHealth, detail: string): void {
    const from = target.replica.health;
    target.replica.health = to;
    // Back from down through the health checks: a stronger signal than an ejection's timer.
    if (from === 'down' && to === 'up') target.pool.clearEjection(target.replica);
    target.pool.refresh();
    this.emit('change', { model: target.pool.model, version: target.pool.version, replica: target.replica.origin, from, to, detail });
  }
}

async function probe(agent: Agent, target: Target): Promise<ProbeResult> {
  const { pool, replica, settings } = target;
  const answer = await probeStatus(agent, replica.origin, pool.paths.status, settings.timeoutMs);
  if (!answer.answered) return { ok: false, detail: answer.detail, answered: false };
  if (answer.statusCode !== 200) return { ok: false, detail: `HTTP ${answer.statusCode}`, answered: true };
  const state = answer.body === undefined ? `unreadable (over ${STATUS_BODY_LIMIT} bytes)` : versionState(answer.body, pool.versionText);
  return state === 'AVAILABLE' ? { ok: true, detail: 'AVAILABLE', answered: true } : { ok: false, detail: `state ${state}`, answered: true };
}

/** The state TF Serving reports for one version, or why it could not be read. */
export function versionState(body: string, version: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return 'unreadable (not JSON)';
  }
  const list = (parsed as { model_version_status?: unknown }).model_version_status;
  if (!Array.isArray(list)) return 'unreadable (no model_version_status)';
  for (const entry of list as Array<{ version?: unknown; state?: unknown }>) {
    if (String(entry.version) === version) return typeof entry.state === 'string' ? entry.state : 'UNKNOWN';
  }
  return 'missing';
}
