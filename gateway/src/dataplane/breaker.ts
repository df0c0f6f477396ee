/**
 * One opossum circuit breaker per replica. The exchange fires it once per attempt with itself as
 * the action's argument; the action dispatches the attempt and settles when the response headers
 * arrive (5xx: failure) or the attempt fails (connection error, reset, timeout). opossum's own
 * timeout is off (the exchange times attempts against the request's deadline), latency percentiles
 * are off (the pool's stats keep those), and buckets rotate on the gateway's one-second clock
 * instead of a timer per breaker.
 */
import type { EventEmitter } from 'node:events';
import CircuitBreaker from 'opossum';
import type { ResilienceSettings } from '../config/load.js';
import { isClientSide } from './attempt-errors.js';

export interface BreakerAttempt {
  /** Sends the attempt; settles with its outcome. Called by the breaker, synchronously in fire(). */
  run(): Promise<void>;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export type ReplicaBreaker = CircuitBreaker<[BreakerAttempt], void>;

const runAttempt = (attempt: BreakerAttempt): Promise<void> => attempt.run();

export function createBreaker(name: string, settings: ResilienceSettings['breaker'], rotate: EventEmitter): ReplicaBreaker {
  return new CircuitBreaker(runAttempt, {
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

export function breakerState(breaker: ReplicaBreaker): BreakerState {
  if (breaker.opened) return 'open';
  if (breaker.halfOpen) return 'half-open';
  return 'closed';
}

/** Whether a new attempt would be let through now (closed, or half-open with its trial unused). */
export function breakerAdmits(breaker: ReplicaBreaker): boolean {
  return breaker.closed || breaker.pendingClose;
}
