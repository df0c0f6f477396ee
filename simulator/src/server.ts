/**
 * A TensorFlow Serving model server in one process: the half_plus_two / half_plus_three reference
 * models under any name and version numbers, on a REST port and optionally a gRPC port, with TF's
 * answers and error texts on every point of its contract (simulator/README.md lists where it
 * differs), and fault injection (errors, latency, hangs, resets, version states, closed ports while
 * "loading") for the gateway's tests, demo and benchmark. Both ports share one Replica: the same
 * versions, labels, faults and counters.
 */
import net from 'node:net';
import type { Server } from 'node:net';
import { canonicalVersion, codeForStatus, defaultFaultMessage, validatePatch, type FaultSettings, type SettingsPatch, type SimulatorSettings, type VersionSpec } from './control.js';
import { GrpcPort } from './grpc/port.js';
import type { Behaviour } from './model.js';
import { Replica, type SimulatorCounters } from './replica.js';
import { RestPort } from './rest.js';

export type { Behaviour } from './model.js';
export type {
  FaultScope,
  FaultSettings,
  SettingsPatch,
  SimulatorSettings,
  StatusCode,
  VersionSpec,
  VersionSettings,
  VersionState,
  VersionStatus,
} from './control.js';
export { BEHAVIOURS } from './model.js';
export type { CountedOperation, Protocol, SimulatorCounters } from './replica.js';
export { DEFAULT_FAULTS, ERROR_STATUSES, VERSION_STATES, PatchError } from './control.js';

export interface SimulatorOptions {
  /** Interface to bind; default 127.0.0.1. */
  readonly host?: string;
  /** REST port; 0 (the default) picks a free one. */
  readonly port?: number;
  /** gRPC port, 0 for a free one; none (the default) serves REST only. */
  readonly grpcPort?: number;
  /** Model name served; default "half_plus_two". */
  readonly model?: string;
  /** Version numbers served; default [1]. */
  readonly versions?: ReadonlyArray<number | string>;
  /** What a version computes unless `behaviours` (or its state spec) says otherwise; default "half_plus_two". */
  readonly behaviour?: Behaviour;
  /** What single versions compute, e.g. `{ 4: 'half_plus_three' }`; each must be served (in `versions` or `versionStates`). */
  readonly behaviours?: Readonly<Record<string, Behaviour>>;
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
  /** The largest request body either port reads; default 256 MiB (TF takes gRPC messages up to about 2 GiB). */
  readonly maxRequestBytes?: number;
  /** Source of randomness for the fault rates (tests can make it deterministic). Default Math.random. */
  readonly random?: () => number;
  /** HTTPS (and gRPC over TLS, ALPN h2) instead of plain text, as TF Serving behind a TLS sidecar or mesh; PEM texts. */
  readonly tls?: SimulatorTls;
}

export interface SimulatorTls {
  /** The replica's certificate (then any intermediates). */
  readonly cert: string;
  readonly key: string;
  /** With it, clients must present a certificate chaining to one of these (mutual TLS). */
  readonly clientCa?: string;
}

export interface SimulatorHandle {
  readonly host: string;
  /** The REST port, known even while a load delay keeps it closed. */
  readonly port: number;
  /** http://host:port */
  readonly url: string;
  /** The gRPC port (known even while a load delay keeps it closed), or null without one. */
  readonly grpcPort: number | null;
  /** host:port of the gRPC port, as gRPC clients take it, or null without one. */
  readonly grpcAddress: string | null;
  readonly model: string;
  /** The default behaviour (settings().versions shows each version's own). */
  readonly behaviour: Behaviour;
  /** Resolves once the ports accept connections (immediately settled without a load delay). */
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
  /** Stops listening and destroys every connection on both ports, including idle keep-alive ones and hung requests. */
  close(): Promise<void>;
}

/** Starts a replica. Resolves once listening, or, with a load delay, as soon as the ports are chosen. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<SimulatorHandle> {
  const sim = new Simulator(options);
  await sim.start();
  return sim.handle;
}

const DEFAULT_MAX_REQUEST_BYTES = 256 * 1024 * 1024;

function checkPort(port: number, what: string): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`invalid ${what} ${String(port)}`);
  return port;
}

class Simulator {
  readonly handle: SimulatorHandle;
  private readonly host: string;
  private restPortNumber: number;
  private grpcPortNumber: number | null;
  private readonly replica: Replica;
  private readonly rest: RestPort;
  private readonly grpc: GrpcPort | null;
  private readonly loadDelayMs: number;
  private readonly tls: SimulatorTls | undefined;
  private listening = false;
  private closed = false;
  private loadTimer: NodeJS.Timeout | null = null;
  private listeningPromise: Promise<void> = Promise.resolve();
  private rejectListening: ((e: Error) => void) | null = null;

  constructor(options: SimulatorOptions) {
    this.host = options.host ?? '127.0.0.1';
    this.restPortNumber = checkPort(options.port ?? 0, 'port');
    this.grpcPortNumber = options.grpcPort === undefined ? null : checkPort(options.grpcPort, 'gRPC port');
    const modelName = options.model ?? 'half_plus_two';
    if (modelName === '') throw new RangeError('the model name must not be empty');
    this.loadDelayMs = options.loadDelayMs ?? 0;
    if (!Number.isFinite(this.loadDelayMs) || this.loadDelayMs < 0) throw new RangeError('loadDelayMs must be >= 0');
    const initial = validatePatch({
      versions: { ...(options.versionStates ?? {}) },
      labels: { ...(options.labels ?? {}) },
      faults: { ...(options.faults ?? {}) },
    });
    this.replica = new Replica({
      modelName,
      behaviour: options.behaviour ?? 'half_plus_two',
      versions: (options.versions ?? [1]).map((v) => canonicalVersion(v, 'version')),
      initial,
      behaviours: new Map(Object.entries(options.behaviours ?? {}).map(([v, b]) => [canonicalVersion(v, 'behaviours key'), b] as const)),
      random: options.random ?? Math.random,
    });
    const maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    if (!Number.isSafeInteger(maxRequestBytes) || maxRequestBytes < 0) throw new RangeError('maxRequestBytes must be a non-negative integer');
    this.tls = options.tls;
    this.rest = new RestPort(this.replica, { cors: options.cors ?? false, control: options.controlEndpoint ?? true, maxRequestBytes, tls: options.tls });
    this.grpc = this.grpcPortNumber === null ? null : new GrpcPort(this.replica, maxRequestBytes, options.tls);

    const sim = this;
    const replica = this.replica;
    this.handle = {
      host: this.host,
      get port() {
        return sim.restPortNumber;
      },
      get url() {
        return `${sim.tls === undefined ? 'http' : 'https'}://${sim.hostPort(sim.restPortNumber)}`;
      },
      get grpcPort() {
        return sim.grpcPortNumber;
      },
      get grpcAddress() {
        return sim.grpcPortNumber === null ? null : sim.hostPort(sim.grpcPortNumber);
      },
      model: modelName,
      behaviour: replica.behaviour,
      get listening() {
        return sim.listeningPromise;
      },
      isListening: () => this.listening,
      settings: () => replica.settings(),
      update: (patch) => replica.update(patch),
      setFaults: (faults) => replica.update({ faults }),
      clearFaults: () => replica.clearFaults(),
      setVersionState: (version, state) => replica.update({ versions: { [canonicalVersion(version, 'version')]: state } }),
      removeVersion: (version) => replica.update({ versions: { [canonicalVersion(version, 'version')]: null } }),
      setLabel: (label, version) => replica.update({ labels: { [label]: version } }),
      counters: () => replica.counters(),
      resetCounters: () => {
        replica.resetCounters();
      },
      close: () => this.close(),
    };
  }

  private hostPort(port: number): string {
    return `${net.isIPv6(this.host) ? `[${this.host}]` : this.host}:${port}`;
  }

  async start(): Promise<void> {
    if (this.loadDelayMs === 0) {
      await this.listenAll();
      return;
    }
    // The ports are known at once, open only after the delay, as TF opens them once models load.
    if (this.restPortNumber === 0) this.restPortNumber = await reservePort(this.host);
    if (this.grpcPortNumber === 0) this.grpcPortNumber = await reservePort(this.host);
    this.listeningPromise = new Promise<void>((resolve, reject) => {
      this.rejectListening = reject;
      this.loadTimer = setTimeout(() => {
        this.loadTimer = null;
        this.rejectListening = null;
        this.listenAll().then(resolve, reject);
      }, this.loadDelayMs);
    });
    // The caller may never await it; a failure must not become an unhandled rejection.
    this.listeningPromise.catch(() => undefined);
  }

  /** Opens the REST port, then the gRPC port; if the second fails the first is closed again. */
  private async listenAll(): Promise<void> {
    this.restPortNumber = await this.listen(this.rest.server, this.restPortNumber);
    if (this.grpc !== null) {
      try {
        this.grpcPortNumber = await this.listen(this.grpc.server, this.grpcPortNumber ?? 0);
      } catch (e) {
        await new Promise<void>((resolve) => this.rest.server.close(() => resolve()));
        throw e;
      }
    }
    if (this.closed) {
      // close() ran while the ports were being opened: a closed replica stays closed.
      this.rest.server.close();
      this.grpc?.server.close();
      throw new Error('simulator closed before it started listening');
    }
    this.listening = true;
  }

  private listen(server: Server, port: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const onError = (e: Error): void => reject(e);
      server.once('error', onError);
      server.listen({ host: this.host, port }, () => {
        server.off('error', onError);
        const address = server.address();
        resolve(address !== null && typeof address === 'object' ? address.port : port);
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
    const closing: Array<Promise<void>> = [];
    if (this.listening) {
      for (const server of [this.rest.server, this.grpc?.server]) {
        if (server !== undefined) closing.push(new Promise<void>((resolve) => server.close(() => resolve())));
      }
    }
    this.rest.destroyConnections();
    this.grpc?.destroyConnections();
    this.listening = false;
    await Promise.all(closing);
  }
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
