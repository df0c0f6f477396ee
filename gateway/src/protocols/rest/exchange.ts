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
// The module's binding, not the global `performance`: that one is a lazy getter, called on every use.
import { performance } from 'node:perf_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { ProxySettings } from '../../config/load.js';
import type { TfOperation } from '../../tfserving/path.js';
import {
  AttemptFailure,
  AttemptTimeoutError,
  BodyTooLargeError,
  BreakerOpenError,
  ClientGoneError,
  ConnectionReset,
  DeadlineError,
  fromTransport,
  UpstreamStatusError,
  VersionNotLoadedError,
} from '../../dataplane/attempt-errors.js';
import { REFUSED, UNGUARDED } from '../../dataplane/breaker.js';
import { commonName, headerText } from './header-text.js';
import { connectionTokens, isHopByHop, nameIs } from './hop-by-hop.js';
import { replyError } from './local-reply.js';
import type { VersionPool } from '../../dataplane/pool.js';
import type { Replica } from '../../dataplane/replica.js';
import { busyMessage, firstRoute, isRoute, noReplicaMessage, retryRoute, type Route } from '../../dataplane/routing.js';
import type { ShadowPair } from '../../dataplane/shadow.js';
import type { CompiledModel, Decision } from '../../dataplane/snapshot.js';

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
  /** performance.now() when the request arrived: the deadline counts from there, body read included. */
  readonly arrivedAt: number;
  /** Whether the access log follows this request: the version that answered is then kept on the response. */
  readonly keepVersion: boolean;
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
  /** Recorded in its pool (see conclude). */
  concluded = false;
  /** Its breaker's ticket; REFUSED while not sent. */
  ticket = REFUSED;
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

  /** Sends the attempt if the replica's breaker admits it (`dispatched` says whether); in panic, past it. */
  send(panic: boolean): void {
    this.ticket = panic ? UNGUARDED : this.replica.breaker.admit();
    if (this.ticket !== REFUSED) this.replica.dispatcher.dispatch(this.options, this);
  }

  /** Records how the attempt ended, once (VersionPool.conclude); false if it already was. */
  conclude(failure: AttemptFailure | undefined): boolean {
    if (this.concluded) return false;
    this.concluded = true;
    this.pool.conclude(this.replica, this.ticket, performance.now() - this.sentAt, failure, 'rest');
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
    this.exchange.attemptError(this, fromTransport(err));
  }
}

/** The replica answered, but not in a way the gateway can relay (a header node:http refuses). */
class InvalidAnswerError extends ConnectionReset {}

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
  readonly #arrivedAt: number;
  readonly #deadlineAt: number;
  readonly #keepVersion: boolean;
  /** The status line sent to the client (0 before). */
  #sentStatus = 0;
  #timer: NodeJS.Timeout | undefined;
  /** The timer watches the attempt's time to first byte (else only the deadline). */
  #timingAttempt = false;
  #responded = false;
  #started = false;
  #finished = false;
  /** Where the planned retry goes. */
  #next: Route | undefined;
  /** Set when a copy of this request went to the shadow version: the live answer is kept for it. */
  #pair: ShadowPair | undefined = undefined;

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
    this.#arrivedAt = input.arrivedAt;
    this.#deadlineAt = input.arrivedAt + input.settings.deadlineMs;
    this.#keepVersion = input.keepVersion;
  }

  /** The request's copy: the answer relayed to the client is kept for the comparison (before start()). */
  shadowWith(pair: ShadowPair): void {
    this.#pair = pair;
  }

  /** Starts the first attempt; `body` comes from readBody(). */
  start(body: Body, bodyLength: number | undefined): void {
    this.#body = body;
    this.#headers = upstreamHeaders(this.#req, this.#requestId, bodyLength);
    this.#started = true;
    if (performance.now() >= this.#deadlineAt - 1) {
      // The body took the whole deadline to arrive: no replica was involved.
      this.#fail(new DeadlineError('deadline exceeded', true));
      return;
    }
    const route = firstRoute(this.#model, this.#decision);
    if (!isRoute(route)) {
      const pool = route.pool;
      this.#pool = pool;
      this.#finish(503);
      pool.stats.recordNoReplica('rest', !route.busy);
      replyError(this.#res, 503, route.busy ? busyMessage(pool) : noReplicaMessage(pool), this.#requestId);
      return;
    }
    this.#pool = route.pool;
    this.#send(route);
  }

  /**
   * The client's connection closed (the response's one 'close' listener, set by the handler): an
   * exchange under way gives up. Before start() nothing is under way: the body is never finished,
   * so start() is never called.
   */
  clientClosed(): void {
    if (this.#started && !this.#finished) this.#fail(new ClientGoneError('client closed the connection'));
  }

  isCurrent(attempt: Attempt): boolean {
    return this.#current === attempt && !this.#finished;
  }

  #send(route: Route): void {
    this.#attempts++;
    const { pool, replica } = route;
    const attempt = new Attempt(this, replica, pool, {
      path: this.#clientPath ?? pool.paths[this.#operation],
      method: this.#req.method as Dispatcher.HttpMethod,
      headers: this.#headers,
      body: this.#body,
    });
    this.#current = attempt;
    this.#arm(true);
    attempt.send(route.panic);
    if (!attempt.dispatched) {
      // The breaker opened between the pick and now, and refused: nothing was sent.
      const refused = new BreakerOpenError('breaker open');
      attempt.conclude(refused);
      this.#attemptFailed(refused);
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
    if (statusCode >= 500 && this.#planRetry(false)) {
      // Read the error body to keep the connection, but the client never sees it.
      attempt.discarding = true;
      return true;
    }
    if (this.#relayHead(attempt.pool, statusCode, rawHeaders, statusText)) return true;
    attempt.abort?.(new InvalidAnswerError('invalid response header from replica'));
    return false;
  }

  /** Sends the replica's status line and headers to the client; false if node:http refuses them. */
  #relayHead(pool: VersionPool, statusCode: number, rawHeaders: Buffer[], statusText: string | undefined): boolean {
    // The attempt answered: its timer now only stands for the deadline (expire() re-arms if needed).
    this.#timingAttempt = false;
    this.#responded = true;
    this.#sentStatus = statusCode;
    // Only for the access log: the property changes every response's map.
    if (this.#keepVersion) (this.#res as ServedResponse)[SERVED_VERSION] = pool.versionText;
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
      if (!this.#releaseHeld(attempt, held)) {
        attempt.abort?.(new InvalidAnswerError('invalid response header from replica'));
        return false;
      }
      const ok = !this.#res.writableNeedDrain;
      if (!ok) this.#res.once('drain', () => attempt.resume?.());
      return ok;
    }
    if (this.#pair !== undefined) this.#pair.captureLive(chunk);
    const ok = this.#res.write(chunk);
    if (!ok) this.#res.once('drain', () => attempt.resume?.());
    return ok;
  }

  attemptComplete(attempt: Attempt): void {
    const held = attempt.held;
    attempt.held = null;
    const notLoaded = held !== null && saysNotLoaded(held, attempt.pool.notLoaded.message);
    let failure: AttemptFailure | undefined;
    if (notLoaded) {
      failure = new VersionNotLoadedError(`${attempt.replica.origin} does not have version ${attempt.pool.versionText} of ${attempt.pool.model} loaded`);
      // The replica is out of date with its health: have it checked now.
      attempt.replica.recheck?.();
    } else if (attempt.status >= 400) {
      failure = new UpstreamStatusError(attempt.status);
    }
    attempt.conclude(failure);
    if (!this.isCurrent(attempt)) return;
    if (attempt.discarding) {
      this.#retry();
      return;
    }
    if (notLoaded) {
      this.#attemptFailed(failure as AttemptFailure);
      return;
    }
    if (held !== null && !this.#releaseHeld(attempt, held)) {
      this.#fail(new InvalidAnswerError('invalid response header from replica'));
      return;
    }
    this.#finish(attempt.status, true);
    this.#res.end();
  }

  /** Relays a held 404 as it came; false if node:http refuses its headers. */
  #releaseHeld(attempt: Attempt, held: HeldAnswer): boolean {
    if (!this.#relayHead(attempt.pool, attempt.status, held.rawHeaders, held.statusText)) return false;
    for (const part of held.chunks) this.#res.write(part);
    return true;
  }

  attemptError(attempt: Attempt, failure: AttemptFailure): void {
    // A held 404 that broke off is a broken attempt like any other: nothing of it was relayed. An
    // answer that broke off in the middle is a failure of the replica too, though it began well.
    attempt.held = null;
    attempt.conclude(failure);
    if (!this.isCurrent(attempt)) return;
    if (attempt.discarding) {
      // The 5xx being dropped broke off: the planned retry still stands.
      this.#retry();
      return;
    }
    this.#attemptFailed(failure);
  }

  /** Called by the timer: the attempt took too long to answer, or the whole request did. */
  expire(): void {
    if (this.#finished) return;
    const attempt = this.#current;
    const early = performance.now() < this.#deadlineAt - 1;
    const uploading = !this.#req.complete;
    if (early && (!this.#timingAttempt || uploading)) {
      // An answer still streaming, or a body still on its way (no replica can answer a request it
      // has not received): what is left of the deadline.
      this.#arm(false);
      return;
    }
    if (this.#timingAttempt && attempt !== undefined && early) {
      const timeout = new AttemptTimeoutError(`no response headers within ${attempt.pool.resilience.retry.attemptTimeoutMs} ms`);
      if (attempt.abort !== null) {
        attempt.abort(timeout);
      } else {
        // Still connecting: give up on it here; undici's callbacks for it are dropped.
        attempt.conclude(timeout);
        this.#attemptFailed(timeout);
      }
      return;
    }
    // A body still arriving at the deadline: the client's fault if it is slow to send, the
    // replica's if it stopped reading (what the client sent then waits, unread, in the gateway).
    const replicaStalled = uploading && this.#req.readableLength > 0;
    this.#fail(new DeadlineError('deadline exceeded', uploading && !replicaStalled));
  }

  #attemptFailed(failure: AttemptFailure): void {
    if (this.#finished) return;
    if (!this.#responded && failure.reconnectable && this.#planRetry(true)) {
      this.#retry();
      return;
    }
    this.#fail(failure);
  }

  /**
   * Decides whether the failed attempt gets a second one and where; remembers the target.
   * `reconnectable`: the replica could not take the request (else: it answered 5xx).
   */
  #planRetry(reconnectable: boolean): boolean {
    const current = this.#current;
    if (current === undefined || this.#attempts >= 2 || this.#responded || !this.#replayable(current)) return false;
    if (performance.now() >= this.#deadlineAt - 1) return false;
    this.#next = retryRoute(this.#model, this.#decision, this.#pool, current.replica, reconnectable);
    return this.#next !== undefined;
  }

  #retry(): void {
    const next = this.#next as Route;
    this.#next = undefined;
    this.#pool = next.pool;
    next.pool.stats.recordRetry('rest');
    this.#send(next);
  }

  /** A body already (partly) sent as a stream cannot be sent again. */
  #replayable(attempt: Attempt): boolean {
    const body = this.#body;
    return body === null || Buffer.isBuffer(body) || !attempt.connected;
  }

  #fail(failure: AttemptFailure): void {
    if (this.#finished) return;
    const current = this.#current;
    current?.abort?.(failure);
    // Concluded here when undici will not call back: the attempt never connected.
    current?.conclude(failure);
    if (failure instanceof ClientGoneError) {
      // nginx's word for it: the client closed the request.
      this.#finish(499);
      return;
    }
    if (this.#responded) {
      // The status line is gone already: cut the connection so the client sees a broken response,
      // never a complete-looking truncated one.
      this.#finish(this.#sentStatus);
      this.#res.destroy(failure);
      return;
    }
    const pool = this.#pool;
    if (failure instanceof DeadlineError && failure.clientFault) {
      this.#finish(408);
      replyError(this.#res, 408, `Request timeout: the request body did not arrive within ${this.#settings.deadlineMs} ms`, this.#requestId, true);
    } else if (failure instanceof DeadlineError) {
      this.#finish(504);
      replyError(this.#res, 504, `Deadline exceeded: no answer from the model server within ${this.#settings.deadlineMs} ms`, this.#requestId);
    } else if (failure instanceof BodyTooLargeError) {
      this.#finish(413);
      replyError(this.#res, 413, tooLargeMessage(failure.limit), this.#requestId, true);
    } else if (failure.reconnectable && !(failure instanceof InvalidAnswerError)) {
      this.#finish(503);
      replyError(this.#res, 503, `${noReplicaMessage(pool)} (${failure.kind ?? 'refused'})`, this.#requestId);
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
    // Whole milliseconds: node:timers keeps one list per distinct delay, and `now + t - now` comes
    // out as a dozen different fractions of t, each a list created and dropped under load.
    this.#timer = setTimeout(onTimer, Math.max(0, Math.ceil(at - now)), this);
  }

  /**
   * Ends the exchange; `status` is what the client got (for the pool's response counts), `whole`
   * whether the replica's answer was relayed to its end.
   */
  #finish(status: number, whole = false): void {
    this.#finished = true;
    clearTimeout(this.#timer);
    const elapsed = performance.now() - this.#arrivedAt;
    this.#pool.stats.recordResponse('rest', status, elapsed);
    if (this.#pair !== undefined) this.#pair.liveDone(whole && status >= 200 && status < 300, whole ? status : -1, this.#pool.version, elapsed, whole ? null : `HTTP ${status}`);
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
      if (nameIs(name, 'connection')) dropped = connectionTokens(value, dropped);
      continue;
    }
    switch (name.length) {
      case 4:
        if (nameIs(name, 'host')) continue;
        break;
      case 12:
        if (nameIs(name, 'x-request-id')) continue;
        break;
      case 14:
        if (nameIs(name, 'content-length')) continue;
        break;
      case 15:
        if (nameIs(name, 'x-forwarded-for')) {
          forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
          continue;
        }
        break;
    }
    out.push(commonName(name), value);
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
    const name = headerText(raw[i] as Buffer);
    if (isHopByHop(name)) {
      if (nameIs(name, 'connection')) dropped = connectionTokens(headerText(raw[i + 1] as Buffer), dropped);
      continue;
    }
    if (nameIs(name, 'x-model-version') || nameIs(name, 'x-request-id')) {
      continue;
    }
    out.push(name, headerText(raw[i + 1] as Buffer));
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
