/**
 * Finds the versions a discovering model's replicas serve (TF Serving's `model_version_policy`:
 * latest N, all, specific), by reading `GET /v1/models/{m}` on each of them every health-check
 * interval, and writes what changed to the store, where every gateway takes it from:
 *   - found: a version AVAILABLE on at least `minShare` of the replicas polled (one at least)
 *     joins the model's discovered versions, and so gets a pool of those replicas;
 *   - gone: a discovered version no replica that answers reports AVAILABLE, GONE_AFTER_POLLS polls
 *     in a row (a replica restarting reports its versions LOADING for a while), leaves them, unless
 *     the policy routes to it; it then leaves at a later poll, once the policy no longer does.
 * Every gateway polls; whichever sees a change first writes it (compare-and-set on the revision:
 * the others find it written and have nothing to do), so one audit entry records each change.
 * Nothing here runs per request: the data plane only sees pools come and go.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Agent, buildConnector } from 'undici';
import type { HealthCheckSettings } from '../config/load.js';
import type { ReplicaAddress } from '../dataplane/pool-registry.js';
import { discoveryChange } from './changes.js';
import { writePolicy, type WriterContext } from './policy-writer.js';
import { StoreUnavailableError } from './store/types.js';
import { PeriodicPass } from '../runtime/slices.js';
import { probeAgent, probeStatus } from './status-probe.js';

/** Polls in a row a version must be missing from every replica that answers before it is gone. */
export const GONE_AFTER_POLLS = 3;

/** One replica's answer: each version it reports, with its state. */
export type ReplicaVersions = ReadonlyMap<number, string>;

/** What one poll of a model's replicas found. */
export interface Observation {
  readonly polled: number;
  readonly answered: number;
  /** Per version: replicas that report it AVAILABLE. */
  readonly available: ReadonlyMap<number, number>;
}

export function observe(answers: ReadonlyArray<ReplicaVersions | undefined>): Observation {
  const available = new Map<number, number>();
  let answered = 0;
  for (const answer of answers) {
    if (answer === undefined) continue;
    answered++;
    for (const [version, state] of answer) if (state === 'AVAILABLE') available.set(version, (available.get(version) ?? 0) + 1);
  }
  return { polled: answers.length, answered, available };
}

/** Versions AVAILABLE on at least `minShare` of the replicas polled, and on one at least, ascending. */
export function foundVersions(observation: Observation, minShare: number): number[] {
  const needed = Math.max(1, Math.ceil(minShare * observation.polled - 1e-9));
  return [...observation.available].filter(([, n]) => n >= needed).map(([v]) => v).sort((a, b) => a - b);
}

/** The versions and states of a model status answer (`{"model_version_status": [{"version": "2", "state": ...}]}`). */
export function parseModelStatus(body: string): Map<number, string> | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  const list = (parsed as { model_version_status?: unknown } | null)?.model_version_status;
  if (!Array.isArray(list)) return undefined;
  const out = new Map<number, string>();
  for (const entry of list as Array<{ version?: unknown; state?: unknown } | null>) {
    const version = typeof entry?.version === 'string' && /^(0|[1-9][0-9]{0,15})$/.test(entry.version) ? Number(entry.version) : entry?.version;
    if (typeof version === 'number' && Number.isSafeInteger(version) && version >= 0 && typeof entry?.state === 'string') out.set(version, entry.state);
  }
  return out;
}

export interface DiscoveredModel {
  readonly name: string;
  readonly minShare: number;
  readonly healthCheck: HealthCheckSettings;
}

export interface VersionDiscoveryOptions {
  readonly ctx: WriterContext;
  readonly models: readonly DiscoveredModel[];
  /** The replicas to poll for a model (this gateway's: all of them or its subset). */
  readonly targets: (model: string) => readonly ReplicaAddress[];
  readonly log: Logger;
  /** Opens the polls' connections (TLS to https replicas); default: undici's own. */
  readonly connect?: buildConnector.connector;
}

export class VersionDiscovery {
  readonly #options: VersionDiscoveryOptions;
  readonly #agent: Agent;
  readonly #who = `${hostname()}:${process.pid}`;
  /** Per model, per discovered version: polls in a row it was AVAILABLE nowhere. */
  readonly #missing = new Map<string, Map<number, number>>();
  readonly #passes: PeriodicPass[] = [];
  #storeDownLogged = 0;
  #stopped = false;

  constructor(options: VersionDiscoveryOptions) {
    this.#options = options;
    const { connect } = options;
    this.#agent = probeAgent(connect);
  }

  start(): void {
    for (const model of this.#options.models) {
      const pass = new PeriodicPass(
        () => this.poll(model.name),
        (err) => this.#options.log.error({ err, model: model.name }, 'version discovery failed'),
      );
      pass.start(model.healthCheck.intervalMs);
      this.#passes.push(pass);
      void pass.runOnce();
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const pass of this.#passes) pass.stop();
    await this.#agent.close();
  }

  /** One poll of a model's replicas, and the write of what changed (tests call it directly). */
  async poll(name: string): Promise<void> {
    const model = this.#options.models.find((m) => m.name === name);
    if (model === undefined || this.#stopped) return;
    const targets = this.#options.targets(name);
    const answers = await Promise.all(targets.map((t) => this.#read(t.origin, name, model.healthCheck.timeoutMs)));
    if (this.#stopped) return;
    const observation = observe(answers);
    const found = foundVersions(observation, model.minShare);
    const gone = this.#gone(name, observation);
    const compiled = this.#options.ctx.snapshots.current.models.get(name);
    if (compiled === undefined) return;
    const note = (added: number[], removed: number[]): string =>
      [
        added.length > 0 ? `found on the replicas: ${list(added)} (${added.map((v) => `${v} AVAILABLE on ${observation.available.get(v) ?? 0}`).join(', ')} of ${observation.polled} polled by ${this.#who})` : '',
        removed.length > 0 ? `gone from the replicas: ${list(removed)} (AVAILABLE on none of the ${observation.answered} that answered ${this.#who}, ${GONE_AFTER_POLLS} polls in a row)` : '',
      ]
        .filter((s) => s !== '')
        .join('; ');
    // Most polls change nothing: judged on the state in force first (the same rule the write
    // applies to the stored state), so they cost the store nothing.
    if (discoveryChange(compiled.stored, found, gone, note) === null) return;
    try {
      await writePolicy(this.#options.ctx, name, { actor: 'version-discovery', reason: 'discovery', ifMatch: undefined }, (current) => discoveryChange(current, found, gone, note));
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      // Tried again at the next poll.
      if (Date.now() - this.#storeDownLogged > 10_000) {
        this.#storeDownLogged = Date.now();
        this.#options.log.error({ model: name, err: err.message }, 'cannot record discovered versions: policy store unavailable');
      }
    }
  }

  /** Discovered versions missing everywhere for GONE_AFTER_POLLS polls; a poll nobody answered proves nothing. */
  #gone(model: string, observation: Observation): number[] {
    const compiled = this.#options.ctx.snapshots.current.models.get(model);
    const streaks = this.#missing.get(model) ?? new Map<number, number>();
    this.#missing.set(model, streaks);
    const gone: number[] = [];
    for (const version of compiled?.stored.versions.discovered ?? []) {
      if (observation.answered === 0) continue;
      const streak = (observation.available.get(version) ?? 0) === 0 ? (streaks.get(version) ?? 0) + 1 : 0;
      streaks.set(version, streak);
      if (streak >= GONE_AFTER_POLLS) gone.push(version);
    }
    for (const version of streaks.keys()) if (!compiled?.stored.versions.discovered.includes(version)) streaks.delete(version);
    return gone;
  }

  /** One replica's versions, or undefined when it did not answer usably (down, timeout, 5xx, too large, not JSON). */
  async #read(origin: string, model: string, timeoutMs: number): Promise<ReplicaVersions | undefined> {
    const answer = await probeStatus(this.#agent, origin, `/v1/models/${model}`, timeoutMs);
    if (!answer.answered || answer.body === undefined) return undefined;
    // TF answers 404 for a model it serves no version of: an answer, with nothing AVAILABLE.
    if (answer.statusCode === 404) return new Map();
    return answer.statusCode === 200 ? parseModelStatus(answer.body) : undefined;
  }
}

function list(versions: readonly number[]): string {
  return `${versions.length === 1 ? 'version' : 'versions'} ${versions.join(', ')}`;
}
