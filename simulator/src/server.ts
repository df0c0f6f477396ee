/**
 * A TensorFlow Serving REST replica in one process: the half_plus_two / half_plus_three reference
 * models under any name and version numbers, TF's answers and error texts on every point of its
 * REST contract (simulator/README.md lists where it differs), and fault injection (errors, latency, hangs, resets, version
 * states, a closed port while "loading") for the gateway's tests, demo and benchmark.
 *
 * Built on node:http with no per-request logging or validation libraries: it is also the
 * benchmark backend. Control endpoints live outside /v1 (under /_sim/), where a real replica only
 * has its 404 page.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import net, { type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import {
  HTTP_STATUS_OF,
  JSON_CONTENT_TYPE,
  errorBody,
  noSuchVersion,
  noVersionsOfModel,
  servableNotFoundLatest,
  servableNotFoundSpecific,
  unrecognizedLabel,
} from '../../gateway/src/tfserving/errors.js';
import { formatError, inflateTfBody, parseRequestJson, readExampleInput } from '../../gateway/src/tfserving/json-body.js';
import { isV1Path, parseTfPath, type TfOperation, type TfTarget } from '../../gateway/src/tfserving/path.js';
import {
  DEFAULT_FAULTS,
  PatchError,
  canonicalVersion,
  codeForStatus,
  defaultFaultMessage,
  validatePatch,
  type FaultSettings,
  type SettingsPatch,
  type SimulatorSettings,
  type ValidPatch,
  type VersionSpec,
  type VersionStatus,
} from './control.js';
import { ALLOWED_METHODS, DEFAULT_CONTENT_TYPE, libeventPathAndQuery, rawLibeventPage, reasonPhrase, sendLibeventPage } from '../../gateway/src/tfserving/libevent.js';
import { BEHAVIOURS, Model, type Behaviour, type Result, type TfError } from './model.js';
import { classificationJson, columnarFormatJson, regressionJson, rowFormatJson, tensorsFromInputs, tensorsFromInstances, type JsonOutcome } from './tensors.js';
import { protoJson } from './protojson.js';

export type { Behaviour } from './model.js';
export type {
  FaultScope,
  FaultSettings,
  SettingsPatch,
  SimulatorSettings,
  StatusCode,
  VersionSpec,
  VersionState,
  VersionStatus,
} from './control.js';
export { BEHAVIOURS } from './model.js';
export { DEFAULT_FAULTS, ERROR_STATUSES, VERSION_STATES, PatchError } from './control.js';

export interface SimulatorOptions {
  /** Interface to bind; default 127.0.0.1. */
  readonly host?: string;
  /** Port; 0 (the default) picks a free one. */
  readonly port?: number;
  /** Model name served; default "half_plus_two". */
  readonly model?: string;
  /** Version numbers served; default [1]. */
  readonly versions?: ReadonlyArray<number | string>;
  /** What every version computes; default "half_plus_two". */
  readonly behaviour?: Behaviour;
  /** Initial state per version (default AVAILABLE). */
  readonly versionStates?: Readonly<Record<string, VersionSpec>>;
  /** Version labels (label -> version), as a model config's version_labels. */
  readonly labels?: Readonly<Record<string, number | string>>;
  /** Initial faults. */
  readonly faults?: Partial<FaultSettings>;
  /** The port stays closed this long after start (TF opens it once the models are AVAILABLE). */
  readonly loadDelayMs?: number;
  /** --rest_api_enable_cors_support: CORS headers on every /v1 answer. Default false, as TF. */
  readonly cors?: boolean;
  /** Serve /_sim/control and /_sim/counters. Default true. */
  readonly controlEndpoint?: boolean;
  /** Source of randomness for the fault rates (tests can make it deterministic). Default Math.random. */
  readonly random?: () => number;
  /** HTTPS instead of HTTP, as TF Serving behind a TLS sidecar or mesh; PEM texts. */
  readonly tls?: SimulatorTls;
}

export interface SimulatorTls {
  /** The replica's certificate (then any intermediates). */
  readonly cert: string;
  readonly key: string;
  /** With it, clients must present a certificate chaining to one of these (mutual TLS). */
  readonly clientCa?: string;
}

export type CountedOperation = TfOperation | 'other';

export interface SimulatorCounters {
  /** Requests received on the TF port (the control endpoint excluded). */
  readonly total: number;
  /** By REST API; 'other' is malformed paths, non-/v1 paths, disallowed methods, OPTIONS. */
  readonly byOperation: Readonly<Record<CountedOperation, number>>;
  /** Inference and metadata requests by the version they target (explicit, via label, or latest AVAILABLE). */
  readonly byVersion: Readonly<Record<string, number>>;
  /** Answers by HTTP status (resets and hangs have none). */
  readonly byStatus: Readonly<Record<string, number>>;
  readonly faults: { readonly errors: number; readonly resets: number; readonly hangs: number; readonly delayed: number };
}

export interface SimulatorHandle {
  readonly host: string;
  /** The port, known even while a load delay keeps it closed. */
  readonly port: number;
  /** http://host:port */
  readonly url: string;
  readonly model: string;
  readonly behaviour: Behaviour;
  /** Resolves once the port accepts connections (immediately settled without a load delay). */
  readonly listening: Promise<void>;
  isListening(): boolean;
  settings(): SimulatorSettings;
  /** Applies a patch as PUT /_sim/control does; throws PatchError on invalid input, changing nothing. */
  update(patch: SettingsPatch): SimulatorSettings;
  /** Merges into the current faults. */
  setFaults(faults: Partial<FaultSettings>): SimulatorSettings;
  /** Back to no faults. */
  clearFaults(): SimulatorSettings;
  /** Sets (or adds) a version's state. */
  setVersionState(version: number | string, state: VersionSpec): SimulatorSettings;
  /** Forgets a version entirely (TF itself keeps unloaded versions as END). */
  removeVersion(version: number | string): SimulatorSettings;
  setLabel(label: string, version: number | string | null): SimulatorSettings;
  counters(): SimulatorCounters;
  resetCounters(): void;
  /** Stops listening and destroys every connection, including idle keep-alive ones and hung requests. */
  close(): Promise<void>;
}

/** Starts a replica. Resolves once listening, or, with a load delay, as soon as the port is chosen. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<SimulatorHandle> {
  const sim = new Simulator(options);
  await sim.start();
  return sim.handle;
}

// libevent's default read/write timeout: idle keep-alive connections are closed after it.
const IDLE_TIMEOUT_MS = 50_000;
const MAX_BODY_BYTES = 256 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);
const ORIGIN_RE = /https?:\/\//;

type MutableCounters = {
  total: number;
  byOperation: Record<CountedOperation, number>;
  byVersion: Record<string, number>;
  byStatus: Record<string, number>;
  faults: { errors: number; resets: number; hangs: number; delayed: number };
};

function zeroCounters(): MutableCounters {
  return {
    total: 0,
    byOperation: { status: 0, metadata: 0, predict: 0, classify: 0, regress: 0, other: 0 },
    byVersion: {},
    byStatus: {},
    faults: { errors: 0, resets: 0, hangs: 0, delayed: 0 },
  };
}

function compareVersions(a: string, b: string): number {
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
}

class Simulator {
  readonly handle: SimulatorHandle;
  private readonly host: string;
  private port: number;
  private readonly modelName: string;
  private readonly behaviour: Behaviour;
  private readonly model: Model;
  private readonly versions = new Map<string, VersionStatus>();
  private readonly labels = new Map<string, string>();
  private faults: FaultSettings = DEFAULT_FAULTS;
  private counters: MutableCounters = zeroCounters();
  private readonly cors: boolean;
  private readonly control: boolean;
  private readonly random: () => number;
  private readonly loadDelayMs: number;
  private readonly server: http.Server;
  private readonly tls: boolean;
  private readonly sockets = new Set<Socket>();
  private readonly inFlight = new Map<Socket, number>();
  private readonly pendingPages = new Map<Socket, string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private listening = false;
  private closed = false;
  private loadTimer: NodeJS.Timeout | null = null;
  private listeningPromise: Promise<void> = Promise.resolve();
  private rejectListening: ((e: Error) => void) | null = null;

  constructor(options: SimulatorOptions) {
    this.host = options.host ?? '127.0.0.1';
    this.port = options.port ?? 0;
    if (!Number.isInteger(this.port) || this.port < 0 || this.port > 65535) throw new RangeError(`invalid port ${String(options.port)}`);
    this.modelName = options.model ?? 'half_plus_two';
    if (this.modelName === '') throw new RangeError('the model name must not be empty');
    this.behaviour = options.behaviour ?? 'half_plus_two';
    if (!BEHAVIOURS.includes(this.behaviour)) throw new RangeError(`unknown behaviour ${String(options.behaviour)} (known: ${BEHAVIOURS.join(', ')})`);
    this.model = new Model(this.behaviour);
    this.cors = options.cors ?? false;
    this.control = options.controlEndpoint ?? true;
    this.random = options.random ?? Math.random;
    this.loadDelayMs = options.loadDelayMs ?? 0;
    if (!Number.isFinite(this.loadDelayMs) || this.loadDelayMs < 0) throw new RangeError('loadDelayMs must be >= 0');

    for (const v of options.versions ?? [1]) {
      this.versions.set(canonicalVersion(v, 'version'), { state: 'AVAILABLE', errorCode: 'OK', errorMessage: '' });
    }
    if (this.versions.size === 0) throw new RangeError('at least one version is needed');
    const initial: { versions: Record<string, VersionSpec>; labels: Record<string, number | string>; faults: Partial<FaultSettings> } = {
      versions: { ...(options.versionStates ?? {}) },
      labels: { ...(options.labels ?? {}) },
      faults: { ...(options.faults ?? {}) },
    };
    this.apply(validatePatch(initial));

    const tls = options.tls;
    this.tls = tls !== undefined;
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
    // Requests arrive on the TLS socket, not on the TCP one under it; close() destroys both.
    this.server.on(this.tls ? 'secureConnection' : 'connection', (socket: Socket) => this.onConnection(socket));
    if (this.tls) this.server.on('connection', (socket: Socket) => this.track(socket));
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
      this.counters.total++;
      this.counters.byOperation.other++;
      socket.end(rawLibeventPage(501));
    });

    const sim = this;
    this.handle = {
      host: this.host,
      get port() {
        return sim.port;
      },
      get url() {
        return sim.url();
      },
      model: this.modelName,
      behaviour: this.behaviour,
      get listening() {
        return sim.listeningPromise;
      },
      isListening: () => this.listening,
      settings: () => this.settings(),
      update: (patch) => this.update(patch),
      setFaults: (faults) => this.update({ faults }),
      clearFaults: () => {
        this.faults = DEFAULT_FAULTS;
        return this.settings();
      },
      setVersionState: (version, state) => this.update({ versions: { [canonicalVersion(version, 'version')]: state } }),
      removeVersion: (version) => this.update({ versions: { [canonicalVersion(version, 'version')]: null } }),
      setLabel: (label, version) => this.update({ labels: { [label]: version } }),
      counters: () => this.snapshotCounters(),
      resetCounters: () => {
        this.counters = zeroCounters();
      },
      close: () => this.close(),
    };
  }

  private url(): string {
    const host = net.isIPv6(this.host) ? `[${this.host}]` : this.host;
    return `${this.tls ? 'https' : 'http'}://${host}:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.loadDelayMs === 0) {
      await this.listen(this.port);
      return;
    }
    if (this.port === 0) this.port = await reservePort(this.host);
    this.listeningPromise = new Promise<void>((resolve, reject) => {
      this.rejectListening = reject;
      this.loadTimer = setTimeout(() => {
        this.loadTimer = null;
        this.rejectListening = null;
        this.listen(this.port).then(resolve, reject);
      }, this.loadDelayMs);
    });
    // The caller may never await it; a failure must not become an unhandled rejection.
    this.listeningPromise.catch(() => undefined);
  }

  private listen(port: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onError = (e: Error): void => reject(e);
      this.server.once('error', onError);
      this.server.listen({ host: this.host, port }, () => {
        this.server.off('error', onError);
        if (this.closed) {
          // close() ran while the port was being opened: a closed replica stays closed.
          this.server.close();
          reject(new Error('simulator closed before it started listening'));
          return;
        }
        const address = this.server.address();
        if (address !== null && typeof address === 'object') this.port = address.port;
        this.listening = true;
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.loadTimer !== null) {
      clearTimeout(this.loadTimer);
      this.loadTimer = null;
      this.rejectListening?.(new Error('simulator closed before it started listening'));
    }
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const closed = this.listening ? new Promise<void>((resolve) => this.server.close(() => resolve())) : Promise.resolve();
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    this.listening = false;
    await closed;
  }

  // -------------------------------------------------------------------------------------------
  // Settings

  private settings(): SimulatorSettings {
    const versions: Record<string, VersionStatus> = {};
    for (const v of [...this.versions.keys()].sort(compareVersions)) versions[v] = this.versions.get(v) as VersionStatus;
    return {
      model: this.modelName,
      behaviour: this.behaviour,
      versions,
      labels: Object.fromEntries(this.labels),
      faults: this.faults,
    };
  }

  private update(patch: SettingsPatch): SimulatorSettings {
    this.apply(validatePatch(patch));
    return this.settings();
  }

  private apply(patch: ValidPatch): void {
    this.faults = { ...this.faults, ...patch.faults };
    for (const [version, status] of patch.versions) {
      if (status === null) this.versions.delete(version);
      else this.versions.set(version, status);
    }
    for (const [label, version] of patch.labels) {
      if (version === null) this.labels.delete(label);
      else this.labels.set(label, version);
    }
  }

  private snapshotCounters(): SimulatorCounters {
    const c = this.counters;
    return {
      total: c.total,
      byOperation: { ...c.byOperation },
      byVersion: { ...c.byVersion },
      byStatus: { ...c.byStatus },
      faults: { ...c.faults },
    };
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
    if (this.control && url.startsWith('/_sim/')) {
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
    this.counters.total++;
    const method = req.method ?? 'GET';
    if (!ALLOWED_METHODS.has(method)) {
      this.counters.byOperation.other++;
      this.page(res, 501);
      return;
    }
    const path = libeventPathAndQuery(url);
    if (path === null) {
      this.counters.byOperation.other++;
      this.page(res, 400);
      return;
    }
    if (!isV1Path(path)) {
      this.counters.byOperation.other++;
      this.page(res, 404);
      return;
    }
    readBody(req, (body) => {
      const encoding = req.headersDistinct['content-encoding'];
      if (encoding === undefined) {
        this.onApiRequest(req, res, method, path, body);
        return;
      }
      void inflateTfBody(body, encoding).then((inflated) => this.onApiRequest(req, res, method, path, Buffer.from(inflated.buffer, inflated.byteOffset, inflated.length)));
    });
  }

  private page(res: ServerResponse, status: 400 | 404 | 501): void {
    this.count(status);
    sendLibeventPage(res, status);
  }

  private onApiRequest(req: IncomingMessage, res: ServerResponse, method: string, path: string, body: Buffer): void {
    if (method === 'OPTIONS') {
      // CORS preflight (http_server.cc): no body, no Content-Type of TF's own.
      this.counters.byOperation.other++;
      // evhttp_find_header: the first Origin header, not Node's comma-joined list.
      const origin = req.headersDistinct['origin']?.[0] ?? '';
      this.sendRaw(res, ORIGIN_RE.test(origin) ? 200 : 400, null, EMPTY);
      return;
    }
    const parsed = parseTfPath(method, path);
    if (!parsed.ok) {
      this.counters.byOperation.other++;
      this.sendError(res, { code: 'INVALID_ARGUMENT', message: parsed.error.message });
      return;
    }
    const target = parsed.target;
    this.counters.byOperation[target.operation]++;
    if (target.operation !== 'status') {
      const version = this.attributedVersion(target);
      if (version !== undefined) this.counters.byVersion[version] = (this.counters.byVersion[version] ?? 0) + 1;
    }
    const faults = this.faults;
    if (target.operation === 'status' && faults.scope !== 'all') {
      this.serve(res, target, body);
      return;
    }
    if (faults.resetRate > 0 && this.random() < faults.resetRate) {
      this.counters.faults.resets++;
      // A reset is the TCP socket's: under TLS, the one the TLS socket wraps (`_parent`,
      // undocumented but stable); a TLS socket itself refuses resetAndDestroy.
      const tcp = req.socket instanceof TLSSocket ? (req.socket as TLSSocket & { _parent?: Socket })._parent : req.socket;
      if (tcp === undefined) req.socket.destroy();
      else tcp.resetAndDestroy();
      return;
    }
    if (faults.hang) {
      // Read and never answered; close() destroys the socket.
      this.counters.faults.hangs++;
      return;
    }
    const delay = faults.latencyMs + (faults.jitterMs > 0 ? this.random() * faults.jitterMs : 0);
    if (delay > 0) {
      this.counters.faults.delayed++;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.answerAfterFaults(res, target, body);
      }, delay);
      this.timers.add(timer);
      return;
    }
    this.answerAfterFaults(res, target, body);
  }

  private answerAfterFaults(res: ServerResponse, target: TfTarget, body: Buffer): void {
    const faults = this.faults;
    if (faults.errorRate > 0 && this.random() < faults.errorRate) {
      this.counters.faults.errors++;
      const status = faults.errorStatus;
      this.sendJson(res, status, errorBody(faults.errorMessage ?? defaultFaultMessage(status)));
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
        const version = this.resolve(target);
        this.reply(res, version.ok ? { ok: true, value: this.model.metadataJson(this.modelName, version.value) } : version);
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

  /** GetModelStatusImpl: a label is ignored, only an explicit version narrows the answer. */
  private status(target: TfTarget): Result<string> {
    const known = target.model === this.modelName;
    let versions: string[];
    if (target.version !== undefined) {
      if (!known || !this.versions.has(target.version)) return fail('NOT_FOUND', noSuchVersion(target.model, target.version));
      versions = [target.version];
    } else {
      if (!known || this.versions.size === 0) return fail('NOT_FOUND', noVersionsOfModel(target.model));
      versions = [...this.versions.keys()].sort((a, b) => compareVersions(b, a));
    }
    const list = versions.map((v) => {
      const s = this.versions.get(v) as VersionStatus;
      return { version: v, state: s.state, status: { error_code: s.errorCode, error_message: s.errorMessage } };
    });
    return { ok: true, value: protoJson({ model_version_status: list }) };
  }

  private latestAvailable(): string | undefined {
    let best: string | undefined;
    for (const [v, s] of this.versions) {
      if (s.state === 'AVAILABLE' && (best === undefined || compareVersions(v, best) > 0)) best = v;
    }
    return best;
  }

  /** ServerCore::GetServableHandle: label -> version, then only AVAILABLE versions are served. */
  private resolve(target: TfTarget): Result<string> {
    if (target.label !== undefined) {
      const v = target.model === this.modelName ? this.labels.get(target.label) : undefined;
      if (v === undefined) return fail('INVALID_ARGUMENT', unrecognizedLabel(target.label));
      return this.specific(target.model, v);
    }
    if (target.version !== undefined) return this.specific(target.model, target.version);
    const latest = target.model === this.modelName ? this.latestAvailable() : undefined;
    if (latest === undefined) return fail('NOT_FOUND', servableNotFoundLatest(target.model));
    return { ok: true, value: latest };
  }

  private specific(model: string, version: string): Result<string> {
    if (model !== this.modelName || this.versions.get(version)?.state !== 'AVAILABLE') {
      return fail('NOT_FOUND', servableNotFoundSpecific(model, version));
    }
    return { ok: true, value: version };
  }

  private attributedVersion(target: TfTarget): string | undefined {
    if (target.model !== this.modelName) return undefined;
    if (target.label !== undefined) return this.labels.get(target.label);
    if (target.version !== undefined) return this.versions.has(target.version) ? target.version : undefined;
    return this.latestAvailable();
  }

  /** HttpRestApiHandler::Process{Predict,Classify,Regress}Request: JSON first, then the servable. */
  private infer(target: TfTarget, body: Buffer): Result<string> {
    const parsed = parseRequestJson(body);
    if (!parsed.ok) return fail('INVALID_ARGUMENT', parsed.message);
    const { doc, signatureName } = parsed.request;
    if (target.operation === 'predict') {
      const version = this.resolve(target);
      if (!version.ok) return version;
      const inputs = this.model.predictInputs(signatureName);
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
      const outputs = this.model.predict(signatureName, tensors.tensors);
      if (!outputs.ok) return outputs;
      return fromJson(columnar ? columnarFormatJson(outputs.value) : rowFormatJson(outputs.value));
    }
    const examples = readExampleInput(doc);
    if (!examples.ok) return fail('INVALID_ARGUMENT', examples.message);
    const version = this.resolve(target);
    if (!version.ok) return version;
    if (target.operation === 'regress') {
      const values = this.model.regress(signatureName, examples.input);
      return values.ok ? fromJson(regressionJson(values.value)) : values;
    }
    const classes = this.model.classify(signatureName, examples.input);
    return classes.ok ? fromJson(classificationJson(classes.value)) : classes;
  }

  // -------------------------------------------------------------------------------------------
  // Writing answers

  private count(status: number): void {
    this.counters.byStatus[status] = (this.counters.byStatus[status] ?? 0) + 1;
  }

  private sendError(res: ServerResponse, error: TfError): void {
    this.sendJson(res, HTTP_STATUS_OF[error.code], errorBody(error.message));
  }

  private sendJson(res: ServerResponse, status: number, body: string): void {
    this.sendRaw(res, status, JSON_CONTENT_TYPE, Buffer.from(body, 'utf8'));
  }

  private sendRaw(res: ServerResponse, status: number, contentType: string | null, body: Buffer): void {
    if (res.writableEnded || res.destroyed) return;
    this.count(status);
    const headers: Record<string, string | number> = {};
    // libevent adds its default content type to any answer that has none, empty ones included.
    headers['Content-Type'] = contentType ?? DEFAULT_CONTENT_TYPE;
    if (this.cors) {
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
        send(200, this.settings());
        return;
      }
      if (method === 'PUT' || method === 'PATCH') {
        readBody(req, (body) => {
          let input: unknown;
          try {
            input = JSON.parse(body.toString('utf8'));
          } catch (e) {
            send(400, { error: `invalid JSON: ${(e as Error).message}` });
            return;
          }
          try {
            send(200, this.update(input as SettingsPatch));
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
        send(200, this.snapshotCounters());
        return;
      }
      if (method === 'DELETE') {
        this.counters = zeroCounters();
        send(200, this.snapshotCounters());
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

function readBody(req: IncomingMessage, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      req.socket.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (size > MAX_BODY_BYTES) return;
    done(chunks.length === 0 ? EMPTY : chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
  });
  req.on('error', () => undefined);
}

/** A free port on `host`, released at once so the simulator can bind it after its load delay. */
function reservePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen({ host, port: 0 }, () => {
      const address = probe.address();
      const port = address !== null && typeof address === 'object' ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** For tests that assert on injected errors: the TF code and default message of a status. */
export { codeForStatus, defaultFaultMessage };
