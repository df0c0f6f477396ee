/**
 * A stack for shadow traffic: one simulated replica per version of half_plus_two, each serving REST
 * and gRPC. Version 1 (the usual stable) and version 3 answer as half_plus_two, version 2 as
 * half_plus_three: a shadow of 3 agrees with 1, a shadow of 2 disagrees (by exactly 1).
 */
import { startSimulator, type SimulatorHandle, type SimulatorOptions } from '../../simulator/src/server.js';
import { startTestGateway, TEST_TOKEN, waitFor, type TestGateway } from './gateway.js';
import type { TestClient } from './http.js';
import { MODEL, replicaEntry } from './stack.js';

export { MODEL };
export const AUTH = { authorization: `Bearer ${TEST_TOKEN}` };

export interface ShadowStack {
  readonly gw: TestGateway;
  /** By version: 1, 2, 3. */
  readonly sims: ReadonlyMap<number, SimulatorHandle>;
  readonly predictUrl: string;
  close(): Promise<void>;
}

export interface ShadowStackOptions {
  readonly policy: Record<string, unknown>;
  readonly proxy?: Record<string, unknown>;
  readonly simulator?: (version: number) => SimulatorOptions;
}

export async function startShadowStack(options: ShadowStackOptions): Promise<ShadowStack> {
  const sims = new Map<number, SimulatorHandle>();
  let gw: TestGateway | undefined;
  const close = async (): Promise<void> => {
    await gw?.close();
    await Promise.all([...sims.values()].map((s) => s.close()));
  };
  try {
    for (const version of [1, 2, 3]) {
      const behaviour = version === 2 ? 'half_plus_three' : 'half_plus_two';
      sims.set(version, await startSimulator({ model: MODEL, versions: [version], behaviour, grpcPort: 0, ...options.simulator?.(version) }));
    }
    const pools = Object.fromEntries([...sims].map(([v, sim]) => [String(v), { replicas: [replicaEntry(sim)] }]));
    gw = await startTestGateway({
      models: {
        [MODEL]: {
          pools,
          policy: options.policy,
          healthCheck: { intervalMs: 200, timeoutMs: 1_000, healthyThreshold: 2, unhealthyThreshold: 3 },
          resilience: { analysis: { latencyMarginMs: 3_600_000 } },
        },
      },
      ...(options.proxy === undefined ? {} : { proxy: options.proxy }),
    });
    return { gw, sims, predictUrl: `${gw.rest}/v1/models/${MODEL}:predict`, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** What the admin API shows of the model's shadow. */
export interface ShadowViewBody {
  version: number | null;
  percent: number;
  inFlight: number;
  maxInFlight: number;
  sent: number;
  dropped: { budget: number; memory: number; unavailable: number; streamed: number };
  results: {
    version: number;
    compared: number;
    agreementRate: number | null;
    meanAbsDiff: number | null;
    maxAbsDiff: number | null;
    errorRate: number | null;
    p99Ms: number | null;
    totals: { agreed: number; disagreed: number; error: number; skipped: number };
    disagreements: Array<{ requestId: string; protocol: string; operation: string; liveVersion: number; detail: string; live: string; shadow: string }>;
  } | null;
}

export async function shadowOf(client: TestClient, stack: ShadowStack): Promise<ShadowViewBody | null> {
  const reply = await client.get(`${stack.gw.admin}/api/models/${MODEL}`, AUTH);
  if (reply.status !== 200) throw new Error(`model view: ${reply.status} ${reply.text}`);
  return reply.json<{ shadow: ShadowViewBody | null }>().shadow;
}

/** Waits until the model's results count `pairs` pairs in all (every outcome). */
export async function waitForPairs(client: TestClient, stack: ShadowStack, pairs: number, timeoutMs = 10_000): Promise<ShadowViewBody> {
  let last: ShadowViewBody | null = null;
  await waitFor(
    async () => {
      last = await shadowOf(client, stack);
      const t = last?.results?.totals;
      return t !== undefined && t.agreed + t.disagreed + t.error + t.skipped >= pairs;
    },
    timeoutMs,
    `${pairs} shadow pairs (last: ${JSON.stringify(last)})`,
  );
  return last as unknown as ShadowViewBody;
}
