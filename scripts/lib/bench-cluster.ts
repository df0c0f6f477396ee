/**
 * The benchmarks' stack, every part its own process: a redis-server, simulated TF Serving
 * replicas (half_plus_two: version 1 on `stable` replicas, version 2 answering as half_plus_three
 * on `canary` replicas) and gateway processes sharing the Redis store.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnNode, stopChild } from './processes.js';
import { GATEWAY_NODE_FLAGS } from '../../gateway/src/runtime/heap.js';
import { startRedis, type RedisServer } from './redis-server.js';

const MAIN = fileURLToPath(new URL('../../gateway/src/main.js', import.meta.url));
const SIMULATOR = fileURLToPath(new URL('../../simulator/src/main.js', import.meta.url));
export const BENCH_TOKEN = 'bench-operator-token-0123456789';

export interface BenchGateway {
  readonly child: ChildProcess;
  readonly rest: string;
  readonly admin: string;
}

export interface BenchCluster {
  readonly redis: RedisServer;
  readonly stable: readonly string[];
  readonly canary: readonly string[];
  readonly gateways: readonly BenchGateway[];
  close(): Promise<void>;
}

export interface BenchClusterOptions {
  readonly gateways: number;
  readonly stableReplicas: number;
  readonly canaryReplicas: number;
  readonly policy: Record<string, unknown>;
  readonly resilience?: Record<string, unknown>;
}

/** Throws a message saying how to install redis-server when it is missing. */
export async function startBenchCluster(options: BenchClusterOptions): Promise<BenchCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'cg-bench-'));
  const children: ChildProcess[] = [];
  let redis: RedisServer | undefined;
  const close = async (): Promise<void> => {
    await Promise.all(children.map((c) => stopChild(c)));
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    try {
      redis = await startRedis();
    } catch (err) {
      throw new Error(`cannot start redis-server (${(err as Error).message}); install it with: apt-get install redis-server`);
    }
    const simulator = async (version: number, behaviour: string): Promise<string> => {
      const { child, match } = await spawnNode(
        SIMULATOR,
        ['--port', '0', '--model', 'half_plus_two', '--version', String(version), '--behaviour', behaviour],
        /listening on (http:\/\/\S+)/,
        { ipc: true },
      );
      children.push(child);
      return match[1] as string;
    };
    const stable: string[] = [];
    const canary: string[] = [];
    for (let i = 0; i < options.stableReplicas; i++) stable.push(await simulator(1, 'half_plus_two'));
    for (let i = 0; i < options.canaryReplicas; i++) canary.push(await simulator(2, 'half_plus_three'));
    const configFile = join(dir, 'gateway.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        store: { type: 'redis', url: redis.url, keyPrefix: 'bench:' },
        models: {
          half_plus_two: {
            pools: { '1': { replicas: stable }, '2': { replicas: canary } },
            policy: options.policy,
            healthCheck: { intervalMs: 1000, timeoutMs: 500 },
            ...(options.resilience === undefined ? {} : { resilience: options.resilience }),
          },
        },
      }),
    );
    const gateways: BenchGateway[] = [];
    for (let i = 0; i < options.gateways; i++) {
      const { child, match } = await spawnNode(MAIN, ['--config', configFile], /REST on [\d.]+:(\d+), admin API on [\d.]+:(\d+)/, {
        env: { ...process.env, ADMIN_TOKEN: BENCH_TOKEN, LOG_LEVEL: 'warn', GATEWAY_REST_PORT: '0', GATEWAY_ADMIN_PORT: '0', GATEWAY_GRPC_PORT: '0', GATEWAY_REST_HOST: '127.0.0.1', GATEWAY_GRPC_HOST: '127.0.0.1' },
        nodeArgs: GATEWAY_NODE_FLAGS,
      });
      children.push(child);
      gateways.push({ child, rest: `http://127.0.0.1:${match[1]}`, admin: `http://127.0.0.1:${match[2]}` });
    }
    return { redis, stable, canary, gateways, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
}

export const round2 = (n: number): number => Math.round(n * 100) / 100;
