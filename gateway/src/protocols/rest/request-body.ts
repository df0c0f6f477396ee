/**
 * Reading a request body without parsing it. Small bodies (up to the retry buffer) are gathered as
 * the chunks Node hands us, so a failed attempt can be sent again; bigger ones stream through and
 * can be retried only if the failed attempt never started sending them. The size limit is enforced
 * from Content-Length up front and, for chunked bodies, while they stream. What is kept in memory
 * is taken from the request's Hold first (the gateway's memory budget): past it, 'over-budget'.
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { Hold } from '../../dataplane/admission.js';
import { BodyTooLargeError } from '../../dataplane/attempt-errors.js';

export interface BodyLimits {
  readonly maxBodyBytes: number;
  readonly retryBufferBytes: number;
}

export type BodyOutcome =
  | { readonly kind: 'none' }
  | { readonly kind: 'buffer'; readonly body: Buffer }
  | { readonly kind: 'stream'; readonly body: Readable; readonly length: number | undefined }
  | { readonly kind: 'too-large'; readonly limit: number }
  | { readonly kind: 'over-budget' };

const NONE = { kind: 'none' } as const;
const OVER_BUDGET = { kind: 'over-budget' } as const;

/**
 * The body's framing, from the headers alone: no body, one already too large by its declared
 * length, or the declared length (-1 for a chunked body, checked as it comes).
 */
function framing(req: IncomingMessage, maxBodyBytes: number): number | typeof NONE | { readonly kind: 'too-large'; readonly limit: number } {
  const declaredText = req.headers['content-length'];
  if (declaredText === undefined && req.headers['transfer-encoding'] === undefined) return NONE;
  // node:http has already rejected a malformed or duplicated Content-Length.
  const declared = declaredText === undefined ? -1 : Number(declaredText);
  if (declared > maxBodyBytes) return { kind: 'too-large', limit: maxBodyBytes };
  return declared === 0 ? NONE : declared;
}

/**
 * Hands the body's chunks to `onChunk` until it returns an outcome (the reading stops there, the
 * request paused) or the body ends (`onEnd`'s outcome). If the client goes away first, `done` is
 * never called: the response's 'close' gives back what the request held, and nothing is left to
 * answer. The listeners stay once the body has ended (the request is done with, and its emitter
 * with it): removing them cost more than the rest of reading a small body. No 'error' listener: an
 * IncomingMessage emits 'error' only to listeners.
 */
function consume<T>(req: IncomingMessage, onChunk: (chunk: Buffer) => T | undefined, onEnd: () => T, done: (outcome: T) => void): void {
  let settled = false;
  const onData = (chunk: Buffer): void => {
    if (settled) return;
    const outcome = onChunk(chunk);
    if (outcome === undefined) return;
    settled = true;
    // What is left of the body is someone else's to read (a stream) or not to be read at all.
    req.off('data', onData);
    req.pause();
    done(outcome);
  };
  req.on('data', onData);
  req.on('end', () => {
    if (settled) return;
    settled = true;
    done(onEnd());
  });
}

/**
 * `keep` is how much may be gathered in memory (the retry buffer). A body of up to `keep` bytes is
 * gathered whole before it goes anywhere; a bigger one too, up to `keep`, then streams: a client
 * that stalls its upload holds at most `keep` bytes of the memory budget and no connection to a
 * replica until it has sent them. Every byte kept is taken from `hold` as it arrives, so only
 * bytes a client really sent count against the budget.
 */
export function readBody(req: IncomingMessage, hold: Hold, maxBodyBytes: number, keep: number, done: (outcome: BodyOutcome) => void): void {
  const declared = framing(req, maxBodyBytes);
  if (typeof declared !== 'number') return done(declared);
  const chunks: Buffer[] = [];
  let size = 0;
  consume<BodyOutcome>(
    req,
    (chunk) => {
      if (!hold.reserve(chunk.length)) return OVER_BUDGET;
      size += chunk.length;
      chunks.push(chunk);
      if (size <= keep) return undefined;
      // A declared length was checked by framing(); a chunked body is checked as it comes.
      if (size > maxBodyBytes) return { kind: 'too-large', limit: maxBodyBytes };
      return { kind: 'stream', body: Readable.from(continueStream(chunks, size, req, maxBodyBytes), { objectMode: false }), length: declared >= 0 ? declared : undefined };
    },
    () => (size === 0 ? NONE : { kind: 'buffer', body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size) }),
    done,
  );
}

async function* continueStream(head: Buffer[], size: number, req: IncomingMessage, max: number): AsyncGenerator<Buffer> {
  yield* head;
  let total = size;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > max) throw new BodyTooLargeError(max);
    yield chunk;
  }
}

export type PrefixOutcome =
  | { readonly kind: 'none' }
  | { readonly kind: 'prefix'; readonly head: Buffer; readonly complete: boolean }
  | { readonly kind: 'too-large'; readonly limit: number }
  | { readonly kind: 'over-budget' };

/**
 * Reads a whole body the gateway answers itself, keeping only its first `keep` bytes (what it
 * checks) and dropping the rest as it arrives: memory per request stays at `keep` whatever the
 * client sends. `complete` says whether the head is the whole body.
 */
export function readBodyPrefix(req: IncomingMessage, hold: Hold, maxBodyBytes: number, keep: number, done: (outcome: PrefixOutcome) => void): void {
  const declared = framing(req, maxBodyBytes);
  if (typeof declared !== 'number') return done(declared);
  const headBytes = Math.min(keep, declared >= 0 ? declared : keep);
  if (!hold.reserve(headBytes)) return done(OVER_BUDGET);
  const head = Buffer.allocUnsafe(headBytes);
  let kept = 0;
  let size = 0;
  consume<PrefixOutcome>(
    req,
    (chunk) => {
      size += chunk.length;
      if (kept < head.length) kept += chunk.copy(head, kept, 0, Math.min(chunk.length, head.length - kept));
      return size > maxBodyBytes ? { kind: 'too-large', limit: maxBodyBytes } : undefined;
    },
    () => (size === 0 ? NONE : { kind: 'prefix', head: head.subarray(0, kept), complete: size === kept }),
    done,
  );
}
