/**
 * One proxied request: sends it to a replica of the decided pool, streams the answer back
 * unchanged (hop-by-hop headers aside) and retries once on another replica when the attempt failed
 * before any response byte. The exchange is its own undici dispatch handler: undici 7 calls the
 * onConnect/onHeaders/onData/onComplete/onError interface natively, while the newer controller
 * interface is wrapped and its headers parsed into an object on every response.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { ProxySettings } from '../config/load.js';
import type { TfOperation } from '../tfserving/path.js';
import { replyError } from './local-reply.js';
import { connectionTokens, isHopByHop } from './hop-by-hop.js';
import type { VersionPool } from './pool.js';
import type { Replica } from './replica.js';
import { BodyTooLargeError } from './request-body.js';
import type { CompiledModel, Decision } from './snapshot.js';

/** Errors that mean the replica could not be reached or dropped the connection before answering. */
const CONNECTION_FAILURES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
]);

class DeadlineError extends Error {
  readonly code = 'GW_DEADLINE';
}
class ClientGoneError extends Error {
  readonly code = 'GW_CLIENT_GONE';
}

type Body = Buffer | Readable | null;

export interface ExchangeInput {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly model: CompiledModel;
  readonly decision: Decision;
  readonly operation: TfOperation;
  /** Sent as is to every replica; undefined: the pool's own path for the operation (pins the version). */
  readonly clientPath: string | undefined;
  readonly requestId: string;
  readonly settings: ProxySettings;
}

export class Exchange implements Dispatcher.DispatchHandler {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #model: CompiledModel;
  readonly #decision: Decision;
  readonly #operation: TfOperation;
  readonly #clientPath: string | undefined;
  readonly #requestId: string;
  readonly #settings: ProxySettings;
  #headers: string[] = [];
  #body: Body = null;
  #pool: VersionPool;
  #replica: Replica | undefined;
  #attempts = 0;
  /** onConnect seen for the current attempt: a streamed body may have been consumed. */
  #connected = false;
  #responded = false;
  #finished = false;
  #abort: ((err?: Error) => void) | null = null;
  #resume: (() => void) | null = null;
  #timer: NodeJS.Timeout | undefined;
  /** performance.now() when the current attempt was sent. */
  #sentAt = 0;
  #status = 0;

  constructor(input: ExchangeInput) {
    this.#req = input.req;
    this.#res = input.res;
    this.#model = input.model;
    this.#decision = input.decision;
    this.#operation = input.operation;
    this.#clientPath = input.clientPath;
    this.#requestId = input.requestId;
    this.#settings = input.settings;
    this.#pool = input.decision.pool;
  }

  /** Starts the deadline and the first attempt; `body` comes from readBody(). */
  start(body: Body, bodyLength: number | undefined): void {
    this.#body = body;
    this.#headers = upstreamHeaders(this.#req, this.#requestId, bodyLength);
    this.#timer = setTimeout(onDeadline, this.#settings.deadlineMs, this);
    this.#res.once('close', () => {
      if (!this.#finished) this.#fail(new ClientGoneError('client closed the connection'));
    });
    const replica = this.#pool.pick();
    if (replica === undefined) {
      this.#finish();
      this.#pool.stats.record(0, true);
      replyError(this.#res, 503, noReplicaMessage(this.#pool), this.#requestId);
      return;
    }
    this.#send(replica);
  }

  #send(replica: Replica): void {
    this.#replica = replica;
    this.#attempts++;
    this.#connected = false;
    this.#abort = null;
    replica.outstanding++;
    this.#sentAt = performance.now();
    this.#status = 0;
    const path = this.#clientPath ?? this.#pool.paths[this.#operation];
    replica.dispatcher.dispatch(
      { path, method: this.#req.method as Dispatcher.HttpMethod, headers: this.#headers, body: this.#body },
      this,
    );
  }

  // undici dispatch handler

  onConnect(abort: (err?: Error) => void): void {
    this.#connected = true;
    this.#abort = abort;
    if (this.#finished) abort(new ClientGoneError('exchange already finished'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText?: string): boolean {
    if (this.#finished) return false;
    this.#resume = resume;
    this.#responded = true;
    this.#status = statusCode;
    const headers = responseHeaders(rawHeaders, this.#pool.versionText, this.#requestId);
    try {
      // The replica's own reason phrase: libevent's table differs from Node's (429 "Client Error").
      if (statusText) this.#res.writeHead(statusCode, statusText, headers);
      else this.#res.writeHead(statusCode, headers);
    } catch {
      // A header node:http refuses to write: the replica's answer cannot be relayed faithfully.
      this.#responded = false;
      this.#abort?.(new Error('invalid response header from replica'));
      return false;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#finished) return false;
    const ok = this.#res.write(chunk);
    if (!ok) this.#res.once('drain', () => this.#resume?.());
    return ok;
  }

  onComplete(): void {
    if (this.#release() !== undefined) this.#pool.stats.record(performance.now() - this.#sentAt, this.#status >= 500);
    if (this.#finished) return;
    this.#finish();
    this.#res.end();
  }

  onError(err: Error): void {
    const failed = this.#release();
    // Every failed attempt counts against its pool, even when the retry saves the request; a
    // client that went away is nobody's error.
    if (failed !== undefined && !(err instanceof ClientGoneError)) this.#pool.stats.record(performance.now() - this.#sentAt, true);
    if (this.#finished) return;
    const code = (err as { code?: string }).code ?? '';
    const failure = CONNECTION_FAILURES.has(code);
    if (failure && !this.#responded && this.#attempts < 2 && this.#replayable()) {
      const next = this.#retryTarget(failed);
      if (next !== undefined) {
        this.#send(next);
        return;
      }
    }
    this.#fail(err);
  }

  #replayable(): boolean {
    const body = this.#body;
    return body === null || Buffer.isBuffer(body) || !this.#connected;
  }

  /** Another replica of the same pool; for an unpinned canary request, stable as the last resort. */
  #retryTarget(failed: Replica | undefined): Replica | undefined {
    const same = this.#pool.pick(failed);
    if (same !== undefined) return same;
    if (this.#decision.side === 'canary' && !this.#decision.pinned && this.#pool !== this.#model.stable) {
      this.#pool = this.#model.stable;
      return this.#pool.pick();
    }
    return undefined;
  }

  #fail(err: Error): void {
    if (this.#finished) return;
    this.#finish();
    this.#abort?.(err);
    if (err instanceof ClientGoneError) return;
    if (this.#responded) {
      // The status line is gone already: cut the connection so the client sees a broken response,
      // never a complete-looking truncated one.
      this.#res.destroy(err);
      return;
    }
    if (err instanceof DeadlineError) {
      replyError(this.#res, 504, `Deadline exceeded: no answer from the model server within ${this.#settings.deadlineMs} ms`, this.#requestId);
    } else if (err instanceof BodyTooLargeError) {
      replyError(this.#res, 413, tooLargeMessage(err.limit), this.#requestId, true);
    } else if (CONNECTION_FAILURES.has((err as { code?: string }).code ?? '')) {
      replyError(this.#res, 503, `${noReplicaMessage(this.#pool)} (${(err as { code?: string }).code})`, this.#requestId);
    } else {
      replyError(this.#res, 502, `Invalid answer from a replica of model ${this.#pool.model} version ${this.#pool.versionText}`, this.#requestId);
    }
  }

  /** Ends the current attempt's claim on its replica; returns that replica. */
  #release(): Replica | undefined {
    const replica = this.#replica;
    if (replica !== undefined) {
      replica.outstanding--;
      this.#replica = undefined;
    }
    return replica;
  }

  #finish(): void {
    this.#finished = true;
    clearTimeout(this.#timer);
  }

  /** Called by the deadline timer. */
  expire(): void {
    this.#fail(new DeadlineError('deadline exceeded'));
  }
}

function onDeadline(exchange: Exchange): void {
  exchange.expire();
}

export function noReplicaMessage(pool: VersionPool): string {
  return `No healthy replica of model ${pool.model} version ${pool.versionText} is available`;
}

export function tooLargeMessage(limit: number): string {
  return `Request body is larger than the gateway's limit of ${limit} bytes`;
}

/**
 * The client's headers minus hop-by-hop ones, Host (the replica's own is set by undici, as nginx
 * does by default) and Content-Length (undici sets it from the body), plus the request id and
 * X-Forwarded-For.
 */
function upstreamHeaders(req: IncomingMessage, requestId: string, bodyLength: number | undefined): string[] {
  const raw = req.rawHeaders;
  const out: string[] = [];
  let forwardedFor: string | undefined;
  let dropped: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    if (isHopByHop(name)) {
      if (name.length === 10 && name.toLowerCase() === 'connection') dropped = connectionTokens(value);
      continue;
    }
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') continue;
        break;
      case 12:
        if (name.toLowerCase() === 'x-request-id') continue;
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') continue;
        break;
      case 15:
        if (name.toLowerCase() === 'x-forwarded-for') {
          forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
          continue;
        }
        break;
    }
    out.push(name, value);
  }
  const peer = req.socket.remoteAddress;
  if (peer !== undefined) forwardedFor = forwardedFor === undefined ? peer : `${forwardedFor}, ${peer}`;
  if (forwardedFor !== undefined) out.push('x-forwarded-for', forwardedFor);
  out.push('x-request-id', requestId);
  if (bodyLength !== undefined) out.push('content-length', String(bodyLength));
  if (dropped !== undefined && dropped.size > 0) return withoutNames(out, dropped);
  return out;
}

function responseHeaders(raw: Buffer[], version: string, requestId: string): string[] {
  const out: string[] = [];
  let dropped: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1');
    const value = (raw[i + 1] as Buffer).toString('latin1');
    if (isHopByHop(name)) {
      if (name.length === 10 && name.toLowerCase() === 'connection') dropped = connectionTokens(value);
      continue;
    }
    if ((name.length === 15 && name.toLowerCase() === 'x-model-version') || (name.length === 12 && name.toLowerCase() === 'x-request-id')) {
      continue;
    }
    out.push(name, value);
  }
  out.push('x-model-version', version, 'x-request-id', requestId);
  if (dropped !== undefined && dropped.size > 0) return withoutNames(out, dropped);
  return out;
}

function withoutNames(flat: string[], names: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i] as string;
    if (!names.has(name.toLowerCase())) out.push(name, flat[i + 1] as string);
  }
  return out;
}
