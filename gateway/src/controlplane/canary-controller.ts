/**
 * Watches every canary from this gateway's live numbers, four times a second:
 *   - drain: a canary pool whose error rate over the drain window is too high takes no more
 *     unpinned traffic (it drains to stable at once, on this gateway) but a probe trickle, and
 *     stays drained until that trickle shows it recovered (see #drain);
 *   - rollback: the canary compared with stable over the analysis window (error rate above
 *     max(maxErrorRate, errorRatio x stable), or p99 above latencyRatio x stable + margin) is
 *     rolled back through the store, so every gateway follows;
 *   - rollout: a model with a plan steps up once the step has dwelt long enough, seen enough
 *     canary requests and passed the analysis, and is promoted after the last step. A plan with a
 *     shadow stage starts there: the canary gets copies only, until this gateway has compared
 *     enough of its answers; then the first step, or a rollback with the numbers in its note;
 *   - new versions: with `onNewVersion`, the newest discovered version newer than stable becomes the
 *     candidate and its plan starts (changes.ts, nextCandidate); a candidate's rollback rejects it.
 * Several gateways may judge at once: writes are compare-and-set on the revision judged, so exactly
 * one wins and the others see its result arrive. Requests a failing canary should have served
 * (diverted to stable by open breakers, ejections or drain) count as canary errors, so a canary
 * that fails fast enough to starve itself of traffic is still judged.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { CompiledModel } from '../dataplane/snapshot.js';
import type { VersionPool } from '../dataplane/pool.js';
import type { ResilienceSettings } from '../config/load.js';
import { inShadowStage, nextCandidate, promote, rollback, shadowStageFailed, shadowStagePassed, startCandidate, stepUp } from './changes.js';
import type { ShadowResults } from '../analysis/shadow-results.js';
import { ConflictError, writePolicy, type WriterContext } from './policy-writer.js';
import { StoreUnavailableError } from './store/types.js';
import { inSlices, PeriodicPass } from '../runtime/slices.js';

/**
 * Models judged per event-loop turn: each judgement merges a few stats windows (some thousands of
 * additions), so a gateway with a hundred models yields to requests every few dozen microseconds.
 */
export const MODELS_PER_SLICE = 4;

export type Verdict = { readonly kind: 'pass' | 'insufficient'; readonly detail: string } | { readonly kind: 'breach'; readonly detail: string };

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const ms = (x: number): string => `${x < 10 ? x.toFixed(1) : Math.round(x)} ms`;

/**
 * The rollback analysis: a pure function of the two pools' windows. `windowSeconds` may be shorter
 * than the configured window (numbers from before the policy in force are not held against it).
 */
export function analyse(canary: VersionPool, stable: VersionPool, settings: ResilienceSettings['analysis'], windowSeconds = settings.windowSeconds): Verdict {
  const c = canary.stats.window(windowSeconds, true);
  const s = stable.stats.window(windowSeconds, true);
  const requests = c.requests + c.diverted;
  if (requests < settings.minRequests) {
    return { kind: 'insufficient', detail: `${requests} canary requests in ${windowSeconds} s, ${settings.minRequests} needed` };
  }
  const errorRate = (c.errors + c.diverted) / requests;
  const errorLimit = Math.max(settings.maxErrorRate, settings.errorRatio * s.errorRate);
  if (errorRate > errorLimit) {
    return {
      kind: 'breach',
      detail: `canary error rate ${pct(errorRate)} > max(${pct(settings.maxErrorRate)}, ${settings.errorRatio} x stable ${pct(s.errorRate)}) over the last ${windowSeconds} s (${requests} requests)`,
    };
  }
  const canaryP99 = c.p99ExceptSlowestMs;
  const stableP99 = s.p99ExceptSlowestMs;
  if (canaryP99 !== null && stableP99 !== null) {
    const latencyLimit = settings.latencyRatio * stableP99 + settings.latencyMarginMs;
    if (canaryP99 > latencyLimit) {
      return {
        kind: 'breach',
        detail: `canary p99 ${ms(canaryP99)} > ${settings.latencyRatio} x stable p99 ${ms(stableP99)} + ${settings.latencyMarginMs} ms over the last ${windowSeconds} s (${requests} requests)`,
      };
    }
  }
  return { kind: 'pass', detail: `canary error rate ${pct(errorRate)}, p99 ${canaryP99 === null ? '-' : ms(canaryP99)} (${requests} requests)` };
}

export class CanaryController {
  readonly #ctx: WriterContext;
  readonly #log: Logger;
  readonly #who = `${hostname()}:${process.pid}`;
  /** Models with a write under way: judged again only once it has settled. */
  readonly #writing = new Set<string>();
  /** Per model and rollout step: the canary's request count when this gateway first saw the step. */
  readonly #baselines = new Map<string, { readonly key: string; readonly requests: number }>();
  /** When this gateway first saw each model's revision in force. */
  readonly #inForceSince = new Map<string, { readonly revision: number; readonly at: number }>();
  /** Per model in a shadow stage: the comparison's totals when this gateway first saw the stage. */
  readonly #gateBaselines = new Map<string, { readonly key: string; readonly results: ShadowResults; readonly agreed: number; readonly disagreed: number; readonly error: number }>();
  readonly #shadowResults: (model: string) => ShadowResults | undefined;
  /** Canary pools this controller set draining, with the stats second each drain began in. */
  readonly #drained = new Map<VersionPool, number>();
  #intervalMs = 250;
  #storeDownLogged = 0;
  #stopped = false;
  readonly #periodic: PeriodicPass;

  /** `shadowResults`: this gateway's comparison results of a model (what a shadow stage is judged on). */
  constructor(ctx: WriterContext, log: Logger, shadowResults: (model: string) => ShadowResults | undefined = () => undefined) {
    this.#ctx = ctx;
    this.#log = log;
    this.#shadowResults = shadowResults;
    this.#periodic = new PeriodicPass(
      () => this.pass(),
      (err) => this.#log.error({ err }, 'controller pass failed'),
    );
  }

  start(intervalMs = 250): void {
    this.#intervalMs = intervalMs;
    this.#stopped = false;
    this.#periodic.start(intervalMs);
  }

  stop(): void {
    this.#stopped = true;
    this.#periodic.stop();
  }

  /** Judges every model at once (tests step the controller with it). */
  tick(): void {
    for (const model of this.#ctx.snapshots.current.models.values()) this.#judge(model);
    if (this.#drained.size > 0) this.#forgetFormerCanaries();
  }

  /** What the timer runs: every model judged, MODELS_PER_SLICE per event-loop turn. */
  async pass(): Promise<void> {
    // The snapshot of the pass's start: one swapped in meanwhile is judged at the next pass.
    await inSlices({ work: 'controller', budget: MODELS_PER_SLICE, stopped: () => this.#stopped }, this.#ctx.snapshots.current.models.values(), (model) =>
      this.#judge(model),
    );
    if (!this.#stopped && this.#drained.size > 0) this.#forgetFormerCanaries();
  }

  #judge(model: CompiledModel): void {
    // A model replaced by a newer snapshot since the pass began is judged at the next pass, on
    // the policy then in force.
    if (this.#ctx.snapshots.current.models.get(model.name) !== model) return;
    if (model.policy.onNewVersion !== null && this.#maybeStartCandidate(model)) return;
    const canary = model.canary;
    if (canary === null) return;
    // Numbers from before the policy in force came into force are not held against it: an
    // operator who re-enables a fixed canary must not see it rolled back for its old errors.
    const age = this.#secondsInForce(model);
    // Rolled back: no unpinned request goes to the canary, so there is nothing to drain (and no
    // probe to ever show a recovery).
    if (model.decisions.canary === undefined) this.#endDrain(canary, 'rolled back');
    else this.#drain(canary, age);
    if (model.stored.rolledBack || this.#writing.has(model.name)) return;
    const settings = canary.resilience.analysis;
    if (!settings.enabled) return;
    const verdict = analyse(canary, model.stable, settings, Math.min(settings.windowSeconds, age));
    if (verdict.kind === 'breach') this.#rollback(model, verdict.detail);
    else if (inShadowStage(model.policy, model.stored.rollout)) this.#judgeShadowStage(model, canary, settings);
    else this.#maybeStep(model, verdict);
  }

  /** A newer version found on the replicas becomes the candidate (see nextCandidate); true when a write began. */
  #maybeStartCandidate(model: CompiledModel): boolean {
    if (this.#writing.has(model.name)) return false;
    const version = nextCandidate(model.stored);
    if (version === null) return false;
    const stage = model.policy.onNewVersion?.plan.shadow === undefined ? 'its first step' : 'its shadow stage';
    const replaced = model.policy.canary !== null && !model.stored.rolledBack ? ` (replaces candidate ${model.policy.canary})` : '';
    const note = `version ${version} found on the replicas (${this.#who}): candidate${replaced}, rollout starts with ${stage}`;
    this.#log.info({ model: model.name, version }, 'new version: candidate rollout starts');
    this.#write(model, 'rollout', (current) => (nextCandidate(current) === version ? startCandidate(current, version, note) : null));
    return true;
  }

  /** Complete seconds since this gateway first saw the model's revision (0: within the first second). */
  #secondsInForce(model: CompiledModel): number {
    let since = this.#inForceSince.get(model.name);
    if (since === undefined || since.revision !== model.revision) {
      since = { revision: model.revision, at: Date.now() };
      this.#inForceSince.set(model.name, since);
    }
    return Math.floor((Date.now() - since.at) / 1000);
  }

  /**
   * Drain with hysteresis. A canary drains once the window holds at least `minRequests` attempts
   * with an error rate above `errorRate`. Draining removes the traffic the window is made of, so
   * an empty window proves nothing: the drain holds until the window again holds `minRequests`
   * attempts with an error rate at most half the threshold, counting only seconds since the drain
   * began (a window reaching back before the fault would vouch for a canary still failing). The
   * evidence comes from a trickle of unpinned requests still let through (enough for about twice
   * `minRequests` per window), plus any pinned traffic; a failed probe is retried on stable like
   * any canary failure. A rollback ends the drain.
   */
  #drain(canary: VersionPool, age: number): void {
    const settings = canary.resilience.drain;
    const began = this.#drained.get(canary);
    if (began === undefined) {
      const window = canary.stats.window(Math.min(settings.windowSeconds, age), true);
      if (window.requests < settings.minRequests || window.errorRate <= settings.errorRate) return;
      canary.draining = true;
      this.#drained.set(canary, canary.stats.closedSeconds);
      this.#log.warn(
        { model: canary.model, version: canary.version, errorRate: window.errorRate, requests: window.requests },
        'canary draining to stable: error rate over the drain threshold',
      );
    } else {
      const window = canary.stats.window(Math.min(settings.windowSeconds, age, canary.stats.closedSeconds - began), true);
      if (window.requests >= settings.minRequests && window.errorRate <= settings.errorRate / 2) {
        this.#endDrain(canary, `recovered: error rate ${pct(window.errorRate)} over ${window.requests} requests`);
        return;
      }
    }
    // Not cumulative: unused probes of a quiet tick do not pile up into a burst.
    const perSecond = (2 * settings.minRequests) / settings.windowSeconds;
    canary.probes = Math.max(1, Math.ceil((perSecond * this.#intervalMs) / 1000));
  }

  #endDrain(canary: VersionPool, why: string): void {
    this.#drained.delete(canary);
    canary.probes = 0;
    if (!canary.draining) return;
    canary.draining = false;
    this.#log.info({ model: canary.model, version: canary.version, why }, 'canary no longer draining');
  }

  /** A pool that stopped being a canary (promoted, replaced, removed) while draining takes traffic as any other. */
  #forgetFormerCanaries(): void {
    const canaries = new Set<VersionPool>();
    for (const model of this.#ctx.snapshots.current.models.values()) if (model.canary !== null) canaries.add(model.canary);
    for (const pool of [...this.#drained.keys()]) if (!canaries.has(pool)) this.#endDrain(pool, 'no longer a canary');
  }

  #rollback(model: CompiledModel, detail: string): void {
    this.#log.warn({ model: model.name, revision: model.revision, detail }, 'canary breach: rolling back');
    this.#write(model, 'rollback', (current) => (current.rolledBack ? null : rollback(current, `automatic rollback (${this.#who}): ${detail}`)));
  }

  #maybeStep(model: CompiledModel, verdict: Verdict): void {
    const plan = model.policy.plan;
    const progress = model.stored.rollout;
    const canary = model.canary;
    if (plan === null || progress === null || canary === null || model.stored.paused) return;
    const key = `${progress.step}@${progress.since}`;
    let baseline = this.#baselines.get(model.name);
    if (baseline === undefined || baseline.key !== key) {
      baseline = { key, requests: canary.stats.totalRequests };
      this.#baselines.set(model.name, baseline);
    }
    const dwelt = Date.now() - Date.parse(progress.since) >= plan.minDwellSeconds * 1000;
    const seen = canary.stats.totalRequests - baseline.requests;
    // Without enough traffic to judge, a step only goes ahead when the plan asks for no volume.
    const judged = verdict.kind === 'pass' || plan.minRequests === 0;
    if (!dwelt || seen < plan.minRequests || !judged) return;
    const next = progress.step + 1;
    if (next < plan.steps.length) {
      const note = `rollout step ${next + 1}/${plan.steps.length}: ${plan.steps[next]}% after ${plan.steps[progress.step]}% passed (${verdict.detail})`;
      this.#log.info({ model: model.name, step: next, percent: plan.steps[next] }, 'rollout steps up');
      this.#write(model, 'rollout', (current) => (current.rollout?.step === progress.step ? stepUp(current, plan, next, note) : null));
    } else {
      this.#log.info({ model: model.name, version: canary.version }, 'rollout complete: promoting');
      this.#write(model, 'promotion', (current) =>
        current.rollout?.step === progress.step ? promote(current, `rollout complete: version ${canary.version} promoted (${verdict.detail})`) : null,
      );
    }
  }

  /**
   * The shadow stage, judged on the pairs this gateway compared since it first saw the stage: once
   * there are minRequests of them, the first step if they agree often enough and the shadow's
   * errors are within the analysis's maxErrorRate, else a rollback. Either write names the numbers.
   */
  #judgeShadowStage(model: CompiledModel, canary: VersionPool, settings: ResilienceSettings['analysis']): void {
    const plan = model.policy.plan;
    const gate = plan?.shadow;
    const rollout = model.stored.rollout;
    if (plan === null || gate === undefined || rollout === null || model.stored.paused) return;
    const results = this.#shadowResults(model.name);
    if (results === undefined || results.version !== canary.version) return;
    const totals = results.totals;
    let base = this.#gateBaselines.get(model.name);
    if (base === undefined || base.key !== rollout.since || base.results !== results) {
      base = { key: rollout.since, results, agreed: totals.agreed, disagreed: totals.disagreed, error: totals.error };
      this.#gateBaselines.set(model.name, base);
    }
    const agreed = totals.agreed - base.agreed;
    const compared = agreed + totals.disagreed - base.disagreed;
    const errors = totals.error - base.error;
    if (compared < gate.minRequests) return;
    const agreement = agreed / compared;
    const errorRate = errors / (compared + errors);
    const numbers = `agreement ${pct(agreement)} over ${compared} compared pairs (at least ${pct(gate.minAgreement)} needed), shadow error rate ${pct(errorRate)} (at most ${pct(settings.maxErrorRate)})`;
    if (agreement >= gate.minAgreement && errorRate <= settings.maxErrorRate) {
      this.#log.info({ model: model.name, version: canary.version, agreement, compared, errorRate }, 'shadow stage passed: rollout starts its steps');
      const note = `shadow stage passed (${this.#who}): ${numbers}; rollout step 1/${plan.steps.length}: ${plan.steps[0]}%`;
      this.#write(model, 'rollout', (current) => (inShadowStage(current.policy, current.rollout) ? shadowStagePassed(current, plan, note) : null));
    } else {
      this.#log.warn({ model: model.name, version: canary.version, agreement, compared, errorRate }, 'shadow stage failed: rolling back');
      const note = `shadow stage failed (${this.#who}): ${numbers}`;
      this.#write(model, 'rollback', (current) => (inShadowStage(current.policy, current.rollout) ? shadowStageFailed(current, note) : null));
    }
  }

  #write(model: CompiledModel, reason: 'rollback' | 'rollout' | 'promotion', change: Parameters<typeof writePolicy>[3]): void {
    this.#writing.add(model.name);
    const actor = reason === 'rollback' ? 'rollback-controller' : 'rollout-controller';
    writePolicy(this.#ctx, model.name, { actor, reason, ifMatch: model.revision }, change)
      .catch((err: unknown) => {
        if (err instanceof ConflictError) {
          this.#log.debug({ model: model.name }, 'another writer changed the policy first');
        } else if (err instanceof StoreUnavailableError) {
          // Drain keeps protecting clients locally; the write is tried again at the next tick.
          if (Date.now() - this.#storeDownLogged > 10_000) {
            this.#storeDownLogged = Date.now();
            this.#log.error({ model: model.name, reason, err: err.message }, 'cannot write the controller decision: policy store unavailable');
          }
        } else {
          this.#log.error({ model: model.name, reason, err }, 'controller write failed');
        }
      })
      .finally(() => this.#writing.delete(model.name));
  }
}
