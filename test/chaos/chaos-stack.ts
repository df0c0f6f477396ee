/**
 * The chaos suite's stack, every part a real process that can be killed: a persistent redis-server
 * (append-only, fsync on every write, as production runs it), TF Serving replica simulators and two
 * gateways sharing the store. Ports (REST and gRPC) are fixed at start so a killed part comes back
 * where the others expect it, as a restarted pod behind a Service does.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnNode } from '../../scripts/lib/processes.js';
import { GATEWAY_NODE_FLAGS } from '../../gateway/src/runtime/heap.js';
import { freePort, startRedis, type RedisServer } from '../helpers/redis.js';
import { spawnReplica, type SpawnedReplica } from '../helpers/simulator.js';
import { MODEL } from '../helpers/stack.js';

const GATEWAY_MAIN = fileURLToPath(new URL('../../gateway/src/main.js', import.meta.url));
export const CHAOS_TOKEN = 'chaos-operator-token-0123456789';
export const STICKY_HEADER = 'x-user-id';
export const INITIAL_POLICY = { stable: 1, canary: 2, percent: 30, sticky: { header: STICKY_HEADER } };

/** One replica process on a fixed port: kill it, freeze it, bring it back on the same port. */
export class ReplicaProcess {
  #proc: SpawnedReplica | undefined;
  #started = false;
  constructor(
    readonly version: 1 | 2,
    public port: number,
    public grpcPort: number,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The replica as a pool's entry: REST URL and gRPC port. */
  get entry(): { url: string; grpcPort: number } {
    return { url: this.url, grpcPort: this.grpcPort };
  }

  /**
   * The ports are fixed from the first start on (a restart comes back on them). Before it, a port
   * another process took between freePort() and the bind (tests run side by side) is replaced.
   */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        this.#proc = await spawnReplica({
          model: MODEL,
          versions: [this.version],
          behaviour: this.version === 1 ? 'half_plus_two' : 'half_plus_three',
          port: this.port,
          grpcPort: this.grpcPort,
        });
        this.#started = true;
        return;
      } catch (err) {
        if (this.#started || attempt >= 3 || !/EADDRINUSE/.test((err as Error).message)) throw err;
        this.port = await freePort();
        this.grpcPort = await freePort();
      }
    }
  }

  /** SIGKILL: the machine is gone, connections reset, nothing answers. */
  async kill(): Promise<void> {
    const proc = this.#proc;
    this.#proc = undefined;
    if (proc === undefined) return;
    proc.kill('SIGKILL');
    await proc.exited;
  }

  /** SIGSTOP: the process hangs with its port open; connections are accepted and never answered. */
  freeze(): void {
    this.#proc?.kill('SIGSTOP');
  }

  thaw(): void {
    this.#proc?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    this.thaw();
    await this.#proc?.stop();
    this.#proc = undefined;
  }
}

/** One gateway process on fixed REST and admin ports, with the shared configuration file. */
export class GatewayProcess {
  #child: ChildProcess | undefined;
  #exited: Promise<[number | null, string | null]> | undefined;
  constructor(
    readonly name: string,
    readonly restPort: number,
    readonly adminPort: number,
    readonly grpcPort: number,
    private readonly configFile: string,
  ) {}

  /** host:port of its gRPC listener. */
  get grpc(): string {
    return `127.0.0.1:${this.grpcPort}`;
  }

  get rest(): string {
    return `http://127.0.0.1:${this.restPort}`;
  }

  get admin(): string {
    return `http://127.0.0.1:${this.adminPort}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async start(): Promise<void> {
    const { child } = await spawnNode(GATEWAY_MAIN, ['--config', this.configFile], /REST on [\d.]+:\d+, admin API on/, {
      env: {
        PATH: process.env['PATH'],
        LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'error',
        GATEWAY_REST_PORT: String(this.restPort),
        GATEWAY_ADMIN_PORT: String(this.adminPort),
        GATEWAY_GRPC_PORT: String(this.grpcPort),
      },
      ipc: true,
      nodeArgs: GATEWAY_NODE_FLAGS,
      timeoutMs: 20_000,
    });
    child.channel?.unref();
    this.#child = child;
    this.#exited = once(child, 'exit') as Promise<[number | null, string | null]>;
  }

  /** SIGTERM and wait for the exit code (graceful shutdown: readiness delay, then drain). */
  async terminate(timeoutMs = 15_000): Promise<number | null> {
    const child = this.#child;
    if (child === undefined || this.#exited === undefined) return null;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const [code] = await this.#exited;
    clearTimeout(timer);
    this.#child = undefined;
    return code;
  }

  async stop(): Promise<void> {
    await this.terminate(5_000);
  }
}

export interface ChaosStack {
  readonly redis: RedisServer;
  readonly stable: ReplicaProcess[];
  readonly canary: ReplicaProcess[];
  readonly gateways: GatewayProcess[];
  close(): Promise<void>;
}

export async function startChaosStack(): Promise<ChaosStack> {
  const dir = mkdtempSync(join(tmpdir(), 'cg-chaos-'));
  const replica = async (version: 1 | 2): Promise<ReplicaProcess> => new ReplicaProcess(version, await freePort(), await freePort());
  const stable = [await replica(1), await replica(1), await replica(1)];
  const canary = [await replica(2), await replica(2)];
  const gateways: GatewayProcess[] = [];
  let redis: RedisServer | undefined;
  const close = async (): Promise<void> => {
    await Promise.all(gateways.map((g) => g.stop()));
    await Promise.all([...stable, ...canary].map((r) => r.stop()));
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    redis = await startRedis({ persistent: true });
    await Promise.all([...stable, ...canary].map((r) => r.start()));
    const configFile = join(dir, 'gateway.json');
    writeFileSync(configFile, JSON.stringify(chaosConfig(redis.url, stable, canary), null, 1));
    for (const name of ['A', 'B']) {
      const gateway = new GatewayProcess(name, await freePort(), await freePort(), await freePort(), configFile);
      gateways.push(gateway);
      await gateway.start();
    }
    return { redis, stable, canary, gateways, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Settings a production deployment would tune the same way for fast failover: health checks every
 * 250 ms, an attempt that has no headers after 400 ms is retried elsewhere, and a SIGTERM leaves
 * the load balancer 600 ms to notice the failing readiness before the port closes. The automatic
 * rollback is off so that the only policy writes are the suite's own (it has its own tests).
 */
function chaosConfig(redisUrl: string, stable: readonly ReplicaProcess[], canary: readonly ReplicaProcess[]): Record<string, unknown> {
  return {
    listeners: { rest: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
    admin: { tokens: [{ name: 'chaos-operator', token: CHAOS_TOKEN, role: 'operator' }] },
    store: { type: 'redis', url: redisUrl, keyPrefix: 'chaos:', resyncIntervalMs: 500, connectTimeoutMs: 500, commandTimeoutMs: 500 },
    shutdown: { readinessDelayMs: 600, drainTimeoutMs: 5_000 },
    proxy: { deadlineMs: 5_000, connectTimeoutMs: 300 },
    models: {
      [MODEL]: {
        pools: { '1': { replicas: stable.map((r) => r.entry) }, '2': { replicas: canary.map((r) => r.entry) } },
        policy: INITIAL_POLICY,
        healthCheck: { intervalMs: 250, timeoutMs: 200, healthyThreshold: 2, unhealthyThreshold: 2 },
        resilience: {
          retry: { attemptTimeoutMs: 400, budgetPercent: 50, minRetriesPerSecond: 200 },
          breaker: { volumeThreshold: 5, windowSeconds: 5, resetTimeoutMs: 1_000 },
          analysis: { enabled: false },
        },
      },
    },
  };
}
