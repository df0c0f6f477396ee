/**
 * gRPC over HTTP/2 as the gateway needs it (grpc/doc/PROTOCOL-HTTP2.md): the 5-byte message
 * prefix, `grpc-timeout`, `grpc-message`'s percent-encoding, and the status codes, numbered as on
 * the wire (TF Serving passes TF's status codes through unchanged: the same numbers).
 */
import type { TfErrorCode } from '../../tfserving/errors.js';

export const GRPC_STATUS: Readonly<Record<'OK' | TfErrorCode, number>> = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
};

export const GRPC_CONTENT_TYPE = 'application/grpc';
/** TF Serving cuts status messages at this many characters. */
export const MAX_MESSAGE_CHARS = 1024;

/** The prefix of a length-prefixed message: compressed flag (1 byte), length (4 bytes, big-endian). */
export const PREFIX_BYTES = 5;

export interface Message {
  readonly compressed: boolean;
  readonly payload: Buffer;
}

export class FramingError extends Error {}

/** The one message of a unary call's body (all its DATA frames put together). */
export function unaryMessage(body: Buffer): Message {
  if (body.length < PREFIX_BYTES) throw new FramingError(body.length === 0 ? 'no request message' : 'truncated message prefix');
  const flag = body[0] as number;
  if (flag > 1) throw new FramingError(`compressed flag ${flag}`);
  const length = body.readUInt32BE(1);
  if (body.length !== PREFIX_BYTES + length) {
    throw new FramingError(body.length < PREFIX_BYTES + length ? 'truncated message' : 'more than one request message in a unary call');
  }
  return { compressed: flag === 1, payload: body.subarray(PREFIX_BYTES) };
}

/** A message as sent on the wire (never compressed: the gateway sends what it rewrote as is). */
export function framed(payload: Buffer): Buffer {
  const prefix = Buffer.allocUnsafe(PREFIX_BYTES);
  prefix[0] = 0;
  prefix.writeUInt32BE(payload.length, 1);
  return Buffer.concat([prefix, payload]);
}

const UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000_001 };

/** `grpc-timeout` (1 to 8 digits and a unit) in milliseconds, or undefined when absent or malformed. */
export function parseTimeout(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) return undefined;
  return Number(match[1]) * (UNIT_MS[match[2] as string] as number);
}

/** Milliseconds left as a `grpc-timeout` value (whole milliseconds, at least 1). */
export function formatTimeout(ms: number): string {
  const whole = Math.max(1, Math.ceil(ms));
  return whole <= 99_999_999 ? `${whole}m` : `${Math.min(99_999_999, Math.ceil(whole / 1000))}S`;
}

/**
 * `grpc-message` as the spec has it: UTF-8, percent-encoding every byte outside 0x20-0x7E and the
 * '%' itself; cut at TF Serving's length first.
 */
export function encodeGrpcMessage(message: string): string {
  const text = message.length > MAX_MESSAGE_CHARS ? message.slice(0, MAX_MESSAGE_CHARS) : message;
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
