/**
 * Why an attempt at a replica ended without a usable answer. Each has a stable code; the breaker's
 * error filter, the retry logic and the client's error message all branch on these.
 */
import { BodyTooLargeError } from './request-body.js';

/** The replica answered with an error status. A 4xx is the client's fault and never counts against the replica. */
export class UpstreamStatusError extends Error {
  readonly code = 'GW_UPSTREAM_STATUS';
  readonly status: number;
  constructor(status: number) {
    super(`replica answered ${status}`);
    this.status = status;
  }
  get clientFault(): boolean {
    return this.status < 500;
  }
}

/**
 * The replica answered 404 with TF Serving's `Servable not found for request: Specific(<model>, <N>)`
 * for the pool's own model and version: its copy of the version is loading, unloading or gone (a
 * hot swap). That is the replica's state, not the client's doing: it counts against the replica
 * and is retried like a connection failure, pinned requests included.
 */
export class VersionNotLoadedError extends Error {
  readonly code = 'GW_VERSION_NOT_LOADED';
}

/** No response headers within the attempt timeout: the attempt is abandoned (and may be retried). */
export class AttemptTimeoutError extends Error {
  readonly code = 'GW_ATTEMPT_TIMEOUT';
}

/**
 * The whole request ran out of time: 504; or 408 when the client had not finished sending its body
 * (`clientFault`: a slow upload must not count against the replica, nor feed a canary's rollback).
 */
export class DeadlineError extends Error {
  readonly code = 'GW_DEADLINE';
  constructor(
    message: string,
    readonly clientFault = false,
  ) {
    super(message);
  }
}

/** The client went away: nobody's failure. */
export class ClientGoneError extends Error {
  readonly code = 'GW_CLIENT_GONE';
}

/** The replica's breaker refused the attempt (it opened between the pick and the send). */
export class BreakerOpenError extends Error {
  readonly code = 'GW_BREAKER_OPEN';
}

/**
 * Errors that say nothing about the replica's health. A body that outgrew the limit while it
 * streamed is the client's doing too: counted against the replica, ten of them opened its breaker.
 */
export function isClientSide(err: unknown): boolean {
  return (
    err instanceof ClientGoneError ||
    (err instanceof UpstreamStatusError && err.clientFault) ||
    (err instanceof DeadlineError && err.clientFault) ||
    err instanceof BodyTooLargeError
  );
}
