/**
 * The gRPC port (--port of tensorflow_model_server) on node:http2, answering as TF Serving's grpc
 * C++ server does: requests checked as its HTTP server filter checks them (POST, `te: trailers`;
 * the content-type is not checked), unknown methods UNIMPLEMENTED with no message, unreadable
 * messages INTERNAL, every error as Trailers-Only (one HEADERS frame ending the stream, HTTP status
 * 200), a success as HEADERS, one DATA message and `grpc-status: 0` trailers. grpc-timeout is
 * enforced: an answer still pending at the deadline becomes DEADLINE_EXCEEDED.
 *
 * node:http2 rather than @grpc/grpc-js: grpc-js's server neither checks `te` nor lets a handler
 * reset one stream, and the simulator must do both.
 */
import http2, { type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { gunzipSync, inflateSync } from 'node:zlib';
import { GRPC_CONTENT_TYPE, MESSAGE_PREFIX_BYTES, RESPOND_AND_END, RESPOND_WITH_TRAILERS, frameMessage, parseGrpcTimeout, readMessages, tfGrpcMessage, trailersOnlyHeaders } from '../../../gateway/src/tfserving/grpc-wire.js';
import type { StatusCodeName } from '../../../gateway/src/tfserving/protos.js';
import type { Replica } from '../replica.js';
import { grpcMethods, type GrpcCall, type GrpcMethod } from './services.js';

/** HTTP/2 flow-control windows: Node's 64 KiB default makes large tensors crawl. */
const WINDOW_BYTES = 16 * 1024 * 1024;
/** The compressions grpc C++ accepts by default. */
const ACCEPT_ENCODING = 'identity,deflate,gzip';

export class GrpcPort {
  readonly server: http2.Http2Server | http2.Http2SecureServer;
  private readonly methods: ReadonlyMap<string, GrpcMethod>;
  private readonly sessions = new Set<ServerHttp2Session>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly replica: Replica,
    private readonly maxRequestBytes: number,
    tls?: { readonly cert: string; readonly key: string; readonly clientCa?: string },
  ) {
    this.methods = grpcMethods(replica);
    const settings = { initialWindowSize: WINDOW_BYTES };
    this.server =
      tls === undefined
        ? http2.createServer({ settings })
        : http2.createSecureServer({
            settings,
            cert: tls.cert,
            key: tls.key,
            ALPNProtocols: ['h2'],
            ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }),
          });
    this.server.on('session', (session: ServerHttp2Session) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
      session.on('error', () => undefined);
      session.once('connect', () => session.setLocalWindowSize(WINDOW_BYTES));
    });
    this.server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => this.onStream(stream, headers));
  }

  /** Ends every connection and pending delay, hung calls included. */
  destroyConnections(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const session of this.sessions) session.destroy();
    this.sessions.clear();
  }

  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    // HttpServerFilter: the method first, then te; the content-type is not looked at. A te other
    // than "trailers" never gets here: nghttp2 resets such a stream itself.
    let malformed: string | null = null;
    if (headers[':method'] !== 'POST') malformed = 'Bad method header';
    else if (headers['te'] !== 'trailers') malformed = 'Missing :te header';
    const method = malformed === null ? this.methods.get(headers[':path'] ?? '') : undefined;
    if (method === undefined) {
      this.replica.countRequest('grpc', 'other');
      this.fail(stream, malformed === null ? 'UNIMPLEMENTED' : 'UNKNOWN', Buffer.from(malformed ?? '', 'utf8'));
      return;
    }
    const timeoutMs = parseGrpcTimeout(headerValue(headers['grpc-timeout']));
    if (timeoutMs !== null) {
      const deadline = this.later(timeoutMs, () => this.fail(stream, 'DEADLINE_EXCEEDED', Buffer.from('Deadline Exceeded')));
      stream.once('close', () => {
        clearTimeout(deadline);
        this.timers.delete(deadline);
      });
    }
    // Read whole (unary), refusing a message longer than the limit as soon as its prefix says so.
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    let declared = -1;
    stream.on('data', (chunk: Buffer) => {
      if (refused) return;
      chunks.push(chunk);
      size += chunk.length;
      if (declared < 0 && size >= MESSAGE_PREFIX_BYTES) declared = Buffer.concat(chunks, size).readUInt32BE(1);
      if (declared > this.maxRequestBytes || size > this.maxRequestBytes + MESSAGE_PREFIX_BYTES) {
        refused = true;
        chunks.length = 0;
        this.replica.countRequest('grpc', method.operation);
        this.fail(stream, 'RESOURCE_EXHAUSTED', Buffer.from(`Received message larger than max (${Math.max(declared, size - MESSAGE_PREFIX_BYTES)} vs. ${this.maxRequestBytes})`));
      }
    });
    stream.once('end', () => {
      if (!refused) this.onRequest(stream, headers, method, Buffer.concat(chunks, size));
    });
  }

  private onRequest(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, method: GrpcMethod, body: Buffer): void {
    const call = this.decode(headers, method, body);
    this.replica.countRequest('grpc', method.operation, 'run' in call ? call.target : undefined);
    if (!('run' in call)) {
      this.fail(stream, call.code, call.message);
      return;
    }
    if (!this.replica.faultsApply(method.operation)) {
      this.answer(stream, call);
      return;
    }
    const plan = this.replica.planFaults();
    if (plan.kind === 'reset') {
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    // A hung call is read and never answered (but for its deadline); destroyConnections() ends it.
    if (plan.kind === 'hang') return;
    if (plan.delayMs > 0) this.later(plan.delayMs, () => this.answerAfterFaults(stream, call));
    else this.answerAfterFaults(stream, call);
  }

  /** The call, or the status grpc C++ answers a body it cannot read with. */
  private decode(headers: IncomingHttpHeaders, method: GrpcMethod, body: Buffer): GrpcCall | { code: StatusCodeName; message: Buffer } {
    const messages = readMessages(body);
    if (messages === null) return { code: 'INTERNAL', message: Buffer.from('tfserving-sim: the request ends inside a message') };
    const first = messages[0];
    if (first === undefined) return { code: 'INTERNAL', message: Buffer.from('No payload') };
    let payload = first.payload;
    if (first.compressed) {
      const encoding = headerValue(headers['grpc-encoding']) ?? 'identity';
      try {
        if (encoding === 'gzip') payload = gunzipSync(payload, { maxOutputLength: this.maxRequestBytes });
        else if (encoding === 'deflate') payload = inflateSync(payload, { maxOutputLength: this.maxRequestBytes });
        else return { code: 'INTERNAL', message: Buffer.from(`tfserving-sim: a compressed message with grpc-encoding ${encoding}`) };
      } catch {
        return { code: 'INTERNAL', message: Buffer.from(`tfserving-sim: the message does not inflate (${encoding})`) };
      }
    }
    try {
      return method.prepare(payload);
    } catch {
      // GenericDeserialize: INTERNAL with the (empty, for proto3) InitializationErrorString.
      return { code: 'INTERNAL', message: Buffer.alloc(0) };
    }
  }

  private answerAfterFaults(stream: ServerHttp2Stream, call: GrpcCall): void {
    const injected = this.replica.injectedError();
    if (injected !== null) this.fail(stream, injected.code, tfGrpcMessage(injected.message));
    else this.answer(stream, call);
  }

  private answer(stream: ServerHttp2Stream, call: GrpcCall): void {
    let result: ReturnType<GrpcCall['run']>;
    try {
      result = call.run();
    } catch (e) {
      result = { ok: false, error: { code: 'INTERNAL', message: `tfserving-sim internal error: ${(e as Error).message}` } };
    }
    if (!result.ok) {
      this.fail(stream, result.error.code, tfGrpcMessage(result.error.message));
      return;
    }
    if (stream.destroyed || stream.headersSent) return;
    this.replica.countGrpcStatus('OK');
    stream.respond({ ':status': 200, 'content-type': GRPC_CONTENT_TYPE, 'grpc-accept-encoding': ACCEPT_ENCODING }, RESPOND_WITH_TRAILERS);
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(frameMessage(result.value));
  }

  /**
   * A Trailers-Only answer; what is left of the request is read and dropped. No Date header: grpc
   * C++ sends none. A message ending in a space goes out as is, as grpc C++ sends it (its
   * percent-encoding leaves spaces alone), although nghttp2-based clients refuse such a header.
   */
  private fail(stream: ServerHttp2Stream, code: StatusCodeName, message: Uint8Array): void {
    if (stream.destroyed || stream.headersSent) return;
    this.replica.countGrpcStatus(code);
    stream.respond(trailersOnlyHeaders(code, message), RESPOND_AND_END);
    stream.resume();
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
