/**
 * The monitoring scenario shared by the real-Prometheus test and the dashboard picture: simulated
 * TF Serving replicas (two of version 1, one of version 2 as the canary), a gateway in front of
 * them, and a real Prometheus scraping the gateway's /metrics every second with the repository's
 * rules. Steady prediction traffic can be started, and the canary made to melt down (every answer
 * a 500) so the rollback controller rolls it back.
 */
import { buildGateway, type Gateway } from '../../gateway/src/app.js';
import { resolveConfig } from '../../gateway/src/config/load.js';
import { createLogger } from '../../gateway/src/observability/logger.js';
import { startSimulator, type SimulatorHandle } from '../../simulator/src/server.js';
import { startPrometheus, type PrometheusServer } from './prometheus-server.js';

export const MONITORED_MODEL = 'half_plus_two';

export interface MonitoredStackOptions {
  /** The canary's share, percent. Default 20. */
  readonly percent?: number;
  /** Scrape and evaluation interval of Prometheus, seconds. Default 1. */
  readonly intervalSeconds?: number;
}

export interface Traffic {
  /** Answers by status code so far. */
  readonly byStatus: Map<number, number>;
  /** Requests that got no answer (connection errors), with the first reason. */
  readonly errors: { count: number; first: string | undefined };
  stop(): Promise<void>;
}

export interface MonitoredStack {
  readonly model: string;
  readonly gateway: Gateway;
  readonly restUrl: string;
  readonly adminUrl: string;
  readonly stable: readonly SimulatorHandle[];
  readonly canary: SimulatorHandle;
  readonly prometheus: PrometheusServer;
  /** `workers` loops sending predictions, each pausing `pauseMs` between requests. */
  startTraffic(workers?: number, pauseMs?: number): Traffic;
  /** The canary's replica answers every request with a 500 from now on. */
  meltdown(): void;
  /** The policy in force has the model rolled back. */
  rolledBack(): boolean;
  close(): Promise<void>;
}

export async function startMonitoredStack(options: MonitoredStackOptions = {}): Promise<MonitoredStack> {
  const sims: SimulatorHandle[] = [];
  let gateway: Gateway | undefined;
  let prometheus: PrometheusServer | undefined;
  const close = async (): Promise<void> => {
    await prometheus?.stop();
    await gateway?.close();
    await Promise.all(sims.map((s) => s.close()));
  };
  try {
    for (const version of [1, 1, 2]) {
      sims.push(await startSimulator({ host: '127.0.0.1', port: 0, model: MONITORED_MODEL, versions: [version], behaviour: version === 1 ? 'half_plus_two' : 'half_plus_three' }));
    }
    const [a, b, c] = sims as [SimulatorHandle, SimulatorHandle, SimulatorHandle];
    const config = resolveConfig(
      {
        listeners: { rest: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
        models: {
          [MONITORED_MODEL]: {
            pools: { '1': { replicas: [a.url, b.url] }, '2': { replicas: [c.url] } },
            // The canary is also the shadow: half of stable's requests are copied to it and compared
            // (half_plus_three never agrees with half_plus_two), for the dashboard's shadow panels.
            policy: { stable: 1, canary: 2, percent: options.percent ?? 20, shadow: { version: 2, percent: 50 } },
            // Generous timeouts: the replicas share this process's event loop with the load.
            healthCheck: { intervalMs: 500, timeoutMs: 2_000 },
            // The meltdown is one of errors: a stall of this busy process must not roll the canary
            // back on latency before it.
            resilience: { analysis: { latencyMarginMs: 60_000 } },
          },
        },
      },
      'monitoring-stack',
      {},
    );
    gateway = await buildGateway({ config, logger: createLogger(process.env['TEST_LOG_LEVEL'] ?? 'warn') });
    const addresses = await gateway.listen();
    const restUrl = `http://127.0.0.1:${addresses.rest.port}`;
    const adminPort = addresses.admin.port;
    prometheus = await startPrometheus({ targets: [`127.0.0.1:${adminPort}`], intervalSeconds: options.intervalSeconds ?? 1 });
    const gw = gateway;
    const predictUrl = `${restUrl}/v1/models/${MONITORED_MODEL}:predict`;
    return {
      model: MONITORED_MODEL,
      gateway: gw,
      restUrl,
      adminUrl: `http://127.0.0.1:${adminPort}`,
      stable: [a, b],
      canary: c,
      prometheus,
      startTraffic: (workers = 4, pauseMs = 5) => sendPredictions(predictUrl, workers, pauseMs),
      meltdown: () => c.setFaults({ errorRate: 1, errorStatus: 500 }),
      rolledBack: () => gw.snapshots.current.models.get(MONITORED_MODEL)?.stored.rolledBack === true,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

function sendPredictions(url: string, workers: number, pauseMs: number): Traffic {
  const byStatus = new Map<number, number>();
  const errors: Traffic['errors'] = { count: 0, first: undefined };
  let running = true;
  const worker = async (): Promise<void> => {
    while (running) {
      try {
        const reply = await fetch(url, { method: 'POST', body: '{"instances": [1.0]}', signal: AbortSignal.timeout(10_000) });
        await reply.arrayBuffer();
        byStatus.set(reply.status, (byStatus.get(reply.status) ?? 0) + 1);
      } catch (err) {
        errors.count++;
        errors.first ??= String(err);
      }
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  };
  const loops = Array.from({ length: workers }, () => worker());
  return {
    byStatus,
    errors,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}
