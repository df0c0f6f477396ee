/**
 * How an attempt at a replica ended without a usable answer, one class per cause (as undici has one
 * class per error). Each says, once, what everything downstream branches on:
 *   - `kind`: what it counts as against the replica (breaker, ejection, stats, /metrics), or null
 *     when it says nothing about the replica (a client's 4xx, a client that left, a client's slow
 *     or oversized body);
 *   - `reconnectable`: the replica could not take the request at all (not reached, no answer
 *     before the attempt timeout, its version not loaded, refused by its breaker), so another
 *     replica of the same version may be tried, pinned requests included; an answer (a 5xx) is that
 *     version's real answer to a pinned request.
 * Transport errors (Node's and undici's) become one of these at the boundary, in fromTransport.
 */
import { errors as undiciErrors } from 'undici';
import type { FailureKind } from './stats.js';

export abstract class AttemptFailure extends Error {
  abstract readonly kind: FailureKind | null;
  abstract readonly reconnectable: boolean;
}

/** The replica could not be reached: refused, unreachable, name not resolved, connect timed out. */
export class ConnectFailure extends AttemptFailure {
  readonly kind = 'connect';
  readonly reconnectable = true;
}

/** The connection broke before the answer was complete (before it started, or in the middle). */
export class ConnectionReset extends AttemptFailure {
  readonly kind = 'reset';
  readonly reconnectable = true;
}

/** No response headers within the attempt timeout: the attempt is abandoned (and may be retried). */
export class AttemptTimeoutError extends AttemptFailure {
  readonly kind = 'timeout';
  readonly reconnectable = true;
}

/** The replica answered with an error status. A 4xx is the client's fault and never counts against the replica. */
export class UpstreamStatusError extends AttemptFailure {
  readonly kind: FailureKind | null;
  readonly reconnectable = false;
  readonly status: number;
  constructor(status: number) {
    super(`replica answered ${status}`);
    this.status = status;
    this.kind = status >= 500 ? 'status' : null;
  }
}

/**
 * The replica answered 404 with TF Serving's `Servable not found for request: Specific(<model>, <N>)`
 * for the pool's own model and version: its copy of the version is loading, unloading or gone (a
 * hot swap). That is the replica's state, not the client's doing: it counts against the replica
 * and is retried like a connection failure, pinned requests included.
 */
export class VersionNotLoadedError extends AttemptFailure {
  readonly kind = 'status';
  readonly reconnectable = true;
}

/** The replica's breaker refused the attempt (it opened between the pick and the send): counted, not held against it again. */
export class BreakerOpenError extends AttemptFailure {
  readonly kind = 'breaker';
  readonly reconnectable = true;
}

/**
 * The whole request ran out of time: 504, counted against the replica that held it; or 408 when
 * the client had not finished sending its body while the replica was ready for it
 * (`clientFault`: a slow upload must not count against the replica, nor feed a canary's rollback).
 */
export class DeadlineError extends AttemptFailure {
  readonly kind: FailureKind | null;
  readonly reconnectable = false;
  readonly clientFault: boolean;
  constructor(message: string, clientFault = false) {
    super(message);
    this.clientFault = clientFault;
    this.kind = clientFault ? null : 'timeout';
  }
}

/** The client went away: nobody's failure. */
export class ClientGoneError extends AttemptFailure {
  readonly kind = null;
  readonly reconnectable = false;
}

/** A body that outgrew the limit while it streamed: the client's doing (ten of them once opened a breaker). */
export class BodyTooLargeError extends AttemptFailure {
  readonly kind = null;
  readonly reconnectable = false;
  readonly limit: number;
  constructor(limit: number) {
    super(`request body exceeds ${limit} bytes`);
    this.limit = limit;
  }
}

/** Errors that say nothing about the replica's health. */
export function isClientSide(err: AttemptFailure): boolean {
  return err.kind === null;
}

/**
 * An error from the transport (undici, the socket) as an AttemptFailure: a connection that could
 * not be made is a connect failure, anything else broke an established one.
 */
export function fromTransport(err: Error): AttemptFailure {
  if (err instanceof AttemptFailure) return err;
  if (err instanceof undiciErrors.ConnectTimeoutError) return new ConnectFailure(err.message);
  // Node's system errors name the call that failed: connect, or the DNS lookup before it.
  const syscall = (err as NodeJS.ErrnoException).syscall;
  if (syscall === 'connect' || syscall === 'getaddrinfo' || syscall === 'queryA' || syscall === 'queryAaaa') return new ConnectFailure(err.message);
  return new ConnectionReset(err.message);
}
