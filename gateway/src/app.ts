/**
 * Assembles a gateway from a checked configuration: pools and health checks, the policy store and
 * its watcher, the stats clock, the REST listener and the admin API. `buildGateway` opens no port;
 * `listen` runs the first health pass (so no replica takes traffic before it proved AVAILABLE) and
 * then listens. Tests build gateways with this and port 0.
 */
import { createServer, type IncomingMessage, type ServerOptions } from 'node:http';
import type { Http2SecureServer } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import type { AdminTokenSpec, GatewayConfig } from './config/load.js';
import { generateToken } from './controlplane/admin/auth.js';
import { buildAdminApi, type AdminApi } from './controlplane/admin/server.js';
import type { Readiness } from './controlplane/admin/ops-routes.js';
import { createMetrics } from './observability/metrics.js';
import { CanaryController } from './controlplane/canary-controller.js';
import { GatewayEvents } from './controlplane/events.js';
import { StatsClock } from './controlplane/stats-clock.js';
import { HealthChecker } from './controlplane/health.js';
import { createStore } from './controlplane/store/create.js';
import { StoreUnavailableError, type AuditedState, type PolicyStore, type SeedEntry } from './controlplane/store/types.js';
import { ReplicaManager } from './controlplane/replicas.js';
import { VersionDiscovery } from './controlplane/discovery.js';
import { PolicyWatcher } from './controlplane/watcher.js';
import { PoolRegistry } from './dataplane/pool-registry.js';
import { Admission } from './dataplane/admission.js';
import { Shadows } from './dataplane/shadow.js';
import { ShadowAnalysis } from './analysis/shadow-analysis.js';
import { endLingering } from './protocols/rest/local-reply.js';
import { createRestHandler } from './protocols/rest/handler.js';
import { ClientResponse, type RestServer } from './protocols/rest/client-response.js';
import { createGrpcServer, httpStatusOfGrpc, type GrpcServer } from './protocols/grpc/listener.js';
import { GrpcUpstream } from './protocols/grpc/upstream.js';
import { SnapshotHolder } from './dataplane/snapshot.js';
import { createLogger, type Logger } from './observability/logger.js';
import { Shadow, type PolicyDocument } from './policy/schema.js';
import { fillDefaults } from './schema-defaults.js';
import { planStart } from './controlplane/changes.js';
import { NO_VERSIONS, type StoredPolicy } from './policy/stored.js';
import { rawLibeventPage } from './tfserving/libevent.js';
import { VERSION } from './version.js';
import { listenerTls } from './tls/listener.js';
import type { TlsReloader } from './tls/reloader.js';
import { ReplicaTls } from './tls/replica.js';

/** HTTP/2 sessions the gateway keeps to each replica's gRPC port (calls are spread over them). */
const GRPC_SESSIONS_PER_REPLICA = 2;

export interface GatewayOptions {
  readonly config: GatewayConfig;
  readonly logger?: Logger;
  /** A store built by the caller (tests); default: the one the configuration names. */
  readonly store?: PolicyStore;
}

export interface ListeningAddresses {
  readonly rest: AddressInfo;
  readonly grpc: AddressInfo;
  readonly admin: AddressInfo;
}

export interface Gateway {
  readonly config: GatewayConfig;
  readonly log: Logger;
  /** The admin tokens in force; when none was configured, one generated operator token. */
  readonly adminTokens: readonly AdminTokenSpec[];
  readonly adminTokenGenerated: boolean;
  readonly rest: RestServer;
  readonly grpc: GrpcServer;
  readonly admin: AdminApi;
  readonly snapshots: SnapshotHolder;
  readonly pools: PoolRegistry;
  readonly health: HealthChecker;
  readonly store: PolicyStore;
  readonly events: GatewayEvents;
  readonly watcher: PolicyWatcher;
  listen(): Promise<ListeningAddresses>;
  /**
   * Applies a new configuration's replica lists and version pools (file change, SIGHUP). Other
   * settings need a restart; what could not be applied is returned (and logged).
   */
  reload(next: GatewayConfig): Promise<string[]>;
  /** Reads the certificate files again (SIGHUP); they are also reloaded when they change. */
  reloadCertificates(why: string): void;
  /** Readiness as /readyz reports it. */
  readiness(): Readiness;
  /**
   * Graceful stop (SIGTERM): readiness fails, then after `shutdown.readinessDelayMs` the REST port
   * stops accepting, requests in flight finish (up to `shutdown.drainTimeoutMs`), then everything
   * closes.
   */
  shutdown(): Promise<void>;
  /** Immediate stop (tests): connections are cut. */
  close(): Promise<void>;
}

export async function buildGateway(options: GatewayOptions): Promise<Gateway> {
  const { config } = options;
  const log = options.logger ?? createLogger();
  const adminTokenGenerated = config.adminTokens.length === 0;
  const adminTokens: readonly AdminTokenSpec[] = adminTokenGenerated
    ? [{ name: 'admin', token: generateToken(), role: 'operator' }]
    : config.adminTokens;
  const events = new GatewayEvents();
  // Certificates first: files that no longer load stop the start before anything is opened.
  const replicaTls = new ReplicaTls(config.replicaTls, '/replicaTls', log);
  const restTls = config.rest.tls === undefined ? undefined : listenerTls(config.rest.tls, '/listeners/rest/tls', 'REST listener', log);
  const adminTls = config.admin.tls === undefined ? undefined : listenerTls(config.admin.tls, '/listeners/admin/tls', 'admin listener', log);
  const grpcTls = config.grpc.tls === undefined ? undefined : listenerTls(config.grpc.tls, '/listeners/grpc/tls', 'gRPC listener', log);
  const pools = new PoolRegistry(config.models, config.proxy, (timeoutMs) => replicaTls.connector(timeoutMs));
  // undici's default connect timeout, as before TLS settings: a check's own timeout bounds it anyway.
  const health = new HealthChecker({ connect: replicaTls.connector(10_000) });
  health.on('change', (change) => {
    const line = { model: change.model, version: change.version, replica: change.replica, from: change.from, detail: change.detail };
    if (change.to === 'down') log.warn(line, 'replica down');
    else log.info(line, `replica ${change.to}`);
    events.emit('health', change);
  });

  const store = options.store ?? (await createStore(config.store, log));
  const snapshots = new SnapshotHolder({ models: new Map() });
  const watcher = new PolicyWatcher({ store, pools, holder: snapshots, labels: config.labels, events, log });
  const replicas = new ReplicaManager({
    pools,
    health,
    watcher,
    dns: config.dns,
    drainTimeoutMs: config.proxy.deadlineMs,
    instanceId: config.proxy.instanceId ?? hostname(),
    log,
  });
  watcher.useVersionPools({ ensure: (model, versions) => replicas.ensureVersions(model, versions), drop: (model, keep) => replicas.dropVersions(model, keep) });
  // Replica addresses first (DNS names resolved): the pools must exist before policies compile.
  await replicas.apply(config.models);
  const fromConfig = new Map<string, SeedEntry>(
    config.models.map((m) => [m.name, { ...initialState(m.policy), revision: 1, actor: 'config', provisional: true }]),
  );
  store.on('available', () => {
    log.info({ store: store.kind }, 'policy store available: resyncing');
    events.emit('store', { available: true, detail: 'connected' });
  });
  store.on('unavailable', (detail) => {
    log.error({ store: store.kind, detail }, 'policy store unavailable: routing continues on the policies in force; admin writes are refused');
    events.emit('store', { available: false, detail });
  });

  let initial: StoredPolicy[] = [];
  try {
    // Before anything is in force the seed is the configuration; afterwards, what is in force.
    initial = await store.start(() => (snapshots.current.models.size === 0 ? fromConfig : watcher.seed()));
  } catch (err) {
    if (!(err instanceof StoreUnavailableError)) throw err;
    log.error(
      { store: store.kind, detail: err.message },
      'POLICY STORE UNAVAILABLE AT START: routing with the configuration file\'s initial policies until it is reachable; the stored policies will be adopted then',
    );
  }
  watcher.start(initial, config.store.resyncIntervalMs, initial.length > 0);
  for (const model of config.models) {
    if (snapshots.current.models.has(model.name)) continue;
    // Not stored yet (store down), or stored but not routable here: the file's policy, revision 0,
    // so whatever the store holds replaces it at the next resync.
    if (initial.some((s) => s.model === model.name)) log.error({ model: model.name }, 'the stored policy cannot be routed by this gateway: using the configuration\'s');
    watcher.apply(
      { model: model.name, revision: 0, ...initialState(model.policy), updatedAt: new Date().toISOString(), updatedBy: 'config', reason: 'config', note: '', provisional: true },
      'resync',
    );
  }

  pools.observe((pool, replica, signal) => {
    const line = { model: pool.model, version: pool.version, replica: replica.origin };
    if (signal.kind === 'breaker') {
      if (signal.state === 'open') log.warn(line, 'breaker open');
      else log.info(line, `breaker ${signal.state}`);
    } else if (signal.ejected) {
      log.warn({ ...line, durationMs: signal.durationMs, times: signal.times }, 'replica ejected');
    } else {
      log.info({ ...line, times: signal.times }, 'replica readmitted');
    }
    events.emit('replica', { model: pool.model, version: pool.version, replica: replica.origin, ...signal });
  });
  const discovering = config.models.filter((m) => m.discover !== null);
  const discovery = new VersionDiscovery({
    ctx: { store, watcher, snapshots, pools },
    models: discovering.map((m) => ({ name: m.name, minShare: m.discover?.minShare ?? 1, healthCheck: m.healthCheck })),
    targets: (model) => replicas.discoveryTargets(model),
    log,
    connect: replicaTls.connector(10_000),
  });
  const shadowAnalysis = new ShadowAnalysis();
  const controller = new CanaryController({ store, watcher, snapshots, pools }, log, (model) => shadowAnalysis.results(model));

  const statsClock = new StatsClock(pools, events, (err) => log.error({ err }, 'stats clock failed'));
  statsClock.start();

  const lifecycle = { draining: false };
  const admission = new Admission(config.proxy.maxRequestsInFlight, config.proxy.maxBufferedBytes);
  const shadows = new Shadows(admission, shadowAnalysis.submit);
  const handleRest = createRestHandler({
    snapshots,
    admission,
    shadows,
    settings: config.proxy,
    lifecycle,
    accessLog: config.logging,
    log,
    onBug: (err, req, requestId) => log.error({ err, requestId, method: req.method, url: req.url }, 'request handler failed'),
  });
  const restOptions = {
    // Slow clients may not hold a connection open longer than a request may take.
    requestTimeout: config.proxy.deadlineMs,
    headersTimeout: Math.min(config.proxy.deadlineMs, config.proxy.headersTimeoutMs),
    // Node enforces both timeouts only when it sweeps its connections (default every 30 s), so a
    // slowloris client would keep its socket up to 30 s past them.
    connectionsCheckingInterval: 1_000,
    // libevent serves an HTTP/1.1 request without Host; node would answer a bare 400 of its own.
    requireHostHeader: false,
    keepAliveTimeout: 65_000,
    // What a request holds is given back when its response closes (client-response.ts).
    ServerResponse: ClientResponse,
  } satisfies ServerOptions<typeof IncomingMessage, typeof ClientResponse>;
  const certificates: TlsReloader[] = replicaTls.reloader === undefined ? [] : [replicaTls.reloader];
  let rest: RestServer;
  if (restTls === undefined) {
    rest = createServer(restOptions, handleRest);
  } else {
    // A client that never finishes its handshake is held no longer than one that never sends its headers.
    const https = createHttpsServer<typeof IncomingMessage, typeof ClientResponse>({ ...restOptions, ...restTls.serverOptions, ServerResponse: ClientResponse, handshakeTimeout: restOptions.headersTimeout }, handleRest);
    certificates.push(restTls.reloading(https));
    rest = https;
  }
  rest.on('clientError', answerUnparsable);
  // A client that asks before sending its body is told 413 before it sends a byte of one over the
  // limit; node would otherwise say 100 Continue to everything.
  rest.on('checkContinue', (req: IncomingMessage, res: ClientResponse) => {
    if (!(Number(req.headers['content-length']) > config.proxy.maxBodyBytes)) res.writeContinue();
    handleRest(req, res);
  });
  // Without a listener node drops a CONNECT silently; libevent answers it with its 501 page.
  rest.on('connect', (_req: unknown, socket: Duplex) => socket.end(rawLibeventPage(501)));

  let shuttingDown = false;
  const readiness = (): Readiness => {
    const checks: Record<string, { ok: boolean; detail: string }> = {
      configuration: { ok: true, detail: `${config.models.length} models loaded` },
      shutdown: { ok: !shuttingDown, detail: shuttingDown ? 'shutting down' : 'running' },
      store: {
        ok: watcher.synced,
        detail: watcher.synced ? `in sync with the ${store.kind} store` : 'running on the configuration file: the store has not been reached since start',
      },
    };
    for (const model of snapshots.current.models.values()) {
      const healthy = model.stable.healthyCount;
      checks[`model:${model.name}`] = {
        ok: healthy > 0,
        detail: `${healthy} of ${model.stable.replicas.length} replicas of stable version ${model.stable.version} healthy`,
      };
    }
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  };
  const admin = await buildAdminApi({
    ctx: { store, watcher, snapshots, pools, events, log, replicas, shadows, shadowAnalysis, healthChecks: new Map(config.models.map((m) => [m.name, m.healthCheck])),
      discovering: new Set(discovering.map((m) => m.name)),
    },
    tokens: adminTokens,
    corsOrigins: config.adminCorsOrigins,
    version: VERSION,
    ops: { readiness, metrics: createMetrics({ pools, snapshots, store, events, admission, shadows, shadowAnalysis }) },
    ...(adminTls === undefined ? {} : { https: adminTls.serverOptions }),
  });
  if (adminTls !== undefined) certificates.push(adminTls.reloading(admin.server));

  const grpcUpstreamOptions = {
    sessions: GRPC_SESSIONS_PER_REPLICA,
    connectTimeoutMs: config.proxy.connectTimeoutMs,
    idleTimeoutMs: config.proxy.keepAliveTimeoutMs,
  };
  const grpc = createGrpcServer(
    {
      snapshots,
      admission,
      settings: config.proxy,
      log,
      shadows,
      ready: () => readiness().ready,
      upstreamOf: (replica) => {
        // Opened at the replica's first gRPC call, closed with the replica.
        if (replica.grpcUpstream instanceof GrpcUpstream) return replica.grpcUpstream;
        const upstream = new GrpcUpstream(replica.grpcOrigin, replica.grpcOrigin.startsWith('https:') ? { ...grpcUpstreamOptions, tls: () => replicaTls.http2Options() } : grpcUpstreamOptions);
        replica.grpcUpstream = upstream;
        return upstream;
      },
      record: (pool, code, durationMs) => pool.stats.recordResponse('grpc', httpStatusOfGrpc(code), durationMs),
      accessLog: config.logging,
    },
    grpcTls?.serverOptions,
  );
  if (grpcTls !== undefined) certificates.push(grpcTls.reloading(grpc.server as Http2SecureServer));

  /** Stops taking requests on the REST port and waits (bounded) for those in flight. */
  const drain = async (): Promise<void> => {
    lifecycle.draining = true;
    // gRPC clients are told GOAWAY: calls in flight finish, new ones go to another gateway.
    const grpcClosed = grpc.drain();
    const closed = Promise.all([new Promise<void>((resolve) => rest.close(() => resolve())), grpcClosed]).then(() => undefined);
    // Keep-alive connections that fall idle are closed as they do; busy ones finish first.
    const sweep = setInterval(() => rest.closeIdleConnections(), 50);
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), config.shutdown.drainTimeoutMs).unref());
    rest.closeIdleConnections();
    const outcome = await Promise.race([closed.then(() => 'drained' as const), timeout]);
    clearInterval(sweep);
    if (outcome === 'timeout') {
      log.warn({ drainTimeoutMs: config.shutdown.drainTimeoutMs }, 'drain timeout: cutting the remaining connections');
      rest.closeAllConnections();
      grpc.cut();
      await closed;
    }
  };

  let closing: Promise<void> | undefined;
  /** Everything but the REST listener, which the caller has closed. */
  const closeRest = async (): Promise<void> => {
    statsClock.stop();
    for (const c of certificates) c.close();
    replicas.stop();
    controller.stop();
    await discovery.stop();
    watcher.stop();
    await health.stop();
    await admin.close();
    await pools.close();
    await store.close();
  };
  return {
    config,
    log,
    adminTokens,
    adminTokenGenerated,
    rest,
    grpc,
    admin,
    snapshots,
    pools,
    health,
    store,
    events,
    watcher,
    readiness,
    reloadCertificates(why) {
      for (const c of certificates) c.reload(why);
    },
    async reload(next) {
      const refused = await replicas.apply(next.models);
      const restartOnly: string[] = (['rest', 'admin', 'store', 'adminTokens', 'labels', 'proxy', 'logging', 'dns', 'replicaTls', 'shutdown'] as const).filter(
        (k) => !isDeepStrictEqual(next[k], config[k]),
      );
      // A model's checks and resilience settings are built into its replicas and controller at start.
      for (const model of next.models) {
        const running = config.models.find((m) => m.name === model.name);
        if (running === undefined) continue;
        for (const k of ['healthCheck', 'resilience'] as const) {
          if (!isDeepStrictEqual(model[k], running[k])) restartOnly.push(`models.${model.name}.${k}`);
        }
        // Discovery's polls are set up at start: its replicas follow a reload, whether it runs does not.
        if ((model.discover === null) !== (running.discover === null) || model.discover?.minShare !== running.discover?.minShare) {
          restartOnly.push(`models.${model.name}.discover`);
        }
      }
      if (restartOnly.length > 0) refused.push(`changed settings that need a restart to apply: ${restartOnly.join(', ')}`);
      if (refused.length > 0) log.warn({ refused }, 'configuration reloaded, in part');
      else log.info('configuration reloaded');
      return refused;
    },
    shutdown() {
      shuttingDown = true;
      closing ??= (async () => {
        log.info({ readinessDelayMs: config.shutdown.readinessDelayMs }, 'shutting down: readiness fails now');
        if (config.shutdown.readinessDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, config.shutdown.readinessDelayMs));
        await drain();
        await closeRest();
        log.info('shut down');
      })();
      return closing;
    },
    async listen() {
      await health.start();
      controller.start();
      discovery.start();
      replicas.start();
      for (const c of certificates) c.watch();
      await new Promise<void>((resolve, reject) => {
        rest.once('error', reject);
        rest.listen(config.rest.port, config.rest.host, () => {
          rest.off('error', reject);
          resolve();
        });
      });
      await new Promise<void>((resolve, reject) => {
        grpc.server.once('error', reject);
        grpc.server.listen(config.grpc.port, config.grpc.host, () => {
          grpc.server.off('error', reject);
          resolve();
        });
      });
      await admin.listen({ port: config.admin.port, host: config.admin.host });
      return { rest: rest.address() as AddressInfo, grpc: grpc.server.address() as AddressInfo, admin: admin.server.address() as AddressInfo };
    },
    close() {
      shuttingDown = true;
      closing ??= (async () => {
        lifecycle.draining = true;
        grpc.cut();
        await new Promise<void>((resolve) => {
          rest.close(() => resolve());
          rest.closeAllConnections();
        });
        await closeRest();
      })();
      return closing;
    },
  };
}

/**
 * A request node:http cannot parse gets the page libevent would send (TF Serving's HTTP layer):
 * 501 for an unknown method, 400 for anything else; a timed-out or reset one just loses its socket.
 */
const ANSWERED = Symbol('unparsable request answered');

/** node:http's response in progress on a connection (undocumented, stable since Node 0.x). */
type ConnectionSocket = Duplex & {
  [ANSWERED]?: true;
  _httpMessage?: { writableEnded: boolean; req?: { complete: boolean }; once(event: 'close', f: () => void): void } | null;
};

/**
 * Bytes that are no request, after or between requests (libevent's 400 page, 501 for a method it
 * does not know). node's parser reports every later chunk again: one answer per connection, and
 * the later chunks are dropped while the connection lingers. A request still being answered on
 * the connection is answered first, as libevent reads the next request only then; the page
 * written over it would cut its answer.
 */
function answerUnparsable(error: NodeJS.ErrnoException, socket: ConnectionSocket): void {
  // node:https reports a failed handshake here too (refused, timed out, plain HTTP on the TLS
  // port): there is no TLS session for a page to travel in.
  const failedHandshake = socket instanceof TLSSocket && error.code?.startsWith('HPE_') !== true;
  if (error.code === 'ECONNRESET' || error.code === 'ERR_HTTP_REQUEST_TIMEOUT' || failedHandshake) {
    socket.destroy();
    return;
  }
  if (socket[ANSWERED] === true) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket[ANSWERED] = true;
  const page = rawLibeventPage(error.code === 'HPE_INVALID_METHOD' ? 501 : 400);
  const inFlight = socket._httpMessage;
  if (inFlight != null && !inFlight.writableEnded && inFlight.req?.complete === true) inFlight.once('close', () => endLingering(socket, page));
  else endLingering(socket, page);
}

/** A configured policy as first stored: a plan in it starts rolling out at its first step. */
function initialState(policy: PolicyDocument): AuditedState {
  const plan = policy.plan;
  if (plan === null) return { policy, paused: false, rolledBack: false, rollout: null, versions: NO_VERSIONS };
  // planStart's shadow is filled here (the document must be whole): the schema's defaults.
  const start = planStart(policy, plan);
  const shadow = start.shadow === null ? null : fillDefaults(Shadow, start.shadow);
  return { policy: { ...start, shadow }, paused: false, rolledBack: false, rollout: { step: 0, since: new Date().toISOString() }, versions: NO_VERSIONS };
}
