/**
 * One proxied request: sends it to a replica of the decided pool through that replica's breaker,
 * streams the answer back unchanged (hop-by-hop headers aside) and retries once when an attempt
 * fails before any byte reached the client:
 *   - an unpinned canary-bound request: on stable (connection error, reset, timeout or 5xx);
 *   - an unpinned stable-bound request: on another stable replica (the same failures);
 *   - a pinned request: on another replica of its pool, for connection errors and timeouts only
 *     (a 5xx is that version's real answer).
 * A retry needs a replayable body, time left before the deadline and room in the target pool's
 * retry budget. A 5xx that will be retried is read and dropped, never shown to the client.
 *
 * A 404 whose body is TF Serving's `Servable not found for request: Specific(<model>, <N>)` for the
 * pool's own model and version is the replica's state (its copy of the version is loading,
 * unloading or gone), not the client's fault: the upstream path always names the pool's version.
 * It is retried as a connection failure is (pinned requests too), answered 503 when it cannot be,
 * and the health checker is asked to check that replica now. Only 404s are held back to read
 * their (small) body; everything else streams as before.
 *
 * The exchange is its own undici dispatch handler: undici 7 calls the onConnect/onHeaders/onData/
 * onComplete/onError interface natively, while the newer controller interface is wrapped and its
 * headers parsed into an object on every response.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { ProxySettings } from '../config/load.js';
import type { TfOperation } from '../tfserving/path.js';
import {
  AttemptTimeoutError,
  BreakerOpenError,
  ClientGoneError,
  DeadlineError,
  isClientSide,
  UpstreamStatusError,
  VersionNotLoadedError,
} from './attempt-errors.js';
import { REFUSED } from './breaker.js';
import { connectionTokens, isHopByHop } from './hop-by-hop.js';
import { replyError } from './local-reply.js';
import type { VersionPool } from './pool.js';
import type { Replica } from './replica.js';
import { BodyTooLargeError } from './request-body.js';
import type { FailureKind } from './stats.js';
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
  'GW_ATTEMPT_TIMEOUT',
  'GW_BREAKER_OPEN',
  // Not a connection failure, but the same for a client: this replica cannot serve the version now.
  'GW_VERSION_NOT_LOADED',
]);

function codeOf(err: unknown): string {
  return (err as { code?: string }).code ?? '';
}

/** For /metrics: how an attempt failed. */
function failureKind(err: Error): FailureKind | undefined {
  switch (codeOf(err)) {
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connect';
    case 'GW_ATTEMPT_TIMEOUT':
    case 'GW_DEADLINE':
    case 'ETIMEDOUT':
      return 'timeout';
    case 'GW_BREAKER_OPEN':
      return 'breaker';
    case 'GW_CLIENT_GONE':
      return undefined;
    default:
      return 'reset';
  }
}

type Body = Buffer | Readable | null;

/** A 404 kept back until its body shows whether the replica lacks the pool's version. */
interface HeldAnswer {
  readonly rawHeaders: Buffer[];
  readonly statusText: string | undefined;
  readonly chunks: Buffer[];
  bytes: number;
}

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

/**
 * One attempt at one replica: its undici handler, holding its breaker's ticket. Callbacks of an
 * attempt the exchange has given up on (timed out before it even connected, say) are dropped here,
 * and its connection aborted as soon as undici reports it.
 */
class Attempt implements Dispatcher.DispatchHandler {
  readonly exchange: Exchange;
  readonly replica: Replica;
  readonly pool: VersionPool;
  readonly options: Dispatcher.DispatchOptions;
  readonly sentAt = performance.now();
  connected = false;
  /** Released its replica and recorded its outcome. */
  ended = false;
  /** Its breaker's ticket; REFUSED while not sent. */
  ticket = REFUSED;
  /** Its outcome was given to the breaker. */
  settled = false;
  discarding = false;
  /** A 404 being read before anything of it is relayed (see HeldAnswer). */
  held: HeldAnswer | null = null;
  status = 0;
  abort: ((err?: Error) => void) | null = null;
  resume: (() => void) | null = null;

  constructor(exchange: Exchange, replica: Replica, pool: VersionPool, options: Dispatcher.DispatchOptions) {
    this.exchange = exchange;
    this.replica = replica;
    this.pool = pool;
    this.options = options;
    replica.outstanding++;
  }

  /** The breaker admitted it and it went to the replica. */
  get dispatched(): boolean {
    return this.ticket !== REFUSED;
  }

  /** Sends the attempt if the replica's breaker admits it (`dispatched` says whether). */
  send(): void {
    this.ticket = this.replica.breaker.admit();
    if (this.ticket !== REFUSED) this.replica.dispatcher.dispatch(this.options, this);
  }

  /** Tells the breaker how the attempt went (once). */
  settleWith(err?: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.replica.breaker.report(this.ticket, err);
  }

  /** Gives the replica back and records the attempt in its pool's stats (once). */
  end(failed: boolean): boolean {
    if (this.ended) return false;
    this.ended = true;
    this.replica.outstanding--;
    this.pool.stats.record(performance.now() - this.sentAt, failed);
    return true;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.connected = true;
    this.abort = abort;
    if (!this.exchange.isCurrent(this)) abort(new ClientGoneError('attempt abandoned'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText?: string): boolean {
    this.resume = resume;
    return this.exchange.attemptHeaders(this, statusCode, rawHeaders, statusText);
  }

  onData(chunk: Buffer): boolean {
    return this.exchange.attemptData(this, chunk);
  }

  onComplete(): void {
    this.exchange.attemptComplete(this);
  }

  onError(err: Error): void {
    this.exchange.attemptError(this, err);
  }
}

export class Exchange {
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
  #current: Attempt | undefined;
  #attempts = 0;
  #startedAt = 0;
  #deadlineAt = 0;
  /** The status line sent to the client (0 before). */
  #sentStatus = 0;
  #timer: NodeJS.Timeout | undefined;
  /** The timer watches the attempt's time to first byte (else only the deadline). */
  #timingAttempt = false;
  #responded = false;
  #finished = false;
  #nextPool: VersionPool | undefined;
  #nextReplica: Replica | undefined;

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
    this.#startedAt = performance.now();
    this.#deadlineAt = this.#startedAt + this.#settings.deadlineMs;
    this.#res.once('close', () => {
      if (!this.#finished) this.#fail(new ClientGoneError('client closed the connection'));
    });
    let replica = this.#pool.pick();
    if (replica === undefined && this.#decision.side === 'canary' && !this.#decision.pinned) {
      // The canary lost its last replica between the decision and now.
      this.#pool = this.#model.stable;
      replica = this.#pool.pick();
    }
    if (replica === undefined) {
      this.#finish(503);
      this.#pool.stats.record(0, true);
      replyError(this.#res, 503, noReplicaMessage(this.#pool), this.#requestId);
      return;
    }
    this.#send(replica);
  }

  isCurrent(attempt: Attempt): boolean {
    return this.#current === attempt && !this.#finished;
  }

  #send(replica: Replica): void {
    this.#attempts++;
    const pool = this.#pool;
    const attempt = new Attempt(this, replica, pool, {
      path: this.#clientPath ?? pool.paths[this.#operation],
      method: this.#req.method as Dispatcher.HttpMethod,
      headers: this.#headers,
      body: this.#body,
    });
    this.#current = attempt;
    this.#arm(true);
    attempt.send();
    if (!attempt.dispatched) {
      // The breaker opened between the pick and now, and refused: nothing was sent.
      attempt.ended = true;
      replica.outstanding--;
      pool.stats.failuresByKind.breaker++;
      this.#attemptFailed(new BreakerOpenError('breaker open'));
    }
  }

  attemptHeaders(attempt: Attempt, statusCode: number, rawHeaders: Buffer[], statusText: string | undefined): boolean {
    if (!this.isCurrent(attempt)) return false;
    attempt.status = statusCode;
    if (statusCode === 404 && this.#operation !== 'status') {
      // Perhaps the replica no longer has the version loaded: read the body before relaying anything.
      // (A status request is excluded: TF Serving answers it 200 in every state.)
      attempt.held = { rawHeaders, statusText, chunks: [], bytes: 0 };
      return true;
    }
    const failed = statusCode >= 500;
    attempt.settleWith(statusCode >= 400 ? new UpstreamStatusError(statusCode) : undefined);
    attempt.pool.noteOutcome(attempt.replica, failed);
    if (failed) attempt.pool.stats.failuresByKind.status++;
    if (failed && this.#planRetry(false)) {
      // Read the error body to keep the connection, but the client never sees it.
      attempt.discarding = true;
      return true;
    }
    if (this.#relayHead(attempt.pool, statusCode, rawHeaders, statusText)) return true;
    attempt.abort?.(new Error('invalid response header from replica'));
    return false;
  }

  /** Sends the replica's status line and headers to the client; false if node:http refuses them. */
  #relayHead(pool: VersionPool, statusCode: number, rawHeaders: Buffer[], statusText: string | undefined): boolean {
    // The attempt answered: its timer now only stands for the deadline (expire() re-arms if needed).
    this.#timingAttempt = false;
    this.#responded = true;
    this.#sentStatus = statusCode;
    (this.#res as ServedResponse)[SERVED_VERSION] = pool.versionText;
    const headers = responseHeaders(rawHeaders, pool.versionText, this.#requestId);
    try {
      // The replica's own reason phrase: libevent's table differs from Node's (429 "Client Error").
      if (statusText) this.#res.writeHead(statusCode, statusText, headers);
      else this.#res.writeHead(statusCode, headers);
    } catch {
      // A header node:http refuses to write: the replica's answer cannot be relayed faithfully.
      this.#responded = false;
      return false;
    }
    return true;
  }

  attemptData(attempt: Attempt, chunk: Buffer): boolean {
    if (attempt.discarding) return true;
    if (!this.isCurrent(attempt)) return false;
    const held = attempt.held;
    if (held !== null) {
      held.chunks.push(chunk);
      held.bytes += chunk.length;
      if (held.bytes <= attempt.pool.notLoaded.maxBytes) return true;
      // Too long to be the not-loaded text: some other 404, relayed from here on as it streams.
      attempt.held = null;
      this.#settleClient404(attempt);
      if (!this.#releaseHeld(attempt, held)) {
        attempt.abort?.(new Error('invalid response header from replica'));
        return false;
      }
      const ok = !this.#res.writableNeedDrain;
      if (!ok) this.#res.once('drain', () => attempt.resume?.());
      return ok;
    }
    const ok = this.#res.write(chunk);
    if (!ok) this.#res.once('drain', () => attempt.resume?.());
    return ok;
  }

  attemptComplete(attempt: Attempt): void {
    const held = attempt.held;
    let notLoaded: VersionNotLoadedError | undefined;
    if (held !== null) {
      attempt.held = null;
      notLoaded = this.#judgeHeld(attempt, held);
    }
    attempt.end(attempt.status >= 500 || notLoaded !== undefined);
    if (!this.isCurrent(attempt)) return;
    if (attempt.discarding) {
      this.#retry();
      return;
    }
    if (notLoaded !== undefined) {
      this.#attemptFailed(notLoaded);
      return;
    }
    if (held !== null && !this.#releaseHeld(attempt, held)) {
      this.#fail(new Error('invalid response header from replica'));
      return;
    }
    this.#finish(attempt.status);
    this.#res.end();
  }

  /** Relays a held 404 as it came; false if node:http refuses its headers. */
  #releaseHeld(attempt: Attempt, held: HeldAnswer): boolean {
    if (!this.#relayHead(attempt.pool, attempt.status, held.rawHeaders, held.statusText)) return false;
    for (const part of held.chunks) this.#res.write(part);
    return true;
  }

  /**
   * A held 404 is complete: the replica's word that it lacks the pool's version (a failure of that
   * replica, which is then re-checked at once), or an ordinary 404 (the client's).
   */
  #judgeHeld(attempt: Attempt, held: HeldAnswer): VersionNotLoadedError | undefined {
    const pool = attempt.pool;
    if (!saysNotLoaded(held, pool.notLoaded.message)) {
      this.#settleClient404(attempt);
      return undefined;
    }
    const err = new VersionNotLoadedError(`${attempt.replica.origin} does not have version ${pool.versionText} of ${pool.model} loaded`);
    attempt.settleWith(err);
    pool.noteOutcome(attempt.replica, true);
    pool.stats.failuresByKind.status++;
    attempt.replica.recheck?.();
    return err;
  }

  #settleClient404(attempt: Attempt): void {
    attempt.settleWith(new UpstreamStatusError(404));
    attempt.pool.noteOutcome(attempt.replica, false);
  }

  attemptError(attempt: Attempt, err: Error): void {
    // A held 404 that broke off is a broken attempt like any other: nothing of it was relayed.
    attempt.held = null;
    const clientSide = isClientSide(err);
    // Every failed attempt counts against its pool, even when the retry saves the request; a
    // client that went away is nobody's failure.
    const unsettled = !attempt.settled;
    attempt.settleWith(err);
    if (attempt.end(!clientSide) && unsettled && !clientSide) {
      attempt.pool.noteOutcome(attempt.replica, true);
      const kind = failureKind(err);
      if (kind !== undefined) attempt.pool.stats.failuresByKind[kind]++;
    }
    if (!this.isCurrent(attempt)) return;
    if (attempt.discarding) {
      // The 5xx being dropped broke off: the planned retry still stands.
      this.#retry();
      return;
    }
    this.#attemptFailed(err);
  }

  /** Called by the timer: the attempt took too long to answer, or the whole request did. */
  expire(): void {
    if (this.#finished) return;
    const attempt = this.#current;
    const early = performance.now() < this.#deadlineAt - 1;
    const uploading = !this.#req.complete;
    if (early && (!this.#timingAttempt || uploading)) {
      // An answer still streaming, or a client still sending its body (no replica can answer a
      // request it has not received): what is left of the deadline.
      this.#arm(false);
      return;
    }
    if (this.#timingAttempt && attempt !== undefined && early) {
      const timeout = new AttemptTimeoutError(`no response headers within ${attempt.pool.resilience.retry.attemptTimeoutMs} ms`);
      if (attempt.abort !== null) {
        attempt.abort(timeout);
      } else {
        // Still queued for a connection: give up on it here; undici's callbacks for it are dropped.
        attempt.settleWith(timeout);
        if (attempt.end(true)) attempt.pool.noteOutcome(attempt.replica, true);
        this.#attemptFailed(timeout);
      }
      return;
    }
    this.#fail(new DeadlineError('deadline exceeded', uploading));
  }

  #attemptFailed(err: Error): void {
    if (this.#finished) return;
    if (!this.#responded && CONNECTION_FAILURES.has(codeOf(err)) && this.#planRetry(true)) {
      this.#retry();
      return;
    }
    this.#fail(err);
  }

  /**
   * Decides whether the failed attempt gets a second one and where; remembers the target.
   * `connection`: the replica could not be reached or did not answer (else: it answered 5xx).
   */
  #planRetry(connection: boolean): boolean {
    const current = this.#current;
    if (current === undefined || this.#attempts >= 2 || this.#responded || !this.#replayable(current)) return false;
    if (performance.now() >= this.#deadlineAt - 1) return false;
    const decision = this.#decision;
    if (decision.pinned && !connection) return false;
    const toStable = !decision.pinned && decision.side === 'canary' && this.#pool !== this.#model.stable;
    const pool = toStable ? this.#model.stable : this.#pool;
    const budget = pool.resilience.retry;
    if (!pool.stats.retryAllowed(budget.budgetPercent, budget.minRetriesPerSecond)) return false;
    const replica = pool.pick(current.replica);
    if (replica === undefined) return false;
    this.#nextPool = pool;
    this.#nextReplica = replica;
    return true;
  }

  #retry(): void {
    const pool = this.#nextPool as VersionPool;
    const replica = this.#nextReplica as Replica;
    this.#nextPool = undefined;
    this.#nextReplica = undefined;
    this.#pool = pool;
    pool.stats.recordRetry();
    this.#send(replica);
  }

  /** A body already (partly) sent as a stream cannot be sent again. */
  #replayable(attempt: Attempt): boolean {
    const body = this.#body;
    return body === null || Buffer.isBuffer(body) || !attempt.connected;
  }

  #fail(err: Error): void {
    if (this.#finished) return;
    this.#current?.abort?.(err);
    if (err instanceof ClientGoneError) {
      // nginx's word for it: the client closed the request.
      this.#finish(499);
      return;
    }
    if (this.#responded) {
      // The status line is gone already: cut the connection so the client sees a broken response,
      // never a complete-looking truncated one.
      this.#finish(this.#sentStatus);
      this.#res.destroy(err);
      return;
    }
    const pool = this.#pool;
    if (err instanceof DeadlineError && err.clientFault) {
      this.#finish(408);
      replyError(this.#res, 408, `Request timeout: the request body did not arrive within ${this.#settings.deadlineMs} ms`, this.#requestId, true);
    } else if (err instanceof DeadlineError) {
      this.#finish(504);
      replyError(this.#res, 504, `Deadline exceeded: no answer from the model server within ${this.#settings.deadlineMs} ms`, this.#requestId);
    } else if (err instanceof BodyTooLargeError) {
      this.#finish(413);
      replyError(this.#res, 413, tooLargeMessage(err.limit), this.#requestId, true);
    } else if (CONNECTION_FAILURES.has(codeOf(err))) {
      this.#finish(503);
      replyError(this.#res, 503, `${noReplicaMessage(pool)} (${codeOf(err)})`, this.#requestId);
    } else {
      this.#finish(502);
      replyError(this.#res, 502, `Invalid answer from a replica of model ${pool.model} version ${pool.versionText}`, this.#requestId);
    }
  }

  /** One timer per request: the attempt's time to first byte while waiting for it, then the deadline. */
  #arm(attempt: boolean): void {
    clearTimeout(this.#timer);
    const now = performance.now();
    const attemptEnd = attempt ? now + this.#pool.resilience.retry.attemptTimeoutMs : Infinity;
    this.#timingAttempt = attemptEnd < this.#deadlineAt;
    const at = Math.min(attemptEnd, this.#deadlineAt);
    this.#timer = setTimeout(onTimer, Math.max(0, at - now), this);
  }

  /** Ends the exchange; `status` is what the client got (for the pool's response counts). */
  #finish(status: number): void {
    this.#finished = true;
    clearTimeout(this.#timer);
    this.#pool.stats.recordResponse(status, performance.now() - this.#startedAt);
  }
}

/** The version that answered, kept on the response for the access log (headers given as an array are not readable back). */
export const SERVED_VERSION = Symbol('served-version');
export type ServedResponse = ServerResponse & { [SERVED_VERSION]?: string };

function onTimer(exchange: Exchange): void {
  exchange.expire();
}

/** Whether a held 404's body is `{"error": <message>}`: TF Serving's answer for a version not loaded. */
function saysNotLoaded(held: HeldAnswer, message: string): boolean {
  const body = held.chunks.length === 1 ? (held.chunks[0] as Buffer) : Buffer.concat(held.chunks, held.bytes);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return false;
  }
  return typeof parsed === 'object' && parsed !== null && (parsed as { error?: unknown }).error === message;
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
      if (name.length === 10 && name.toLowerCase() === 'connection') dropped = connectionTokens(value, dropped);
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
  // The names a client's Connection header lists are dropped from what it sent, never from what the
  // gateway adds below ("Connection: x-forwarded-for" must not hide the client's address).
  let headers = out;
  if (dropped !== undefined && dropped.size > 0) {
    headers = withoutNames(out, dropped);
    if (dropped.has('x-forwarded-for')) forwardedFor = undefined;
  }
  const peer = req.socket.remoteAddress;
  if (peer !== undefined) forwardedFor = forwardedFor === undefined ? peer : `${forwardedFor}, ${peer}`;
  if (forwardedFor !== undefined) headers.push('x-forwarded-for', forwardedFor);
  headers.push('x-request-id', requestId);
  if (bodyLength !== undefined) headers.push('content-length', String(bodyLength));
  return headers;
}

function responseHeaders(raw: Buffer[], version: string, requestId: string): string[] {
  const out: string[] = [];
  let dropped: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1');
    const value = (raw[i + 1] as Buffer).toString('latin1');
    if (isHopByHop(name)) {
      if (name.length === 10 && name.toLowerCase() === 'connection') dropped = connectionTokens(value, dropped);
      continue;
    }
    if ((name.length === 15 && name.toLowerCase() === 'x-model-version') || (name.length === 12 && name.toLowerCase() === 'x-request-id')) {
      continue;
    }
    out.push(name, value);
  }
  // As upstream: a replica's Connection header cannot remove the gateway's own headers.
  const headers = dropped !== undefined && dropped.size > 0 ? withoutNames(out, dropped) : out;
  headers.push('x-model-version', version, 'x-request-id', requestId);
  return headers;
}

function withoutNames(flat: string[], names: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i] as string;
    if (!names.has(name.toLowerCase())) out.push(name, flat[i + 1] as string);
  }
  return out;
}
