/**
 * A replica's gRPC status as an attempt's outcome, for the same accounting as REST (see
 * dataplane/attempt-errors.ts):
 *   - UNAVAILABLE: the replica could not take the call (its batching queue is full, it is going
 *     away): a failure, retried on another replica like a connection failure, pinned calls too;
 *   - INTERNAL, UNKNOWN, DATA_LOSS, DEADLINE_EXCEEDED: failures, the answer of that version (as a
 *     REST 5xx: an unpinned call is retried once, a pinned one gets it);
 *   - NOT_FOUND `Servable not found for request: Specific(<model>, <N>)` for the pool's own version:
 *     the replica's state during a hot swap (as the REST 404), a failure, retried, and the replica
 *     checked at once;
 *   - everything else (CANCELLED, INVALID_ARGUMENT, other NOT_FOUND, FAILED_PRECONDITION,
 *     OUT_OF_RANGE, UNIMPLEMENTED, RESOURCE_EXHAUSTED as a REST 429...): the client's, never counted.
 */
import { AttemptFailure, VersionNotLoadedError } from '../../dataplane/attempt-errors.js';
import type { FailureKind } from '../../dataplane/stats.js';
import { percentDecode } from '../../tfserving/grpc-wire.js';
import { GRPC_STATUS } from './wire.js';

export class GrpcStatusFailure extends AttemptFailure {
  readonly kind: FailureKind | null;
  readonly reconnectable: boolean;
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
    this.reconnectable = code === GRPC_STATUS.UNAVAILABLE;
    this.kind =
      code === GRPC_STATUS.UNAVAILABLE ||
      code === GRPC_STATUS.INTERNAL ||
      code === GRPC_STATUS.UNKNOWN ||
      code === GRPC_STATUS.DATA_LOSS ||
      code === GRPC_STATUS.DEADLINE_EXCEEDED
        ? 'status'
        : null;
  }
}

/**
 * The outcome of a call the replica ended with `code` (0: OK, undefined failure). `notLoaded` is
 * TF Serving's message for the pool's own version not being loaded on the replica.
 */
export function grpcOutcome(code: number, message: string, notLoaded: string): AttemptFailure | undefined {
  if (code === GRPC_STATUS.OK) return undefined;
  if (code === GRPC_STATUS.NOT_FOUND && message === notLoaded) return new VersionNotLoadedError(message);
  return new GrpcStatusFailure(code, message);
}

/** `grpc-message` back to text. */
export function decodeGrpcMessage(value: string | string[] | undefined): string {
  return typeof value === 'string' ? percentDecode(value).toString('utf8') : '';
}
