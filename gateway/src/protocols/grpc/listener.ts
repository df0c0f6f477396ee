/**
 * The gRPC listener (TF Serving's port 8500): PredictionService and ModelService calls, each
 * balanced on its own across the replicas of the version decided for it (HTTP/2 pins a client's
 * connection, never its calls), and grpc.health.v1 for the gateway itself.
 *
 * A call is read whole (unary: one message, at most proxy.maxBodyBytes, counted against the
 * admission budget), its ModelSpec read from the protobuf bytes (model-spec.ts), decided exactly as
 * a REST request (dataplane/decide.ts: version, label, header rules on the metadata, sticky key,
 * split; cookie rules do not apply), and sent on with the chosen version written into it. What the
 * gateway answers itself is TF Serving's answer, code and message, as Trailers-Only.
 */
import { performance } from 'node:perf_hooks';
import { constants, createSecureServer, createServer, type Http2SecureServer, type Http2Server, type IncomingHttpHeaders, type SecureServerOptions, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { Logger } from 'pino';
import type { AccessLogSettings, ProxySettings } from '../../config/load.js';
import { createAccessLog, elapsedMs, type AccessLog } from '../../observability/access-log.js';
import { fullMessage, type Admission, type Hold } from '../../dataplane/admission.js';
import { decide, decideUnpinned } from '../../dataplane/decide.js';
import type { VersionPool } from '../../dataplane/pool.js';
import type { Replica } from '../../dataplane/replica.js';
import { RequestIds } from '../../dataplane/request-id.js';
import type { SnapshotHolder } from '../../dataplane/snapshot.js';
import { HTTP_STATUS_OF, noSuchVersion, noVersionsOfModel, servableNotFoundLatest, servableNotFoundSpecific, unrecognizedLabel, type TfErrorCode } from '../../tfserving/errors.js';
import { GrpcCall } from './call.js';
import { HEALTH_CHECK_PATH, HEALTH_WATCH_PATH, HealthService } from './health.js';
import type { Shadows } from '../../dataplane/shadow.js';
import { sendGrpcShadow } from './shadow.js';
import { MalformedMessageError, RequestSpec, type ModelSpec } from './model-spec.js';
import { ignoreError, release } from './release.js';
import { STREAM_WINDOW_BYTES, type GrpcUpstream } from './upstream.js';
import { MESSAGE_PREFIX_BYTES, parseGrpcTimeout, RESPOND_AND_END, tfGrpcMessage, trailersOnlyHeaders } from '../../tfserving/grpc-wire.js';
import { statusCodeName } from '../../tfserving/protos.js';
import { FramingError, GRPC_STATUS, perCallUnindexed, unaryCompressed } from './wire.js';

const inflate = promisify(gunzip);
const { NGHTTP2_NO_ERROR } = constants;

type Operation = 'predict' | 'classify' | 'regress' | 'multiinference' | 'metadata' | 'status';

const METHODS: ReadonlyMap<string, Operation> = new Map([
  ['/tensorflow.serving.PredictionService/Predict', 'predict'],
  ['/tensorflow.serving.PredictionService/Classify', 'classify'],
  ['/tensorflow.serving.PredictionService/Regress', 'regress'],
  ['/tensorflow.serving.PredictionService/MultiInference', 'multiinference'],
  ['/tensorflow.serving.PredictionService/GetModelMetadata', 'metadata'],
  ['/tensorflow.serving.ModelService/GetModelStatus', 'status'],
]);

const RELOAD_CONFIG = '/tensorflow.serving.ModelService/HandleReloadConfigRequest';
/** Calls one client connection may have open at once (more are refused by HTTP/2 itself). */
const MAX_CONCURRENT_STREAMS = 1000;

/** What the gateway answers HandleReloadConfigRequest: it would reconfigure one replica picked at random. */
export const RELOAD_CONFIG_ANSWER = {
  code: GRPC_STATUS.UNIMPLEMENTED,
  message: 'HandleReloadConfigRequest is not forwarded by canary-gateway: it would reconfigure one replica picked at random; send it to each replica',
} as const;

export interface GrpcListenerOptions {
  readonly snapshots: SnapshotHolder;
  readonly admission: Admission;
  readonly settings: ProxySettings;
  readonly log: Logger;
  /** Readiness as /readyz has it: what grpc.health.v1 reports. */
  readonly ready: () => boolean;
  readonly upstreamOf: (replica: Replica) => GrpcUpstream;
  /** Copies of calls to a model's shadow version, shared with every listener. */
  readonly shadows: Shadows;
  /** What a client got from a pool, by gRPC code (for the pool's stats and /metrics). */
  readonly record: (pool: VersionPool, code: number, durationMs: number) => void;
  readonly accessLog: AccessLogSettings;
}

/** The gRPC listener's server, and its connections' life: drained (GOAWAY) on shutdown, cut at the end. */
export interface GrpcServer {
  readonly server: Http2Server | Http2SecureServer;
  /** Stops accepting: every session is told GOAWAY, calls in flight finish; resolves once all are closed. */
  drain(): Promise<void>;
  /** Ends every session now. */
  cut(): void;
}

export function createGrpcServer(options: GrpcListenerOptions, tls?: SecureServerOptions): GrpcServer {
  const http2Options = {
    settings: { initialWindowSize: STREAM_WINDOW_BYTES, maxConcurrentStreams: MAX_CONCURRENT_STREAMS },
    // Bounded per connection (MiB), so many streams of large messages cannot grow memory without end.
    maxSessionMemory: 64,
  };
  // HTTP/2 rapid reset (CVE-2023-44487): nghttp2 (1.57 and later, in Node 20) rate-limits RST_STREAM floods.
  const server = tls === undefined ? createServer(http2Options) : createSecureServer({ ...http2Options, ...tls, ALPNProtocols: ['h2'] });
  const handler = new GrpcHandler(options);
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('error', () => undefined);
    session.once('connect', () => session.setLocalWindowSize(STREAM_WINDOW_BYTES * 4));
    // A connection on which no call was opened for a whole deadline has no call in flight that is
    // not already past its deadline (every call ends by its deadline, with an answer): it is closed
    // (GOAWAY, graceful), and if it is still there one more deadline later, destroyed. Without
    // this, a connection nghttp2 has ended with a GOAWAY for a protocol error (a bad frame, broken
    // HPACK) stays open as long as the client keeps it: node:http2 neither closes the socket nor
    // tells the server. A health Watch is silent until the status changes: its connection is told
    // GOAWAY but not cut. (Not node:http2's session timeout: it re-arms its timer on every frame
    // read or written, about a dozen times per call; docs/performance.md.)
    const idleMs = options.settings.deadlineMs;
    let opened = false;
    const idle = setTimeout(() => {
      if (session.destroyed) return;
      if (opened) opened = false;
      else if (session.closed) {
        if (handler.health.watchesOn(session) === 0) {
          session.destroy();
          return;
        }
      } else session.close();
      if (!session.destroyed) idle.refresh();
    }, idleMs).unref();
    session.on('close', () => {
      sessions.delete(session);
      clearTimeout(idle);
    });
    // On the session rather than the server: the flag above is this connection's.
    session.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      opened = true;
      handler.handle(stream, headers);
    });
  });
  return {
    server,
    drain: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        handler.health.close();
        for (const session of sessions) session.close();
      }),
    cut: () => {
      handler.health.close();
      for (const session of sessions) session.destroy();
      server.close();
    },
  };
}

class GrpcHandler {
  readonly #o: GrpcListenerOptions;
  readonly #ids = new RequestIds();
  readonly #access: AccessLog | undefined;
  /** Calls to start after this turn's socket reads (#startSoon). */
  #toStart: Array<() => void> = [];
  /** Streams handled this turn: those still reading their message at its end get a read deadline. */
  readonly #unread: ClientStream[] = [];
  #turnEndDue = false;
  readonly health: HealthService;

  constructor(options: GrpcListenerOptions) {
    this.#o = options;
    this.health = new HealthService(options.ready);
    this.#access = createAccessLog(options.accessLog, options.log);
  }

  handle(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const requestId = this.#ids.from(headers['x-request-id']);
    if (this.#access?.follow() === true) this.#logOnClose(this.#access, stream, headers, requestId);
    try {
      this.#handle(stream, headers, requestId);
    } catch (err) {
      this.#failed(stream, err, requestId, headers[':path']);
    }
  }

  #handle(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, requestId: string): void {
    // One 'error' and one 'close' listener for the stream's whole life: every listener added to a
    // node:http2 stream costs an emit of 'newListener', and every `once` a removal that emits
    // 'removeListener' (docs/performance.md).
    const client = new ClientStream(stream);
    stream.on('error', ignoreError);
    stream.on('close', () => client.closed());
    // As grpc C++'s HTTP server filter: the method, then te; the content-type is not looked at.
    if (headers[':method'] !== 'POST') {
      answer(stream, GRPC_STATUS.UNKNOWN, 'Bad method header', requestId);
      return;
    }
    if (headers['te'] !== 'trailers') {
      answer(stream, GRPC_STATUS.UNKNOWN, 'Missing :te header', requestId);
      return;
    }
    const path = headers[':path'] ?? '';
    if (path === HEALTH_CHECK_PATH || path === HEALTH_WATCH_PATH) {
      this.health.handle(stream, path === HEALTH_WATCH_PATH, requestId, (code, message) => answer(stream, code, message, requestId));
      return;
    }
    if (path === RELOAD_CONFIG) {
      answer(stream, RELOAD_CONFIG_ANSWER.code, RELOAD_CONFIG_ANSWER.message, requestId);
      return;
    }
    const operation = METHODS.get(path);
    if (operation === undefined) {
      answer(stream, GRPC_STATUS.UNIMPLEMENTED, '', requestId);
      return;
    }
    const hold = this.#o.admission.enter();
    if (hold === undefined) {
      answer(stream, GRPC_STATUS.UNAVAILABLE, fullMessage(this.#o.admission), requestId);
      return;
    }
    client.hold = hold;
    const arrivedAt = performance.now();
    const { settings } = this.#o;
    const timeoutHeader = headers['grpc-timeout'];
    const timeout = parseGrpcTimeout(typeof timeoutHeader === 'string' ? timeoutHeader : undefined);
    const deadlineAt = arrivedAt + Math.min(timeout ?? Number.POSITIVE_INFINITY, settings.deadlineMs);
    const limit = settings.maxBodyBytes;
    const chunks: Buffer[] = [];
    let size = 0;
    // The read's deadline is armed at the end of the turn, and only if the message is still coming
    // then: a unary call's message nearly always arrives with its headers, in the same socket read,
    // and a timer set and cleared for each of those was garbage and timer-list work for nothing.
    client.requestId = requestId;
    client.readDeadlineAt = deadlineAt;
    this.#unread.push(client);
    this.#atEndOfTurn();
    let declared = -1;
    stream.on('data', (chunk: Buffer) => {
      if (!client.reading) return;
      size += chunk.length;
      // Refused as soon as the message's prefix says it is too long, as grpc does.
      if (declared < 0 && size >= MESSAGE_PREFIX_BYTES) declared = (chunks.length === 0 ? chunk : Buffer.concat([...chunks, chunk])).readUInt32BE(1);
      if (declared > limit || size > limit + MESSAGE_PREFIX_BYTES) {
        client.readDone();
        answer(stream, GRPC_STATUS.RESOURCE_EXHAUSTED, `Received message larger than max (${Math.max(declared, size - MESSAGE_PREFIX_BYTES)} vs. ${limit})`, requestId);
        return;
      }
      if (!hold.reserve(chunk.length)) {
        client.readDone();
        answer(stream, GRPC_STATUS.UNAVAILABLE, fullMessage(this.#o.admission), requestId);
        return;
      }
      chunks.push(chunk);
    });
    // Emitted once: `on`, not `once` (see above).
    stream.on('end', () => {
      if (!client.reading) return;
      client.readDone();
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
      try {
        this.#route(client, headers, operation, body, requestId, arrivedAt, deadlineAt);
      } catch (err) {
        this.#failed(stream, err, requestId, path);
      }
    });
  }

  /** A bug in the gateway's handling of a call: logged, and the call answered INTERNAL. */
  #failed(stream: ServerHttp2Stream, err: unknown, requestId: string, path: string | undefined): void {
    this.#o.log.error({ err, requestId, path }, 'gRPC handler failed');
    answer(stream, GRPC_STATUS.INTERNAL, 'Internal error in the gateway', requestId);
  }

  /**
   * The call's message: framing checked, inflated if compressed (only to read the ModelSpec), then
   * routed. Not an async function: only a compressed message waits (for the inflate), and a
   * promise per call is garbage for all the others.
   */
  #route(client: ClientStream, headers: IncomingHttpHeaders, operation: Operation, body: Buffer, requestId: string, arrivedAt: number, deadlineAt: number): void {
    const { stream } = client;
    let compressed;
    try {
      compressed = unaryCompressed(body);
    } catch (err) {
      if (!(err instanceof FramingError)) throw err;
      answer(stream, GRPC_STATUS.INTERNAL, err.message, requestId);
      return;
    }
    if (!compressed) {
      this.#routeMessage(client, headers, operation, body, body, MESSAGE_PREFIX_BYTES, requestId, arrivedAt, deadlineAt);
      return;
    }
    const encoding = headers['grpc-encoding'];
    if (encoding !== 'gzip') {
      answer(stream, GRPC_STATUS.UNIMPLEMENTED, `Compression algorithm "${String(encoding ?? 'identity')}" is not supported`, requestId);
      return;
    }
    // Inflated only to read the ModelSpec; bounded as the message itself is.
    inflate(body.subarray(MESSAGE_PREFIX_BYTES), { maxOutputLength: this.#o.settings.maxBodyBytes })
      .then(
        (payload) => this.#routeMessage(client, headers, operation, body, payload, 0, requestId, arrivedAt, deadlineAt),
        () => answer(stream, GRPC_STATUS.INTERNAL, 'Failed to decompress the request message', requestId),
      )
      .catch((err: unknown) => this.#failed(stream, err, requestId, headers[':path']));
  }

  /** `payload` from `payloadStart` on is the request message, uncompressed (`body` itself, past its prefix, unless it was inflated). */
  #routeMessage(
    client: ClientStream,
    headers: IncomingHttpHeaders,
    operation: Operation,
    body: Buffer,
    payload: Buffer,
    payloadStart: number,
    requestId: string,
    arrivedAt: number,
    deadlineAt: number,
  ): void {
    const { stream } = client;
    let read: RequestSpec;
    try {
      read = new RequestSpec(payload, operation === 'multiinference', payloadStart);
    } catch (err) {
      if (!(err instanceof MalformedMessageError)) throw err;
      // What a gRPC C++ server answers a request it cannot parse.
      answer(stream, GRPC_STATUS.INTERNAL, '', requestId);
      return;
    }
    const { spec, taskModels } = read;
    const local = localAnswer(operation, spec, taskModels);
    if (local !== undefined) {
      answer(stream, GRPC_STATUS[local.code], local.message, requestId);
      return;
    }
    const named = spec as ModelSpec;
    const model = this.#o.snapshots.current.models.get(named.name);
    const version = named.version === undefined ? undefined : String(named.version);
    // GetModelStatus ignores version_label, as TF Serving does: only a version narrows it.
    const label = operation === 'status' ? undefined : named.versionLabel;
    if (model === undefined) {
      const e = unknownModel(operation, named.name, version, label);
      answer(stream, GRPC_STATUS[e.code], e.message, requestId);
      return;
    }
    const target = { model: named.name, version, label, operation: operation === 'multiinference' ? 'predict' : operation } as const;
    let resolution = decide(model, target, headers, false);
    if (operation === 'status' && version === undefined) resolution = decideUnpinned(model, headers, false);
    if (resolution === 'unknown-version') {
      answer(stream, GRPC_STATUS.NOT_FOUND, operation === 'status' ? noSuchVersion(named.name, version ?? '') : servableNotFoundSpecific(named.name, version ?? ''), requestId);
      return;
    }
    if (resolution === 'unknown-label') {
      answer(stream, GRPC_STATUS.INVALID_ARGUMENT, unrecognizedLabel(label ?? ''), requestId);
      return;
    }
    // The replica serves exactly the version of its pool (a retry on stable gets stable's); a
    // status request without a version lists them all, as sent.
    const asSent = operation === 'status' && version === undefined;
    // Written once per version the call is sent to (a retry on stable is the other one).
    let rewrittenFor = -1;
    let rewritten = body;
    const bodyFor = (pool: VersionPool): Buffer => {
      if (asSent) return body;
      if (rewrittenFor !== pool.version) {
        rewritten = read.framedWithVersion(pool.version);
        rewrittenFor = pool.version;
      }
      return rewritten;
    };
    // Only inference is copied (MultiInference aside: its tasks name models of their own).
    const shadowed = model.shadow !== null && (operation === 'predict' || operation === 'classify' || operation === 'regress') ? operation : undefined;
    const pair = shadowed === undefined ? undefined : this.#o.shadows.begin(model, resolution, 'grpc', shadowed, requestId, body.length);
    const call = new GrpcCall({
      stream,
      headers,
      model,
      decision: resolution,
      bodyFor,
      requestId,
      settings: this.#o.settings,
      arrivedAt,
      deadlineAt,
      upstreamOf: this.#o.upstreamOf,
      answer: (code, text) => answer(stream, code, text, requestId),
      record: this.#o.record,
      pair,
    });
    client.call = call;
    // Not at once: node:http2 hands a socket read's frames to JS one by one, and 'end' (a tick)
    // comes before the frames after the last DATA frame are read, a RST_STREAM among them. After
    // the read (setImmediate), a call its client already reset is seen as such and costs no
    // replica anything (HTTP/2 rapid reset: HEADERS, DATA, RST_STREAM, thousands at once).
    this.#startSoon(() => {
      try {
        call.start();
      } catch (err) {
        this.#failed(stream, err, requestId, headers[':path']);
      } finally {
        // After the live call is on its way: the copy never goes ahead of it. Sent even if start()
        // failed (a bug): the copy's answer is what gives its budget back. A call its client reset
        // before it started (rapid reset) is not copied either: the pair is settled at once.
        if (pair !== undefined && stream.destroyed) pair.shadowDone({ ok: false, status: -1, body: null, error: 'not sent: the client cancelled the call', tooLarge: false, latencyMs: 0 });
        else if (pair !== undefined) sendGrpcShadow(pair, headers[':path'] ?? '', () => bodyFor(pair.pool), this.#o.upstreamOf(pair.replica), this.#o.settings.deadlineMs);
      }
    });
  }

  /** Starts `start` once the socket reads of this turn are processed: one setImmediate for every call ready in the turn, not one each. */
  #startSoon(start: () => void): void {
    this.#toStart.push(start);
    this.#atEndOfTurn();
  }

  #atEndOfTurn(): void {
    if (this.#turnEndDue) return;
    this.#turnEndDue = true;
    setImmediate(this.#turnEnd);
  }

  readonly #turnEnd = (): void => {
    this.#turnEndDue = false;
    const unread = this.#unread;
    if (unread.length > 0) {
      const now = performance.now();
      for (const client of unread) client.armReadDeadline(now);
      unread.length = 0;
    }
    const starts = this.#toStart;
    if (starts.length === 0) return;
    this.#toStart = [];
    for (const start of starts) {
      // Each answers its own failures; this only keeps one bug from leaving the others unstarted.
      try {
        start();
      } catch (err) {
        this.#o.log.error({ err }, 'gRPC call failed to start');
      }
    }
  };

  /** The gRPC side of the access log: what was sent (status, served version) read off the stream when it closes. */
  #logOnClose(access: AccessLog, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, requestId: string): void {
    const started = performance.now();
    stream.once('close', () => {
      const sent = stream.sentTrailers?.['grpc-status'] ?? stream.sentHeaders?.['grpc-status'];
      const status = sent === undefined ? -1 : Number(sent);
      const version = stream.sentHeaders?.['x-model-version'];
      const complete = status >= 0 && (stream.rstCode ?? 0) === 0;
      access.write(
        {
          requestId,
          protocol: 'grpc',
          method: headers[':path'],
          status: Math.max(0, status),
          version: typeof version === 'string' ? version : undefined,
          ms: elapsedMs(started),
          complete,
        },
        !complete || httpStatusOfGrpc(status) >= 500,
      );
    });
  }
}

/** What ends with the client's stream: its admission hold, the deadline of its read, its call once made; then the stream lets go of them. */
class ClientStream {
  readonly stream: ServerHttp2Stream;
  hold: Hold | undefined;
  /** The message is still being read (no end, no refusal, no deadline yet). */
  reading = true;
  readDeadlineAt = 0;
  requestId = '';
  readTimer: NodeJS.Timeout | undefined;
  call: GrpcCall | undefined;

  constructor(stream: ServerHttp2Stream) {
    this.stream = stream;
  }

  /** At the end of the turn it was handled in: a message not read whole by then has until the call's deadline. */
  armReadDeadline(now: number): void {
    if (this.reading && !this.stream.destroyed) this.readTimer = setTimeout(onReadDeadline, Math.max(0, this.readDeadlineAt - now), this);
  }

  readDone(): void {
    this.reading = false;
    clearTimeout(this.readTimer);
  }

  closed(): void {
    this.hold?.leave();
    this.readDone();
    this.call?.clientClosed();
    release(this.stream);
  }
}

function onReadDeadline(client: ClientStream): void {
  if (!client.reading) return;
  client.reading = false;
  answer(client.stream, GRPC_STATUS.DEADLINE_EXCEEDED, 'Deadline Exceeded', client.requestId);
}

/** TF Serving's answers to a ModelSpec it cannot use, before any model lookup. */
function localAnswer(operation: Operation, spec: ModelSpec | undefined, taskModels: readonly string[]): { code: TfErrorCode; message: string } | undefined {
  if (spec === undefined) return { code: 'INVALID_ARGUMENT', message: operation === 'status' ? 'Missing ModelSpec' : 'ModelSpec has no name specified.' };
  if (spec.name === '') return { code: 'INVALID_ARGUMENT', message: 'ModelSpec has no name specified.' };
  if (taskModels.some((m) => m !== spec.name)) {
    return { code: 'INVALID_ARGUMENT', message: 'All ModelSpecs in a MultiInferenceRequest must access the same model name.' };
  }
  return undefined;
}

function unknownModel(operation: Operation, model: string, version: string | undefined, label: string | undefined): { code: TfErrorCode; message: string } {
  if (operation === 'status') return { code: 'NOT_FOUND', message: version === undefined ? noVersionsOfModel(model) : noSuchVersion(model, version) };
  if (label !== undefined) return { code: 'INVALID_ARGUMENT', message: unrecognizedLabel(label) };
  return { code: 'NOT_FOUND', message: version === undefined ? servableNotFoundLatest(model) : servableNotFoundSpecific(model, version) };
}

/** A status of the gateway's own, as TF Serving sends errors: Trailers-Only. */
function answer(stream: ServerHttp2Stream, code: number, message: string, requestId: string): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond(perCallUnindexed({ ...trailersOnlyHeaders(statusCodeName(code) ?? 'UNKNOWN', tfGrpcMessage(message)), 'x-request-id': requestId }), RESPOND_AND_END);
  if (stream.readableEnded) return;
  // Answered before the client ended its side (a message too large, a deadline, the gateway full):
  // RST_STREAM NO_ERROR after the answer tells it to stop sending (RFC 9113 section 8.1, as grpc
  // servers do). Otherwise the stream stayed open for as long as the client kept it so, its upload
  // read for nothing, holding one of the connection's streams and its admission hold (released on
  // 'close'): enough such streams would refuse every other call.
  stream.resume();
  stream.close(NGHTTP2_NO_ERROR);
}

/** A gRPC code as the HTTP status class REST would report it (for the shared stats). */
export function httpStatusOfGrpc(code: number): number {
  if (code === GRPC_STATUS.OK) return 200;
  const name = (Object.keys(GRPC_STATUS) as Array<keyof typeof GRPC_STATUS>).find((k) => GRPC_STATUS[k] === code);
  return name === undefined || name === 'OK' ? 500 : HTTP_STATUS_OF[name];
}
