/**
 * gRPC over HTTP/2 as TF Serving's server (grpc C++) speaks it: the 5-byte message prefix, the
 * percent-encoded grpc-message, grpc-timeout, the Trailers-Only error headers, and TF's own cut of
 * long error messages (ToGRPCStatus in model_servers/grpc_status_util.cc).
 */
import type { ServerStreamResponseOptions } from 'node:http2';
import { grpcStatusCode, type StatusCodeName } from './protos.js';

export const GRPC_CONTENT_TYPE = 'application/grpc';

/*
 * node:http2 respond() options for a gRPC answer. grpc C++ sends no Date header, and node adds one
 * unless `sendDate` is false, an option its types leave out. Node copies the options it is given,
 * so one object each serves every answer.
 */
/** An answer whose messages and trailers follow. */
export const RESPOND_WITH_TRAILERS = { sendDate: false, waitForTrailers: true } as ServerStreamResponseOptions;
/** An answer that ends with its headers (Trailers-Only). */
export const RESPOND_AND_END = { sendDate: false, endStream: true } as ServerStreamResponseOptions;

/** Length-prefixed message: compressed flag (1 byte), length (4 bytes big-endian), payload. */
export const MESSAGE_PREFIX_BYTES = 5;

export function frameMessage(payload: Uint8Array, compressed = false): Buffer {
  const out = Buffer.allocUnsafe(MESSAGE_PREFIX_BYTES + payload.length);
  out[0] = compressed ? 1 : 0;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, MESSAGE_PREFIX_BYTES);
  return out;
}

export interface GrpcMessage {
  readonly compressed: boolean;
  readonly payload: Buffer;
}

/** The messages of a whole request or response body, or null when its last message is cut short. */
export function readMessages(body: Buffer): GrpcMessage[] | null {
  const messages: GrpcMessage[] = [];
  let offset = 0;
  while (offset < body.length) {
    if (body.length - offset < MESSAGE_PREFIX_BYTES) return null;
    const length = body.readUInt32BE(offset + 1);
    const start = offset + MESSAGE_PREFIX_BYTES;
    if (body.length - start < length) return null;
    messages.push({ compressed: body[offset] !== 0, payload: body.subarray(start, start + length) });
    offset = start + length;
  }
  return messages;
}

// TF Serving's kErrorMessageLimit.
const TF_MESSAGE_LIMIT_BYTES = 1024;

/** The bytes of a TF error message as TF Serving sends them: cut at 1024 bytes, then "...TRUNCATED". */
export function tfGrpcMessage(message: string): Buffer {
  const bytes = Buffer.from(message, 'utf8');
  if (bytes.length <= TF_MESSAGE_LIMIT_BYTES) return bytes;
  return Buffer.concat([bytes.subarray(0, TF_MESSAGE_LIMIT_BYTES), Buffer.from('...TRUNCATED')]);
}

const HEX = '0123456789ABCDEF';

/** grpc-message's percent-encoding: every byte outside 0x20-0x7E, and '%', as %XX. */
export function percentEncode(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    if (b >= 0x20 && b <= 0x7e && b !== 0x25) out += String.fromCharCode(b);
    else out += '%' + HEX.charAt(b >> 4) + HEX.charAt(b & 15);
  }
  return out;
}

/** The bytes of a percent-encoded grpc-message (a '%' not followed by two hex digits stays as is). */
export function percentDecode(value: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 && /^[0-9A-Fa-f]{2}$/.test(value.slice(i + 1, i + 3))) {
      out.push(parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out.push(c & 0xff);
    }
  }
  return Buffer.from(out);
}

/** The headers of a Trailers-Only answer: the status alone, in one HEADERS frame ending the stream. */
export function trailersOnlyHeaders(code: StatusCodeName, message: Uint8Array): Record<string, string | number> {
  const headers: Record<string, string | number> = {
    ':status': 200,
    'content-type': GRPC_CONTENT_TYPE,
    'grpc-status': String(grpcStatusCode(code)),
  };
  // grpc C++ leaves grpc-message out when the message is empty.
  if (message.length > 0) headers['grpc-message'] = percentEncode(message);
  return headers;
}

const TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** grpc-timeout ("1-8 digits" + H M S m u n) in milliseconds, or null when absent or malformed. */
export function parseGrpcTimeout(value: string | undefined): number | null {
  if (value === undefined) return null;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (m === null) return null;
  return Number(m[1]) * (TIMEOUT_UNIT_MS[m[2] as string] as number);
}
