/**
 * Several gateways sharing one Redis policy store, in front of the same simulated replicas
 * (half_plus_two version 1 on two replicas, version 2 answering as half_plus_three on one).
 */
import { startSimulator, type SimulatorHandle } from '../../simulator/src/server.js';
import type { Logger } from '../../gateway/src/observability/logger.js';
import { startTestGateway, type TestGateway } from './gateway.js';
import { MODEL, replicaEntry } from './stack.js';

export interface ClusterOptions {
  readonly redisUrl: string;
  readonly keyPrefix: string;
  readonly policy?: Record<string, unknown>;
  readonly gateways?: number;
  readonly resyncIntervalMs?: number;
  /** The model's resilience section (breakers, retries, ejection, drain, analysis). */
  readonly resilience?: Record<string, unknown>;
}

export interface Cluster {
  readonly sims: SimulatorHandle[];
  readonly gateways: TestGateway[];
  /**
   * Another gateway on the same replicas and store; `policy` is its configuration file's, `redisUrl`
   * another way to the same Redis (through a TcpGate, say).
   */
  addGateway(policy?: Record<string, unknown>, logger?: Logger, redisUrl?: string): Promise<TestGateway>;
  close(): Promise<void>;
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const sims: SimulatorHandle[] = [];
  const gateways: TestGateway[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(gateways.map((g) => g.close()));
    await Promise.all(sims.map((s) => s.close()));
  };
  const addGateway = async (policy?: Record<string, unknown>, logger?: Logger, redisUrl = options.redisUrl): Promise<TestGateway> => {
    const gw = await startTestGateway({
      models: {
        [MODEL]: {
          pools: { '1': { replicas: [replicaEntry(sims[0]!), replicaEntry(sims[1]!)] }, '2': { replicas: [replicaEntry(sims[2]!)] } },
          policy: policy ?? options.policy ?? { stable: 1, canary: 2, percent: 10 },
          // Generous timeouts, as in stack.ts: the simulators share the test's (possibly stalled) event loop.
          healthCheck: { intervalMs: 200, timeoutMs: 1_000, unhealthyThreshold: 3 },
          ...(options.resilience === undefined ? {} : { resilience: options.resilience }),
        },
      },
      store: {
        type: 'redis',
        url: redisUrl,
        keyPrefix: options.keyPrefix,
        resyncIntervalMs: options.resyncIntervalMs ?? 1_000,
        connectTimeoutMs: 500,
        commandTimeoutMs: 500,
      },
    }, logger);
    gateways.push(gw);
    return gw;
  };
  try {
    sims.push(await startSimulator({ model: MODEL, versions: [1], behaviour: 'half_plus_two', grpcPort: 0 }));
    sims.push(await startSimulator({ model: MODEL, versions: [1], behaviour: 'half_plus_two', grpcPort: 0 }));
    sims.push(await startSimulator({ model: MODEL, versions: [2], behaviour: 'half_plus_three', grpcPort: 0 }));
    for (let i = 0; i < (options.gateways ?? 2); i++) await addGateway();
    return { sims, gateways, addGateway, close };
  } catch (err) {
    await close();
    throw err;
  }
}
