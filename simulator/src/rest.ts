/**
 * The REST port (--rest_api_port): TF Serving's answers and error texts on every point of its REST
 * contract, libevent's edge cases, the faults of the shared Replica, and the control endpoint under
 * /_sim/ (outside /v1, where a real replica only has its 404 page).
 *
 * Built on node:http with no per-request logging or validation libraries: it is also the
 * benchmark backend.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { HTTP_STATUS_OF, JSON_CONTENT_TYPE, errorBody } from '../../gateway/src/tfserving/errors.js';
import { formatError, inflateTfBody, parseRequestJson, readExampleInput } from '../../gateway/src/tfserving/json-body.js';
import { isV1Path, parseTfPath, type TfTarget } from '../../gateway/src/tfserving/path.js';
import { ALLOWED_METHODS, DEFAULT_CONTENT_TYPE, libeventPathAndQuery, rawLibeventPage, reasonPhrase, sendLibeventPage } from '../../gateway/src/tfserving/libevent.js';
import { PatchError, type SettingsPatch } from './control.js';
import type { Result, TfError } from './model.js';
import { protoJson } from './protojson.js';
import type { Replica } from './replica.js';
import { classificationJson, columnarFormatJson, regressionJson, rowFormatJson, tensorsFromInputs, tensorsFromInstances, type JsonOutcome } from './tensors.js';

// libevent's default read/write timeout: idle keep-alive connections are closed after it.
const IDLE_TIMEOUT_MS = 50_000;
const EMPTY = Buffer.alloc(0);
const ORIGIN_RE = /https?:\/\//;

export interface RestPortOptions {
  /** --rest_api_enable_cors_support: CORS headers on every /v1 answer. */
  readonly cors: boolean;
  /** Serve /_sim/control and /_sim/counters. */
  readonly control: boolean;
  /** A longer body is not read: the connection is destroyed. */
  readonly maxRequestBytes: number;
  /** HTTPS with these PEM texts (and client certificates required with clientCa). */
  readonly tls: { readonly cert: string; readonly key: string; readonly clientCa?: string } | undefined;
}

export class RestPort {
  readonly server: http.Server | https.Server;
  private readonly sockets = new Set<Socket>();
  private readonly inFlight = new Map<Socket, number>();
  private readonly pendingPages = new Map<Socket, string>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly replica: Replica,
    private readonly options: RestPortOptions,
  ) {
    const tls = options.tls;
    this.server =
      tls === undefined
        ? http.createServer({ requestTimeout: 0 })
        : https.createServer({
            requestTimeout: 0,
            cert: tls.cert,
            key: tls.key,
            ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }),
          });
    // No "Keep-Alive: timeout=N" header, as libevent sends none; idle sockets are closed below.
    this.server.keepAliveTimeout = 0;
    // Requests arrive on the TLS socket, not on the TCP one under it; destroyConnections ends both.
    this.server.on(tls === undefined ? 'connection' : 'secureConnection', (socket: Socket) => this.onConnection(socket));
    if (tls !== undefined) this.server.on('connection', (socket: Socket) => this.track(socket));
    this.server.on('timeout', (socket: Socket) => {
      if ((this.inFlight.get(socket) ?? 0) === 0) socket.destroy();
    });
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res));
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
      if (error.code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      // libevent answers an unknown method with 501 and anything else it cannot parse with 400,
      // after the answers to the requests it parsed before on that connection.
      const page = rawLibeventPage(error.code === 'HPE_INVALID_METHOD' ? 501 : 400);
      if ((this.inFlight.get(socket) ?? 0) > 0) this.pendingPages.set(socket, page);
      else socket.end(page);
    });
    this.server.on('connect', (_req: IncomingMessage, socket: Socket) => {
      this.replica.countRequest('rest', 'other');
      socket.end(rawLibeventPage(501));
    });
  }

  /** Ends every connection and pending delay, hung requests and idle keep-alive ones included. */
  destroyConnections(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  // -------------------------------------------------------------------------------------------
  // Connections

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  private onConnection(socket: Socket): void {
    this.sockets.add(socket);
    this.inFlight.set(socket, 0);
    socket.setTimeout(IDLE_TIMEOUT_MS);
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.inFlight.delete(socket);
      this.pendingPages.delete(socket);
    });
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    if (this.options.control && url.startsWith('/_sim/')) {
      this.onControl(req, res, url);
      return;
    }
    const socket = req.socket;
    this.inFlight.set(socket, (this.inFlight.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const n = this.inFlight.get(socket);
      if (n === undefined) return;
      this.inFlight.set(socket, n - 1);
      const page = this.pendingPages.get(socket);
      if (n === 1 && page !== undefined) {
        this.pendingPages.delete(socket);
        socket.end(page);
      }
    });
    const method = req.method ?? 'GET';
    if (!ALLOWED_METHODS.has(method)) {
      this.replica.countRequest('rest', 'other');
      this.page(res, 501);
      return;
    }
    const path = libeventPathAndQuery(url);
    if (path === null) {
      this.replica.countRequest('rest', 'other');
      this.page(res, 400);
      return;
    }
    if (!isV1Path(path)) {
      this.replica.countRequest('rest', 'other');
      this.page(res, 404);
      return;
    }
    readBody(req, this.options.maxRequestBytes, (body) => {
      const encoding = req.headersDistinct['content-encoding'];
      if (encoding === undefined) {
        this.onApiRequest(req, res, method, path, body);
        return;
      }
      void inflateTfBody(body, encoding).then((inflated) => this.onApiRequest(req, res, method, path, Buffer.from(inflated.buffer, inflated.byteOffset, inflated.length)));
    });
  }

  private page(res: ServerResponse, status: 400 | 404 | 501): void {
    this.replica.countHttpStatus(status);
    sendLibeventPage(res, status);
  }

  private onApiRequest(req: IncomingMessage, res: ServerResponse, method: string, path: string, body: Buffer): void {
    if (method === 'OPTIONS') {
      // CORS preflight (http_server.cc): no body, no Content-Type of TF's own.
      this.replica.countRequest('rest', 'other');
      // evhttp_find_header: the first Origin header, not Node's comma-joined list.
      const origin = req.headersDistinct['origin']?.[0] ?? '';
      this.sendRaw(res, ORIGIN_RE.test(origin) ? 200 : 400, null, EMPTY);
      return;
    }
    const parsed = parseTfPath(method, path);
    if (!parsed.ok) {
      this.replica.countRequest('rest', 'other');
      this.sendError(res, { code: 'INVALID_ARGUMENT', message: parsed.error.message });
      return;
    }
    const target = parsed.target;
    this.replica.countRequest('rest', target.operation, target);
    if (!this.replica.faultsApply(target.operation)) {
      this.serve(res, target, body);
      return;
    }
    const plan = this.replica.planFaults();
    if (plan.kind === 'reset') {
      // A reset is the TCP socket's: under TLS, the one the TLS socket wraps (`_parent`,
      // undocumented but stable); a TLS socket itself refuses resetAndDestroy.
      const tcp = req.socket instanceof TLSSocket ? (req.socket as TLSSocket & { _parent?: Socket })._parent : req.socket;
      if (tcp === undefined) req.socket.destroy();
      else tcp.resetAndDestroy();
      return;
    }
    // A hung request is read and never answered; destroyConnections() ends it.
    if (plan.kind === 'hang') return;
    if (plan.delayMs > 0) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.answerAfterFaults(res, target, body);
      }, plan.delayMs);
      this.timers.add(timer);
      return;
    }
    this.answerAfterFaults(res, target, body);
  }

  private answerAfterFaults(res: ServerResponse, target: TfTarget, body: Buffer): void {
    const injected = this.replica.injectedError();
    if (injected !== null) {
      this.sendJson(res, injected.httpStatus, errorBody(injected.message));
      return;
    }
    this.serve(res, target, body);
  }

  // -------------------------------------------------------------------------------------------
  // TF Serving's REST API

  private serve(res: ServerResponse, target: TfTarget, body: Buffer): void {
    try {
      this.serveUnguarded(res, target, body);
    } catch (e) {
      // e.g. a stack overflow on an absurdly nested body: answer, never take the replica down.
      this.sendError(res, { code: 'INTERNAL', message: `tfserving-sim internal error: ${(e as Error).message}` });
    }
  }

  private serveUnguarded(res: ServerResponse, target: TfTarget, body: Buffer): void {
    switch (target.operation) {
      case 'status':
        this.reply(res, this.status(target));
        return;
      case 'metadata': {
        const version = this.replica.resolve(target);
        this.reply(res, version.ok ? { ok: true, value: this.replica.modelOf(version.value).metadataJson(this.replica.modelName, version.value) } : version);
        return;
      }
      default:
        this.reply(res, this.infer(target, body));
    }
  }

  private reply(res: ServerResponse, result: Result<string>): void {
    if (result.ok) this.sendJson(res, 200, result.value);
    else this.sendError(res, result.error);
  }

  private status(target: TfTarget): Result<string> {
    const statuses = this.replica.versionStatuses(target.model, target.version);
    if (!statuses.ok) return statuses;
    const list = statuses.value.map(([version, s]) => ({ version, state: s.state, status: { error_code: s.errorCode, error_message: s.errorMessage } }));
    return { ok: true, value: protoJson({ model_version_status: list }) };
  }

  /** HttpRestApiHandler::Process{Predict,Classify,Regress}Request: JSON first, then the servable. */
  private infer(target: TfTarget, body: Buffer): Result<string> {
    const parsed = parseRequestJson(body);
    if (!parsed.ok) return fail('INVALID_ARGUMENT', parsed.message);
    const { doc, signatureName } = parsed.request;
    if (target.operation === 'predict') {
      const version = this.replica.resolve(target);
      if (!version.ok) return version;
      const model = this.replica.modelOf(version.value);
      const inputs = model.predictInputs(signatureName);
      if (!inputs.ok) return inputs;
      let tensors: ReturnType<typeof tensorsFromInputs>;
      let columnar: boolean;
      if (doc.has('instances')) {
        if (doc.has('inputs')) {
          return fail('INVALID_ARGUMENT', formatError(doc, 'Not formatted correctly expecting only', " one of 'inputs' or 'instances' keys to exist "));
        }
        const instances = doc.get('instances');
        if (!Array.isArray(instances)) return fail('INVALID_ARGUMENT', formatError(doc, "Expecting 'instances' to be an list/array"));
        if (instances.length === 0) return fail('INVALID_ARGUMENT', formatError(doc, "No values in 'instances' array"));
        tensors = tensorsFromInstances(instances, inputs.value);
        columnar = false;
      } else if (doc.has('inputs')) {
        tensors = tensorsFromInputs(doc.get('inputs') ?? null, inputs.value);
        columnar = true;
      } else {
        return fail('INVALID_ARGUMENT', "Missing 'inputs' or 'instances' key");
      }
      if (!tensors.ok) return fail('INVALID_ARGUMENT', tensors.message);
      const outputs = model.predict(signatureName, tensors.tensors);
      if (!outputs.ok) return outputs;
      return fromJson(columnar ? columnarFormatJson(outputs.value) : rowFormatJson(outputs.value));
    }
    const examples = readExampleInput(doc);
    if (!examples.ok) return fail('INVALID_ARGUMENT', examples.message);
    const version = this.replica.resolve(target);
    if (!version.ok) return version;
    const model = this.replica.modelOf(version.value);
    if (target.operation === 'regress') {
      const values = model.regress(signatureName, examples.input);
      return values.ok ? fromJson(regressionJson(values.value)) : values;
    }
    const classes = model.classify(signatureName, examples.input);
    return classes.ok ? fromJson(classificationJson(classes.value)) : classes;
  }

  // -------------------------------------------------------------------------------------------
  // Writing answers

  private sendError(res: ServerResponse, error: TfError): void {
    this.sendJson(res, HTTP_STATUS_OF[error.code], errorBody(error.message));
  }

  private sendJson(res: ServerResponse, status: number, body: string): void {
    this.sendRaw(res, status, JSON_CONTENT_TYPE, Buffer.from(body, 'utf8'));
  }

  private sendRaw(res: ServerResponse, status: number, contentType: string | null, body: Buffer): void {
    if (res.writableEnded || res.destroyed) return;
    this.replica.countHttpStatus(status);
    const headers: Record<string, string | number> = {};
    // libevent adds its default content type to any answer that has none, empty ones included.
    headers['Content-Type'] = contentType ?? DEFAULT_CONTENT_TYPE;
    if (this.options.cors) {
      headers['Access-Control-Allow-Origin'] = '*';
      headers['Access-Control-Allow-Methods'] = 'POST, GET';
      headers['Access-Control-Allow-Headers'] = 'Content-Type';
    }
    headers['Content-Length'] = body.length;
    res.writeHead(status, reasonPhrase(status), headers);
    res.end(body);
  }

  // -------------------------------------------------------------------------------------------
  // Control endpoint

  private onControl(req: IncomingMessage, res: ServerResponse, url: string): void {
    const path = url.split('?')[0];
    const method = req.method ?? 'GET';
    const send = (status: number, value: unknown, extra: Record<string, string> = {}): void => {
      const body = JSON.stringify(value, null, 2) + '\n';
      res.writeHead(status, { 'Content-Type': JSON_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(body), ...extra });
      res.end(body);
    };
    if (path === '/_sim/control') {
      if (method === 'GET') {
        send(200, this.replica.settings());
        return;
      }
      if (method === 'PUT' || method === 'PATCH') {
        readBody(req, this.options.maxRequestBytes, (body) => {
          let input: unknown;
          try {
            input = JSON.parse(body.toString('utf8'));
          } catch (e) {
            send(400, { error: `invalid JSON: ${(e as Error).message}` });
            return;
          }
          try {
            send(200, this.replica.update(input as SettingsPatch));
          } catch (e) {
            if (e instanceof PatchError) send(400, { error: e.message });
            else throw e;
          }
        });
        return;
      }
      send(405, { error: `method ${method} not allowed on ${path}` }, { Allow: 'GET, PUT, PATCH' });
      return;
    }
    if (path === '/_sim/counters') {
      if (method === 'GET') {
        send(200, this.replica.counters());
        return;
      }
      if (method === 'DELETE') {
        send(200, this.replica.resetCounters());
        return;
      }
      send(405, { error: `method ${method} not allowed on ${path}` }, { Allow: 'GET, DELETE' });
      return;
    }
    send(404, { error: `unknown control endpoint ${path ?? ''} (known: /_sim/control, /_sim/counters)` });
  }
}

function fail(code: TfError['code'], message: string): { ok: false; error: TfError } {
  return { ok: false, error: { code, message } };
}

function fromJson(out: JsonOutcome): Result<string> {
  return out.ok ? { ok: true, value: out.json } : fail('INVALID_ARGUMENT', out.message);
}

function readBody(req: IncomingMessage, maxBytes: number, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > maxBytes) {
      req.socket.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (size > maxBytes) return;
    done(chunks.length === 0 ? EMPTY : chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
  });
  req.on('error', () => undefined);
}
