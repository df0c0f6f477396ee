/**
 * A replica's circuit breaker: closed, open, or half-open with exactly one trial attempt.
 *
 * Closed, it counts attempts and failures over a rolling window of `windowSeconds` one-second
 * slots, moved on by the pool's stats clock. A failure that leaves at least `volumeThreshold`
 * attempts in the window and a failure share above `errorThresholdPercentage` opens it. Open, it
 * admits nothing; `resetTimeoutMs` later it is half-open and admits one trial, whose own outcome
 * closes it (with an empty window: the failures that opened it were answered by the trial) or
 * opens it again.
 *
 * Every admitted attempt holds a ticket, the breaker's epoch when it was admitted. The epoch moves
 * on at every state change and every trial, so an outcome whose ticket is not the current epoch
 * belongs to an earlier period and is dropped: a slow answer to an attempt sent before the breaker
 * opened neither closes it nor uses up its trial.
 *
 * A TF Serving 4xx and a client that hung up say nothing about the replica (a failure whose kind
 * is null): they count for nothing. A trial ending that way gives its slot back, so the next request is the trial
 * (the breaker neither closes on it nor waits for an outcome that will not come).
 *
 * Written here rather than on opossum: its fire() wraps every call in promises (about a tenth of
 * a proxied request's CPU), and its trial closes on any filtered error. Here an attempt on a closed
 * breaker costs a comparison to be admitted and two increments to be counted. The one timer is the
 * reset timeout, held only while open (as an ejected replica holds its own).
 */
import type { ResilienceSettings } from '../config/load.js';
import type { AttemptFailure } from './attempt-errors.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export type BreakerSettings = ResilienceSettings['breaker'];

/** The ticket of an attempt the breaker did not admit. */
export const REFUSED = -1;
/** The ticket of an attempt sent in panic, past the breaker (see VersionPool.panicPick): its outcome is not the breaker's. */
export const UNGUARDED = -2;

export class ReplicaBreaker {
  /** Told of every state change, after it happened. */
  onChange: ((state: BreakerState) => void) | undefined = undefined;
  readonly #settings: BreakerSettings;
  #state: BreakerState = 'closed';
  #epoch = 0;
  /** Half-open: the trial is out. */
  #trialOut = false;
  /** Per second of the window: attempts and failures while closed. */
  readonly #attempts: Uint32Array;
  readonly #failures: Uint32Array;
  #slot = 0;
  #attemptsInWindow = 0;
  #failuresInWindow = 0;
  #resetTimer: NodeJS.Timeout | undefined = undefined;
  readonly #toHalfOpen = (): void => this.#halfOpen();

  constructor(settings: BreakerSettings) {
    this.#settings = settings;
    this.#attempts = new Uint32Array(settings.windowSeconds);
    this.#failures = new Uint32Array(settings.windowSeconds);
  }

  get state(): BreakerState {
    return this.#state;
  }

  /** Whether `admit` would let an attempt through now (closed, or half-open with its trial unused). */
  admits(): boolean {
    return this.#state === 'closed' || (this.#state === 'half-open' && !this.#trialOut);
  }

  /** Lets an attempt through: its ticket for `report`, or REFUSED. On a half-open breaker, the trial. */
  admit(): number {
    if (this.#state === 'closed') return this.#epoch;
    if (this.#state === 'open' || this.#trialOut) return REFUSED;
    this.#trialOut = true;
    return ++this.#epoch;
  }

  /** How the attempt holding `ticket` ended: `failure` undefined for an answer below 400. */
  report(ticket: number, failure: AttemptFailure | undefined): void {
    if (ticket !== this.#epoch) return;
    if (failure === undefined) this.#succeeded();
    else if (failure.kind === null) this.#releaseTrial();
    else this.#failed();
  }

  /** One second passed: the oldest second leaves the window. Called by the pool's stats clock. */
  rotate(): void {
    const next = this.#slot + 1 === this.#attempts.length ? 0 : this.#slot + 1;
    this.#attemptsInWindow -= this.#attempts[next]!;
    this.#failuresInWindow -= this.#failures[next]!;
    this.#attempts[next] = 0;
    this.#failures[next] = 0;
    this.#slot = next;
  }

  /** The replica is gone: no more timer, no more telling. */
  shutdown(): void {
    clearTimeout(this.#resetTimer);
    this.#resetTimer = undefined;
    this.onChange = undefined;
  }

  #succeeded(): void {
    if (this.#state === 'half-open') {
      this.#close();
      return;
    }
    this.#attempts[this.#slot]!++;
    this.#attemptsInWindow++;
  }

  #failed(): void {
    if (this.#state === 'half-open') {
      this.#open();
      return;
    }
    this.#attempts[this.#slot]!++;
    this.#failures[this.#slot]!++;
    const attempts = ++this.#attemptsInWindow;
    const failures = ++this.#failuresInWindow;
    if (attempts >= this.#settings.volumeThreshold && failures * 100 > this.#settings.errorThresholdPercentage * attempts) this.#open();
  }

  #releaseTrial(): void {
    if (this.#state === 'half-open') this.#trialOut = false;
  }

  #open(): void {
    this.#state = 'open';
    this.#epoch++;
    this.#resetTimer = setTimeout(this.#toHalfOpen, this.#settings.resetTimeoutMs);
    this.#resetTimer.unref();
    this.onChange?.('open');
  }

  #halfOpen(): void {
    this.#resetTimer = undefined;
    this.#state = 'half-open';
    this.#epoch++;
    this.#trialOut = false;
    this.onChange?.('half-open');
  }

  #close(): void {
    this.#state = 'closed';
    this.#epoch++;
    this.#attempts.fill(0);
    this.#failures.fill(0);
    this.#attemptsInWindow = 0;
    this.#failuresInWindow = 0;
    this.onChange?.('closed');
  }
}

/** A breaker's state, for the admin API and /metrics. */
export function breakerState(breaker: ReplicaBreaker): BreakerState {
  return breaker.state;
}
