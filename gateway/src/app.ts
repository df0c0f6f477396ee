/**
 * Assembles a gateway from a checked configuration: pools and health checks, the policy store and
 * its watcher, the REST listener and the admin API. `buildGateway` does not open ports; `listen`
 * runs the first health pass (so no replica takes traffic before it proved AVAILABLE) and then
 * listens. Tests build gateways with this and port 0.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { GatewayConfig } from './config/load.js';
import { buildAdminApi, type AdminApi } from './controlplane/admin/server.js';
import { generateToken } from './controlplane/admin/auth.js';
import { HealthChecker } from './controlplane/health.js';
import { MemoryStore } from './controlplane/store/memory.js';
import type { PolicyStore } from './controlplane/store/types.js';
import { PolicyWatcher } from './controlplane/watcher.js';
import { PoolRegistry } from './dataplane/pool-registry.js';
import { createRestHandler } from './dataplane/rest-handler.js';
import { SnapshotHolder } from './dataplane/snapshot.js';
import { createLogger, type Logger } from './observability/logger.js';
import { rawLibeventPage } from './tfserving/libevent.js';

export interface GatewayOptions {
  readonly config: GatewayConfig;
  readonly logger?: Logger;
  readonly store?: PolicyStore;
}

export interface ListeningAddresses {
  readonly rest: AddressInfo;
  readonly admin: AddressInfo;
}

export interface Gateway {
  readonly config: GatewayConfig;
  /** The admin token in force, and whether the gateway made it up (it is then printed once). */
  readonly adminToken: string;
  readonly adminTokenGenerated: boolean;
  readonly rest: Server;
  readonly admin: AdminApi;
  readonly snapshots: SnapshotHolder;
  readonly pools: PoolRegistry;
  readonly health: HealthChecker;
  readonly store: PolicyStore;
  listen(): Promise<ListeningAddresses>;
  close(): Promise<void>;
}

export async function buildGateway(options: GatewayOptions): Promise<Gateway> {
  const { config } = options;
  const log = options.logger ?? createLogger();
  const adminToken = config.adminToken ?? generateToken();
  const pools = new PoolRegistry(config.models, config.proxy);
  const health = new HealthChecker();
  for (const model of config.models) {
    for (const pool of pools.pools(model.name)?.values() ?? []) health.add(pool, model.healthCheck);
  }
  health.on('change', (change) => {
    const line = { model: change.model, version: change.version, replica: change.replica, from: change.from, detail: change.detail };
    if (change.to === 'down') log.warn(line, 'replica down');
    else log.info(line, `replica ${change.to}`);
  });

  const store = options.store ?? new MemoryStore();
  const snapshots = new SnapshotHolder({ models: new Map() });
  const watcher = new PolicyWatcher(store, pools, snapshots, config.labels, log);
  const initial = await store.seed(new Map(config.models.map((m) => [m.name, m.policy])));
  watcher.start(initial);

  const rest = createServer(
    {
      // Slow clients may not hold a connection open longer than a request may take.
      requestTimeout: config.proxy.deadlineMs,
      headersTimeout: Math.min(config.proxy.deadlineMs, 15_000),
      keepAliveTimeout: 65_000,
    },
    createRestHandler(snapshots, config.proxy, (err, req) => log.error({ err, method: req.method, url: req.url }, 'request handler failed')),
  );
  rest.on('clientError', answerUnparsable);
  const admin = buildAdminApi({ token: adminToken, store, snapshots, pools, logger: log });

  let closing: Promise<void> | undefined;
  return {
    config,
    adminToken,
    adminTokenGenerated: config.adminToken === undefined,
    rest,
    admin,
    snapshots,
    pools,
    health,
    store,
    async listen() {
      await health.start();
      await new Promise<void>((resolve, reject) => {
        rest.once('error', reject);
        rest.listen(config.rest.port, config.rest.host, () => {
          rest.off('error', reject);
          resolve();
        });
      });
      await admin.listen({ port: config.admin.port, host: config.admin.host });
      return { rest: rest.address() as AddressInfo, admin: admin.server.address() as AddressInfo };
    },
    close() {
      closing ??= (async () => {
        watcher.stop();
        await health.stop();
        await new Promise<void>((resolve) => {
          rest.close(() => resolve());
          rest.closeAllConnections();
        });
        await admin.close();
        await pools.close();
        await store.close();
      })();
      return closing;
    },
  };
}

/**
 * A request node:http cannot parse gets the page libevent would send (TF Serving's HTTP layer):
 * 501 for an unknown method, 400 for anything else; a timed-out or reset one just loses its socket.
 */
function answerUnparsable(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || error.code === 'ERR_HTTP_REQUEST_TIMEOUT' || !socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(rawLibeventPage(error.code === 'HPE_INVALID_METHOD' ? 501 : 400));
}
