#!/usr/bin/env node
/**
 * `npm start`. With no arguments and no GATEWAY_CONFIG: the local demo, three simulated TF Serving
 * replicas (two serving half_plus_two version 1, one serving version 2 that answers as
 * half_plus_three, so a client can see which version answered) and a gateway in front of them with
 * a 10% canary, all in this one process. With arguments (`npm start -- --config FILE`), the
 * gateway's own command line, unchanged: the demo is a convenience of a checkout, the gateway's
 * executable and image never fall back to it.
 */
import type { AddressInfo } from 'node:net';
import { runCli } from '../../gateway/src/cli.js';
import { resolveConfig } from '../../gateway/src/config/load.js';
import { printStarted, startGateway, waitForSignal } from '../../gateway/src/run.js';
import { startSimulator, type Behaviour, type SimulatorHandle } from '../../simulator/src/server.js';

interface DemoReplica {
  readonly version: number;
  readonly behaviour: Behaviour;
}

const REPLICAS: readonly DemoReplica[] = [
  { version: 1, behaviour: 'half_plus_two' },
  { version: 1, behaviour: 'half_plus_two' },
  { version: 2, behaviour: 'half_plus_three' },
];

export async function runDemo(): Promise<number> {
  const simulators: SimulatorHandle[] = [];
  const stopSimulators = async (): Promise<void> => {
    await Promise.all(simulators.map((s) => s.close()));
  };
  try {
    const started: Array<DemoReplica & { url: string; grpcPort: number }> = [];
    for (const replica of REPLICAS) {
      const sim = await startSimulator({ host: '127.0.0.1', port: 0, grpcPort: 0, model: 'half_plus_two', versions: [replica.version], behaviour: replica.behaviour });
      simulators.push(sim);
      await sim.listening;
      started.push({ ...replica, url: sim.url, grpcPort: sim.grpcPort ?? 0 });
    }
    const replicasOf = (version: number): Array<{ url: string; grpcPort: number }> => started.filter((s) => s.version === version).map((s) => ({ url: s.url, grpcPort: s.grpcPort }));
    const config = resolveConfig(
      {
        models: {
          half_plus_two: {
            pools: { '1': { replicas: replicasOf(1) }, '2': { replicas: replicasOf(2) } },
            policy: { stable: 1, canary: 2, percent: 10, headerRules: [{ header: 'x-canary' }], sticky: { header: 'x-user-id' } },
            healthCheck: { intervalMs: 1000, timeoutMs: 500 },
          },
        },
      },
      'demo',
    );
    const gateway = await startGateway(config);
    for (const s of started) {
      process.stdout.write(`demo: simulated replica ${s.url} (gRPC port ${s.grpcPort}) serves half_plus_two version ${s.version} (${s.behaviour})\n`);
    }
    printStarted(gateway);
    const rest = (gateway.rest.address() as AddressInfo).port;
    const grpc = (gateway.grpc.server.address() as AddressInfo).port;
    const admin = (gateway.admin.server.address() as AddressInfo).port;
    process.stdout.write(
      [
        'demo: policy: stable 1, canary 2 at 10%, header x-canary: always|never, sticky key header x-user-id',
        `demo: admin UI: http://localhost:${admin}/ (sign in with the admin token)`,
        'demo: try it (version 1 answers [2.5, 3.0, 4.5], version 2 answers [3.5, 4.0, 5.5]):',
        `  curl -si -X POST localhost:${rest}/v1/models/half_plus_two:predict -d '{"instances": [1.0, 2.0, 5.0]}'`,
        `  curl -si -X POST localhost:${rest}/v1/models/half_plus_two:predict -H 'x-canary: always' -d '{"instances": [1.0]}'`,
        `  npm run predict:grpc -- localhost:${grpc} --header x-canary=always`,
        `  curl -s localhost:${admin}/api/models -H 'Authorization: Bearer ${gateway.adminTokens[0]?.token ?? '$ADMIN_TOKEN'}'`,
        '',
      ].join('\n'),
    );
    return await waitForSignal(gateway, stopSimulators);
  } catch (err) {
    await stopSimulators();
    throw err;
  }
}

const argv = process.argv.slice(2);
const configured = argv.length > 0 || (process.env['GATEWAY_CONFIG'] ?? '') !== '';
(configured ? runCli(argv) : runDemo()).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${configured ? 'canary-gateway' : 'demo'}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
