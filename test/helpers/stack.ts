/**
 * The usual test stack: simulated replicas of half_plus_two (version 1 answers as half_plus_two,
 * version 2 as half_plus_three, so every answer shows which version computed it) behind a gateway.
 */
import { startSimulator, type SimulatorHandle, type SimulatorOptions } from '../../simulator/src/server.js';
import type { Logger } from '../../gateway/src/observability/logger.js';
import { startTestGateway, type TestGateway } from './gateway.js';

export const MODEL = 'half_plus_two';

export interface StackOptions {
  readonly stableReplicas?: number;
  readonly canaryReplicas?: number;
  readonly policy?: Record<string, unknown>;
  readonly healthCheck?: Record<string, unknown>;
  readonly proxy?: Record<string, unknown>;
  readonly resilience?: Record<string, unknown>;
  readonly shutdown?: Record<string, unknown>;
  /** The gateway's logger (a test that reads its lines passes a capturing one). */
  readonly logger?: Logger;
  /** Extra options for each simulator, by version. */
  readonly simulator?: (version: number, index: number) => SimulatorOptions;
}

export interface Stack {
  readonly gw: TestGateway;
  readonly stable: SimulatorHandle[];
  readonly canary: SimulatorHandle[];
  readonly predictUrl: string;
  close(): Promise<void>;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const stable: SimulatorHandle[] = [];
  const canary: SimulatorHandle[] = [];
  let gw: TestGateway | undefined;
  const close = async (): Promise<void> => {
    await gw?.close();
    await Promise.all([...stable, ...canary].map((s) => s.close()));
  };
  try {
    for (let i = 0; i < (options.stableReplicas ?? 2); i++) {
      stable.push(await startSimulator({ model: MODEL, versions: [1], behaviour: 'half_plus_two', grpcPort: 0, ...options.simulator?.(1, i) }));
    }
    for (let i = 0; i < (options.canaryReplicas ?? 1); i++) {
      canary.push(await startSimulator({ model: MODEL, versions: [2], behaviour: 'half_plus_three', grpcPort: 0, ...options.simulator?.(2, i) }));
    }
    const pools: Record<string, unknown> = { '1': { replicas: stable.map(replicaEntry) } };
    if (canary.length > 0) pools['2'] = { replicas: canary.map(replicaEntry) };
    gw = await startTestGateway({
      models: {
        [MODEL]: {
          pools,
          policy: options.policy ?? { stable: 1, canary: 2, percent: 10 },
          // Fast intervals (tests wait for a replica to go down or come back) with generous timeouts:
          // the simulators run in the test's own process, and on a loaded machine its event loop can
          // stall long enough to time out a short check of a perfectly healthy replica.
          healthCheck: { intervalMs: 200, timeoutMs: 1_000, healthyThreshold: 2, unhealthyThreshold: 3, ...options.healthCheck },
          // Without a resilience section of its own, a test gets no latency-triggered rollback: the
          // simulators share the test's event loop, and a loaded machine's stall on the one canary
          // replica would roll back canaries in tests that are about something else.
          resilience: options.resilience ?? { analysis: { latencyMarginMs: 3_600_000 } },
        },
      },
      ...(options.proxy === undefined ? {} : { proxy: options.proxy }),
      ...(options.shutdown === undefined ? {} : { shutdown: options.shutdown }),
    }, options.logger);
    return { gw, stable, canary, predictUrl: `${gw.rest}/v1/models/${MODEL}:predict`, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** A simulator as a pool's replica entry: its REST URL, and its gRPC port when it has one. */
export function replicaEntry(sim: SimulatorHandle): string | { url: string; grpcPort: number } {
  return sim.grpcPort === null ? sim.url : { url: sim.url, grpcPort: sim.grpcPort };
}

/** Which version answered a half_plus_two/half_plus_three prediction of x = 1. */
export function versionOfPrediction(body: string): 1 | 2 {
  const parsed = JSON.parse(body) as { predictions?: number[] };
  if (parsed.predictions?.[0] === 2.5) return 1;
  if (parsed.predictions?.[0] === 3.5) return 2;
  throw new Error(`not a half_plus_two/three prediction: ${body}`);
}
