/**
 * One gRPC call through the gateway: the client's request message (already read and rewritten to
 * name the chosen version) is sent to a replica picked for this call, over one of that replica's
 * HTTP/2 sessions; the answer comes back as it was (headers, message, trailers), plus
 * x-model-version and x-request-id in the initial metadata.
 *
 * The replica's response headers are held until its first message or its trailers: an error a
 * replica sends without a message (Trailers-Only, as TF Serving does) can then still be retried
 * on another replica or on stable, as a REST 5xx or connection failure is, before anything reaches
 * the client. Routing, retries, the breaker and the stats are the REST exchange's (dataplane/), and
 * so is the accounting of each attempt (VersionPool.conclude), once.
 */
// The module's binding, not the global `performance`: that one is a lazy getter, called on every use.
import { performance } from 'node:perf_hooks';
import type { ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { ProxySettings } from '../../config/load.js';
import {
  AttemptTimeoutError,
  BreakerOpenError,
  ClientGoneError,
  ConnectionReset,
  DeadlineError,
  fromTransport,
  VersionNotLoadedError,
  type AttemptFailure,
} from '../../dataplane/attempt-errors.js';
import { REFUSED, UNGUARDED } from '../../dataplane/breaker.js';
import type { VersionPool } from '../../dataplane/pool.js';
import type { Replica } from '../../dataplane/replica.js';
import { busyMessage, firstRoute, isRoute, noReplicaMessage, retryRoute, type Route } from '../../dataplane/routing.js';
import type { ShadowPair } from '../../dataplane/shadow.js';
import type { CompiledModel, Decision } from '../../dataplane/snapshot.js';
import { RESPOND_AND_END, RESPOND_WITH_TRAILERS } from '../../tfserving/grpc-wire.js';
import { release } from './release.js';
import { decodeGrpcMessage, grpcOutcome } from './status.js';
import type { GrpcUpstream } from './upstream.js';
import { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } from './upstream.js';
import { formatTimeout, GRPC_STATUS, perCallUnindexed } from './wire.js';

export interface GrpcCallInput {
  readonly stream: ServerHttp2Stream;
  /** The client's headers, as received. */
  readonly headers: IncomingHttpHeaders;
  readonly model: CompiledModel;
  readonly decision: Decision;
  /** The request body to send to a replica of `pool`, framed: the message naming the pool's version. */
  readonly bodyFor: (pool: VersionPool) => Buffer;
  readonly requestId: string;
  readonly settings: ProxySettings;
  readonly arrivedAt: number;
  /** When the call must be over: the client's grpc-timeout or the gateway's deadline, the earlier. */
  readonly deadlineAt: number;
  readonly upstreamOf: (replica: Replica) => GrpcUpstream;
  /** Answers the client with a status of the gateway's own (Trailers-Only); returns the code sent. */
  readonly answer: (code: number, message: string) => void;
  /** Records what the client got, for the pool's stats (by protocol). */
  readonly record: (pool: VersionPool, code: number, durationMs: number) => void;
  /** Set when a copy of the call went to the shadow version: the answer relayed is kept for it. */
  readonly pair?: ShadowPair | undefined;
}

/** Headers as node:http2 gives them (`:status` a number). */
type HeaderMap = Readonly<Record<string, string | string[] | number | undefined>>;

/** Client headers the replica gets as they are: not pseudo-headers, not hop-by-hop, not the ones the gateway sets. */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'te', 'content-length', 'grpc-timeout', 'x-request-id']);

class GrpcAttempt {
  readonly replica: Replica;
  readonly pool: VersionPool;
  readonly sentAt = performance.now();
  ticket = REFUSED;
  concluded = false;
  stream: ClientHttp2Stream | undefined;
  /** Response headers held until the first message or the trailers. */
  held: HeaderMap | undefined;
  trailers: HeaderMap | undefined;
  relayed = false;

  constructor(route: Route) {
    this.replica = route.replica;
    this.pool = route.pool;
    route.replica.outstanding++;
  }

  conclude(failure: AttemptFailure | undefined): void {
    if (this.concluded) return;
    this.concluded = true;
    this.pool.conclude(this.replica, this.ticket, performance.now() - this.sentAt, failure, 'grpc');
  }
}

export class GrpcCall {
  readonly #in: GrpcCallInput;
  #pool: VersionPool;
  #current: GrpcAttempt | undefined;
  #attempts = 0;
  #finished = false;
  /** The client got response headers (from a replica): no retry from here on. */
  #responded = false;
  #timer: NodeJS.Timeout | undefined;
  #timingAttempt = false;

  constructor(input: GrpcCallInput) {
    this.#in = input;
    this.#pool = input.decision.pool;
  }

  start(): void {
    const { stream } = this.#in;
    // The client may have reset the stream already: its RST_STREAM read in the same socket read as
    // its last DATA frame (the listener starts calls only once that read is processed), or during
    // an inflate. Its 'close' would not be heard below and the call would reach a replica for
    // nobody; HTTP/2 rapid reset (CVE-2023-44487) is exactly that, thousands of times a second.
    if (stream.closed || stream.destroyed) {
      this.#fail(new ClientGoneError('client cancelled the call'));
      return;
    }
    if (performance.now() >= this.#in.deadlineAt) {
      this.#fail(new DeadlineError('deadline exceeded'));
      return;
    }
    const route = firstRoute(this.#in.model, this.#in.decision);
    if (!isRoute(route)) {
      this.#pool = route.pool;
      route.pool.stats.recordNoReplica('grpc', !route.busy);
      this.#end(GRPC_STATUS.UNAVAILABLE, route.busy ? busyMessage(route.pool) : noReplicaMessage(route.pool));
      return;
    }
    this.#send(route);
  }

  /** The client's stream closed (its listener calls this): a call not finished was cancelled (RST_STREAM) or its client went away, and the replica is told at once. */
  clientClosed(): void {
    if (!this.#finished) this.#fail(new ClientGoneError('client cancelled the call'));
  }

  #send(route: Route): void {
    this.#attempts++;
    this.#pool = route.pool;
    const attempt = new GrpcAttempt(route);
    this.#current = attempt;
    attempt.ticket = route.panic ? UNGUARDED : route.replica.breaker.admit();
    if (attempt.ticket === REFUSED) {
      const refused = new BreakerOpenError('breaker open');
      attempt.conclude(refused);
      this.#attemptFailed(attempt, refused);
      return;
    }
    this.#arm(true);
    let upstream: ClientHttp2Stream;
    try {
      upstream = this.#in.upstreamOf(route.replica).session().request(this.#headersFor(), { endStream: false });
    } catch (err) {
      const failure = fromTransport(err as Error);
      attempt.conclude(failure);
      this.#attemptFailed(attempt, failure);
      return;
    }
    attempt.stream = upstream;
    // No listener beyond these six (each costs node:http2 an emit of 'newListener'): 'error' also
    // keeps an error from being thrown, and 'close' releases the stream (release.ts).
    upstream.on('response', (headers) => this.#onResponse(attempt, headers));
    upstream.on('data', (chunk: Buffer) => this.#onData(attempt, chunk));
    // Trailers can arrive while the message is still buffered: acted on at the end of the data.
    upstream.on('trailers', (trailers) => (attempt.trailers = trailers));
    upstream.on('end', () => this.#onEnd(attempt));
    upstream.on('error', (err: Error) => this.#onBroken(attempt, fromTransport(err)));
    upstream.on('close', () => {
      this.#onClose(attempt);
      release(upstream);
    });
    upstream.end(this.#in.bodyFor(route.pool));
  }

  #headersFor(): OutgoingHttpHeaders {
    const out: OutgoingHttpHeaders = {};
    const incoming = this.#in.headers;
    for (const name in incoming) {
      if (name.charCodeAt(0) === 58 /* ':' */ || NOT_FORWARDED.has(name)) continue;
      out[name] = incoming[name];
    }
    out[':method'] = 'POST';
    out[':path'] = incoming[':path'];
    out['te'] = 'trailers';
    out['x-request-id'] = this.#in.requestId;
    out['grpc-timeout'] = formatTimeout(this.#in.deadlineAt - performance.now());
    return perCallUnindexed(out);
  }

  #onResponse(attempt: GrpcAttempt, headers: HeaderMap): void {
    if (!this.#isCurrent(attempt)) return;
    const status = headers[':status'];
    if (status !== 200) {
      // Not gRPC at all (a proxy's page, an overloaded server): what grpc clients make of it.
      const failure = new ConnectionReset(`replica answered HTTP ${String(status)}`);
      attempt.stream?.close(NGHTTP2_CANCEL);
      attempt.conclude(failure);
      this.#attemptFailed(attempt, failure);
      return;
    }
    if (headers['grpc-status'] !== undefined) {
      // Trailers-Only: the whole answer is here.
      this.#settle(attempt, headers, headers);
      return;
    }
    attempt.held = headers;
    this.#timingAttempt = false;
  }

  #onData(attempt: GrpcAttempt, chunk: Buffer): void {
    if (!this.#isCurrent(attempt)) return;
    if (!attempt.relayed) this.#relayHead(attempt, attempt.held ?? { ':status': 200 }, false);
    const client = this.#in.stream;
    if (this.#in.pair !== undefined) this.#in.pair.captureLive(chunk);
    if (!client.write(chunk)) {
      attempt.stream?.pause();
      client.once('drain', () => attempt.stream?.resume());
    }
  }

  /** Every message has been read: the trailers say how the call ended (none: the replica broke off). */
  #onEnd(attempt: GrpcAttempt): void {
    if (!this.#isCurrent(attempt) || attempt.concluded) return;
    if (attempt.trailers === undefined) {
      this.#onBroken(attempt, new ConnectionReset('replica ended the stream without a status'));
      return;
    }
    this.#settle(attempt, attempt.held ?? { ':status': 200 }, attempt.trailers);
  }

  /** The replica's status is known (`statusHeaders` carry it): the attempt's outcome, then retry or relay. */
  #settle(attempt: GrpcAttempt, head: HeaderMap, statusHeaders: HeaderMap): void {
    const code = Number(statusHeaders['grpc-status']);
    const message = decodeGrpcMessage(statusHeaders['grpc-message'] as string | undefined);
    const failure = grpcOutcome(Number.isInteger(code) ? code : GRPC_STATUS.UNKNOWN, message, attempt.pool.notLoaded.message);
    attempt.conclude(failure);
    // The replica is out of date with its health: have it checked now.
    if (failure instanceof VersionNotLoadedError) attempt.replica.recheck?.();
    if (!attempt.relayed && failure !== undefined && failure.kind !== null && this.#planRetry(attempt, failure.reconnectable)) return;
    const trailers = pickTrailers(statusHeaders);
    if (!attempt.relayed) {
      // Nothing of the answer reached the client: it goes as Trailers-Only, as the replica sent it.
      this.#relayHead(attempt, { ...head, ...trailers }, true);
    } else {
      this.#sendTrailers(trailers);
    }
    this.#finish(Number.isInteger(code) ? code : GRPC_STATUS.UNKNOWN);
  }

  #relayHead(attempt: GrpcAttempt, headers: HeaderMap, endStream: boolean): void {
    attempt.relayed = true;
    this.#responded = true;
    this.#timingAttempt = false;
    const out: OutgoingHttpHeaders = {};
    for (const name in headers) {
      if (name.charCodeAt(0) === 58 || name === 'x-model-version' || name === 'x-request-id' || name === 'content-length') continue;
      out[name] = headers[name];
    }
    out[':status'] = 200;
    out['x-model-version'] = attempt.pool.versionText;
    out['x-request-id'] = this.#in.requestId;
    const client = this.#in.stream;
    if (client.destroyed || client.headersSent) return;
    client.respond(perCallUnindexed(out), endStream ? RESPOND_AND_END : RESPOND_WITH_TRAILERS);
  }

  /** Ends the client's stream with `trailers` (node sends them once the data is written). */
  #sendTrailers(trailers: OutgoingHttpHeaders): void {
    const client = this.#in.stream;
    if (client.destroyed) return;
    // Emitted once: `on` spares the removal `once` costs (the listener goes when the stream closes).
    client.on('wantTrailers', () => client.sendTrailers(trailers));
    client.end();
  }

  #onBroken(attempt: GrpcAttempt, failure: AttemptFailure): void {
    if (attempt.concluded) return;
    attempt.conclude(failure);
    if (!this.#isCurrent(attempt)) return;
    this.#attemptFailed(attempt, failure);
  }

  /** The replica's stream closed: without a status, a reset (REFUSED_STREAM: it did no work). */
  #onClose(attempt: GrpcAttempt): void {
    if (attempt.concluded) return;
    const refused = attempt.stream?.rstCode === NGHTTP2_REFUSED_STREAM;
    this.#onBroken(attempt, new ConnectionReset(refused ? 'replica refused the stream' : 'replica closed the stream without a status'));
  }

  #attemptFailed(attempt: GrpcAttempt, failure: AttemptFailure): void {
    if (this.#finished) return;
    if (!attempt.relayed && failure.reconnectable && this.#planRetry(attempt, true)) return;
    this.#fail(failure);
  }

  /** Retries on another replica (or stable) if allowed; true when a retry was sent. */
  #planRetry(attempt: GrpcAttempt, reconnectable: boolean): boolean {
    if (this.#attempts >= 2 || this.#responded || performance.now() >= this.#in.deadlineAt - 1) return false;
    const next = retryRoute(this.#in.model, this.#in.decision, attempt.pool, attempt.replica, reconnectable);
    if (next === undefined) return false;
    attempt.stream?.close(NGHTTP2_CANCEL);
    next.pool.stats.recordRetry('grpc');
    this.#send(next);
    return true;
  }

  #fail(failure: AttemptFailure): void {
    if (this.#finished) return;
    const attempt = this.#current;
    if (attempt !== undefined) {
      attempt.stream?.close(NGHTTP2_CANCEL);
      attempt.conclude(failure);
    }
    if (failure instanceof ClientGoneError) {
      this.#finish(GRPC_STATUS.CANCELLED);
      return;
    }
    if (failure instanceof DeadlineError) {
      this.#end(GRPC_STATUS.DEADLINE_EXCEEDED, 'Deadline Exceeded');
      return;
    }
    if (this.#responded) {
      // Headers (and perhaps a message) went out: the call ends with an error status in trailers.
      this.#sendTrailers({ 'grpc-status': String(GRPC_STATUS.UNAVAILABLE), 'grpc-message': 'the replica broke off its answer' });
      this.#finish(GRPC_STATUS.UNAVAILABLE);
      return;
    }
    if (failure.reconnectable) this.#end(GRPC_STATUS.UNAVAILABLE, `${noReplicaMessage(this.#pool)} (${failure.kind ?? 'refused'})`);
    else this.#end(GRPC_STATUS.INTERNAL, `Invalid answer from a replica of model ${this.#pool.model} version ${this.#pool.versionText}`);
  }

  /** Answers with the gateway's own status. */
  #end(code: number, message: string): void {
    this.#in.answer(code, message);
    this.#finish(code);
  }

  #finish(code: number): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#timer);
    const elapsed = performance.now() - this.#in.arrivedAt;
    this.#in.record(this.#pool, code, elapsed);
    // OK is only ever a replica's own status, after its whole answer was relayed.
    this.#in.pair?.liveDone(code === GRPC_STATUS.OK, code, this.#pool.version, elapsed, code === GRPC_STATUS.OK ? null : `gRPC status ${code}`);
  }

  #isCurrent(attempt: GrpcAttempt): boolean {
    return this.#current === attempt && !this.#finished;
  }

  /** One timer per call: the attempt's time to first response headers, then the deadline. */
  #arm(attempt: boolean): void {
    clearTimeout(this.#timer);
    const now = performance.now();
    const attemptEnd = attempt ? now + this.#pool.resilience.retry.attemptTimeoutMs : Infinity;
    this.#timingAttempt = attemptEnd < this.#in.deadlineAt;
    // Whole milliseconds, as the REST exchange does: one node:timers list for every call.
    this.#timer = setTimeout(onTimer, Math.max(0, Math.ceil(Math.min(attemptEnd, this.#in.deadlineAt) - now)), this);
  }

  expire(): void {
    if (this.#finished) return;
    const attempt = this.#current;
    if (this.#timingAttempt && attempt !== undefined && performance.now() < this.#in.deadlineAt - 1 && !attempt.relayed && attempt.held === undefined) {
      const timeout = new AttemptTimeoutError(`no response headers within ${attempt.pool.resilience.retry.attemptTimeoutMs} ms`);
      attempt.stream?.close(NGHTTP2_CANCEL);
      attempt.conclude(timeout);
      this.#attemptFailed(attempt, timeout);
      return;
    }
    if (performance.now() < this.#in.deadlineAt - 1) {
      this.#arm(false);
      return;
    }
    this.#fail(new DeadlineError('deadline exceeded'));
  }
}

function onTimer(call: GrpcCall): void {
  call.expire();
}

/** The status and metadata of a replica's trailers (or Trailers-Only headers), pseudo-headers aside. */
function pickTrailers(headers: HeaderMap): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 || name === 'content-type') continue;
    out[name] = headers[name];
  }
  return out;
}
