/**
 * Reading a request body without parsing it. Small bodies (up to the retry buffer) are gathered as
 * the chunks Node hands us, so a failed attempt can be sent again; bigger ones stream through and
 * can be retried only if the failed attempt never started sending them. The size limit is enforced
 * from Content-Length up front and, for chunked bodies, while they stream. What is kept in memory
 * is taken from the request's Hold first (the gateway's memory budget): past it, 'over-budget'.
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { Hold } from './admission.js';
import { BodyTooLargeError } from './attempt-errors.js';

export interface BodyLimits {
  readonly maxBodyBytes: number;
  readonly retryBufferBytes: number;
}

export type BodyOutcome =
  | { readonly kind: 'none' }
  | { readonly kind: 'buffer'; readonly body: Buffer }
  | { readonly kind: 'stream'; readonly body: Readable; readonly length: number | undefined }
  | { readonly kind: 'too-large'; readonly limit: number }
  | { readonly kind: 'over-budget' }
  | { readonly kind: 'aborted' };

const NONE = { kind: 'none' } as const;
const ABORTED = { kind: 'aborted' } as const;
const OVER_BUDGET = { kind: 'over-budget' } as const;

/**
 * `keep` is how much may be gathered in memory (the retry buffer). A body of up to `keep` bytes is
 * gathered whole before it goes anywhere; a bigger one too, up to `keep`, then streams: a client
 * that stalls its upload holds at most `keep` bytes of the memory budget and no connection to a
 * replica until it has sent them. Every byte kept is taken from `hold` as it arrives, so only
 * bytes a client really sent count against the budget.
 */
export function readBody(req: IncomingMessage, hold: Hold, maxBodyBytes: number, keep: number, done: (outcome: BodyOutcome) => void): void {
  const declaredText = req.headers['content-length'];
  if (declaredText === undefined && req.headers['transfer-encoding'] === undefined) return done(NONE);
  // node:http has already rejected a malformed or duplicated Content-Length.
  const declared = declaredText === undefined ? -1 : Number(declaredText);
  if (declared > maxBodyBytes) return done({ kind: 'too-large', limit: maxBodyBytes });
  if (declared === 0) return done(NONE);

  const chunks: Buffer[] = [];
  let size = 0;
  const cleanup = (): void => {
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onAbort);
    req.off('close', onAbort);
  };
  const onData = (chunk: Buffer): void => {
    if (!hold.reserve(chunk.length)) {
      cleanup();
      req.pause();
      done(OVER_BUDGET);
      return;
    }
    size += chunk.length;
    chunks.push(chunk);
    if (size <= keep) return;
    cleanup();
    req.pause();
    // A declared length was checked above; a chunked body is checked as it comes.
    if (size > maxBodyBytes) {
      done({ kind: 'too-large', limit: maxBodyBytes });
    } else {
      done({ kind: 'stream', body: Readable.from(continueStream(chunks, size, req, maxBodyBytes), { objectMode: false }), length: declared >= 0 ? declared : undefined });
    }
  };
  const onEnd = (): void => {
    cleanup();
    done(size === 0 ? NONE : { kind: 'buffer', body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size) });
  };
  const onAbort = (): void => {
    cleanup();
    done(ABORTED);
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onAbort);
  req.on('close', onAbort);
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
  | { readonly kind: 'over-budget' }
  | { readonly kind: 'aborted' };

/**
 * Reads a whole body the gateway answers itself, keeping only its first `keep` bytes (what it
 * checks) and dropping the rest as it arrives: memory per request stays at `keep` whatever the
 * client sends. `complete` says whether the head is the whole body.
 */
export function readBodyPrefix(req: IncomingMessage, hold: Hold, maxBodyBytes: number, keep: number, done: (outcome: PrefixOutcome) => void): void {
  const declaredText = req.headers['content-length'];
  if (declaredText === undefined && req.headers['transfer-encoding'] === undefined) return done(NONE);
  const declared = declaredText === undefined ? -1 : Number(declaredText);
  if (declared > maxBodyBytes) return done({ kind: 'too-large', limit: maxBodyBytes });
  if (declared === 0) return done(NONE);
  const headBytes = Math.min(keep, declared >= 0 ? declared : keep);
  if (!hold.reserve(headBytes)) return done(OVER_BUDGET);
  const head = Buffer.allocUnsafe(headBytes);
  let kept = 0;
  let size = 0;
  const cleanup = (): void => {
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onAbort);
    req.off('close', onAbort);
  };
  const onData = (chunk: Buffer): void => {
    size += chunk.length;
    if (kept < head.length) kept += chunk.copy(head, kept, 0, Math.min(chunk.length, head.length - kept));
    if (size <= maxBodyBytes) return;
    cleanup();
    req.pause();
    done({ kind: 'too-large', limit: maxBodyBytes });
  };
  const onEnd = (): void => {
    cleanup();
    done(size === 0 ? NONE : { kind: 'prefix', head: head.subarray(0, kept), complete: size === kept });
  };
  const onAbort = (): void => {
    cleanup();
    done(ABORTED);
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onAbort);
  req.on('close', onAbort);
}
