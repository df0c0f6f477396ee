/**
 * One opossum circuit breaker per replica. opossum's own timeout is off (the exchange times
 * attempts against the request's deadline), latency percentiles are off (the pool's stats keep
 * those), and buckets rotate on the gateway's one-second clock instead of a timer per breaker.
 *
 * How attempts reach it, and why: `fire()` costs a handful of promises and events per call, about
 * a tenth of a proxied request's CPU. So an attempt that starts while the breaker is closed is sent
 * straight away and reported afterwards: a success is counted into the breaker's rolling window
 * exactly as fire() would count it, and a failure goes through fire(), whose own logic decides to
 * open. An attempt that starts while the breaker is not closed is the half-open trial: it runs
 * inside fire(), so opossum admits one and closes or reopens on its outcome.
 */
import type { EventEmitter } from 'node:events';
import CircuitBreaker from 'opossum';
import type { ResilienceSettings } from '../config/load.js';
import { isClientSide } from './attempt-errors.js';

/** What the breaker runs: a function giving the attempt's outcome as a promise. */
export type BreakerAction = () => Promise<void>;

export type BreakerState = 'closed' | 'open' | 'half-open';

export type ReplicaBreaker = CircuitBreaker<[BreakerAction], void>;

const run = (action: BreakerAction): Promise<void> => action();
const succeeded: BreakerAction = () => Promise.resolve();
function ignore(): void {}

export function createBreaker(name: string, settings: ResilienceSettings['breaker'], rotate: EventEmitter): ReplicaBreaker {
  return new CircuitBreaker(run, {
    name,
    timeout: false,
    errorThresholdPercentage: settings.errorThresholdPercentage,
    volumeThreshold: settings.volumeThreshold,
    resetTimeout: settings.resetTimeoutMs,
    rollingCountTimeout: settings.windowSeconds * 1000,
    rollingCountBuckets: settings.windowSeconds,
    rollingPercentilesEnabled: false,
    enableSnapshots: false,
    rotateBucketController: rotate,
    // A TF Serving 4xx is the client's fault, and a client that left is nobody's.
    errorFilter: isClientSide,
  });
}

/** Reports the outcome of an attempt that was sent while the breaker was closed. */
export function reportOutcome(breaker: ReplicaBreaker, err: Error | undefined): void {
  const success = err === undefined || isClientSide(err);
  if (success && breaker.closed) {
    // The events fire() emits for a success while closed: opossum's own listeners count them
    // into its rolling window.
    breaker.emit('fire', []);
    breaker.emit('success', undefined, 0);
    return;
  }
  breaker.fire(success ? succeeded : () => Promise.reject(err)).catch(ignore);
}

export function breakerState(breaker: ReplicaBreaker): BreakerState {
  if (breaker.opened) return 'open';
  if (breaker.halfOpen) return 'half-open';
  return 'closed';
}

/** Whether a new attempt would be let through now (closed, or half-open with its trial unused). */
export function breakerAdmits(breaker: ReplicaBreaker): boolean {
  return breaker.closed || breaker.pendingClose;
}
