/**
 * Sends a REST request's copy to the shadow version (dataplane/shadow.ts decided it may go): the
 * buffered body as it came, to the shadow pool's path for the operation, reading the answer whole
 * up to the pair's limit. Nothing of it reaches the client, and none of it is recorded in the
 * shadow pool's breakers, ejection or stats: a shadow must not steer live traffic (the shadow is
 * often the canary). It is bounded by the proxy deadline.
 */
import { performance } from 'node:perf_hooks';
import type { IncomingMessage } from 'node:http';
import type { Dispatcher } from 'undici';
import type { ShadowPair } from '../../dataplane/shadow.js';

/** The request headers a copy carries: what the replica needs to read the body. */
const COPIED = ['content-type', 'content-encoding'] as const;

export function sendRestShadow(pair: ShadowPair, req: IncomingMessage, body: Buffer, deadlineMs: number): void {
  const headers: string[] = [];
  for (const name of COPIED) {
    const value = req.headers[name];
    if (typeof value === 'string') headers.push(name, value);
  }
  headers.push('x-request-id', pair.requestId, 'content-length', String(body.length));
  const handler = new ShadowHandler(pair, deadlineMs);
  pair.replica.dispatcher.dispatch({ path: pair.pool.paths[pair.operation], method: 'POST', headers, body }, handler);
}

class ShadowHandler implements Dispatcher.DispatchHandler {
  readonly #pair: ShadowPair;
  readonly #timer: NodeJS.Timeout;
  #abort: ((err?: Error) => void) | null = null;
  #status = -1;
  #chunks: Buffer[] = [];
  #bytes = 0;
  #tooLarge = false;
  #done = false;

  constructor(pair: ShadowPair, deadlineMs: number) {
    this.#pair = pair;
    this.#timer = setTimeout(() => {
      this.#finish(`timeout: no answer within ${deadlineMs} ms`);
      this.#abort?.(new Error('shadow timed out'));
    }, deadlineMs);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.#done) abort(new Error('shadow abandoned'));
  }

  onHeaders(statusCode: number): boolean {
    this.#status = statusCode;
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#tooLarge) return true;
    this.#bytes += chunk.length;
    if (this.#bytes > this.#pair.maxBytes) {
      // Read on (the connection stays usable) but keep nothing more.
      this.#tooLarge = true;
      this.#chunks = [];
      return true;
    }
    this.#chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    const ok = this.#status >= 200 && this.#status < 300;
    this.#finish(ok ? null : `HTTP ${this.#status}`);
  }

  onError(err: Error): void {
    this.#finish(err.message || err.name);
  }

  #finish(error: string | null): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    const keep = error === null && !this.#tooLarge;
    const chunks = this.#chunks;
    this.#chunks = [];
    this.#pair.shadowDone({
      ok: error === null,
      status: this.#status,
      body: keep ? (chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, this.#bytes)) : null,
      error,
      tooLarge: this.#tooLarge,
      latencyMs: performance.now() - this.#pair.sentAt,
    });
  }
}
