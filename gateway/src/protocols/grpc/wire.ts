/**
 * What the gateway's gRPC side needs beyond the wire facts it shares with the simulator
 * (tfserving/grpc-wire.ts): status numbers by name, a unary call's one message checked, a deadline
 * sent on as `grpc-timeout`, and the headers whose values are never worth indexing.
 */
import { sensitiveHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { TfErrorCode } from '../../tfserving/errors.js';
import { MESSAGE_PREFIX_BYTES, readMessages } from '../../tfserving/grpc-wire.js';
import { grpcStatusCode, type StatusCodeName } from '../../tfserving/protos.js';

const NAMES: readonly StatusCodeName[] = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

/** grpc-status numbers by name, read once from error_codes.proto (TF's codes are gRPC's). */
export const GRPC_STATUS: Readonly<Record<'OK' | TfErrorCode, number>> = Object.fromEntries(NAMES.map((name) => [name, grpcStatusCode(name)])) as Record<
  'OK' | TfErrorCode,
  number
>;

export class FramingError extends Error {}

/**
 * Checks that a unary call's body (all its DATA frames put together) is one whole message, and says
 * whether it is compressed; the message is the body from MESSAGE_PREFIX_BYTES on (no view of it made).
 */
export function unaryCompressed(body: Buffer): boolean {
  if (body.length >= MESSAGE_PREFIX_BYTES && body.readUInt32BE(1) === body.length - MESSAGE_PREFIX_BYTES) return body[0] !== 0;
  const messages = readMessages(body);
  if (messages === null) throw new FramingError('truncated request message');
  throw new FramingError(messages.length === 0 ? 'no request message' : 'more than one request message in a unary call');
}

/** Milliseconds left as a `grpc-timeout` value (whole milliseconds, at least 1; at most 8 digits). */
export function formatTimeout(ms: number): string {
  const whole = Math.max(1, Math.ceil(ms));
  return whole <= 99_999_999 ? `${whole}m` : `${Math.min(99_999_999, Math.ceil(whole / 1000))}S`;
}

/**
 * Headers whose value is new on every call (a request id, the time left): sent as literals never
 * indexed (RFC 7541, 6.2.3). Indexed, as nghttp2 does by default, each call added its values to the
 * HPACK tables of both ends and evicted entries that repeat (content-type, user-agent...), which
 * then went as literals too: encoding a call's headers cost 2.4 times the instructions it costs now
 * (docs/performance.md).
 */
const PER_CALL_HEADERS: readonly string[] = ['x-request-id', 'grpc-timeout'];

/** `headers`, marked so node:http2 sends the per-call ones as never-indexed literals. */
export function perCallUnindexed(headers: OutgoingHttpHeaders): OutgoingHttpHeaders {
  // node:http2's documented per-object list; its type is a plain symbol, which index types refuse.
  (headers as Record<symbol, readonly string[]>)[sensitiveHeaders] = PER_CALL_HEADERS;
  return headers;
}
