/**
 * The local demo behind a bare `npm start`: three simulated TF Serving replicas (two serving
 * half_plus_two version 1, one serving version 2 that answers as half_plus_three, so a client can
 * see which version answered) and a gateway in front of them with a 10% canary.
 */
import type { ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { resolveConfig } from '../gateway/src/config/load.js';
import { printStarted, startGateway, waitForSignal } from '../gateway/src/run.js';
import { spawnNode, stopChild } from './lib/processes.js';

const SIMULATOR = fileURLToPath(new URL('./tfserving-sim/main.js', import.meta.url));

interface DemoReplica {
  readonly version: number;
  readonly behaviour: 'half_plus_two' | 'half_plus_three';
}

const REPLICAS: readonly DemoReplica[] = [
  { version: 1, behaviour: 'half_plus_two' },
  { version: 1, behaviour: 'half_plus_two' },
  { version: 2, behaviour: 'half_plus_three' },
];

/** Starts one simulator on an ephemeral port and resolves with its URL once it listens. */
async function spawnSimulator(replica: DemoReplica): Promise<{ child: ChildProcess; url: string }> {
  const { child, match } = await spawnNode(
    SIMULATOR,
    ['--port', '0', '--model', 'half_plus_two', '--version', String(replica.version), '--behaviour', replica.behaviour],
    /listening on (http:\/\/\S+)/,
    { ipc: true, timeoutMs: 10_000 },
  );
  return { child, url: match[1] as string };
}

export async function runDemo(): Promise<number> {
  const children: ChildProcess[] = [];
  const stopChildren = async (): Promise<void> => {
    await Promise.all(children.map((c) => stopChild(c)));
  };
  try {
    const started: Array<DemoReplica & { url: string }> = [];
    for (const replica of REPLICAS) {
      const sim = await spawnSimulator(replica);
      children.push(sim.child);
      started.push({ ...replica, url: sim.url });
    }
    const replicasOf = (version: number) => started.filter((s) => s.version === version).map((s) => s.url);
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
      process.stdout.write(`demo: simulated replica ${s.url} serves half_plus_two version ${s.version} (${s.behaviour})\n`);
    }
    printStarted(gateway);
    const rest = (gateway.rest.address() as AddressInfo).port;
    const admin = (gateway.admin.server.address() as AddressInfo).port;
    process.stdout.write(
      [
        'demo: policy: stable 1, canary 2 at 10%, header x-canary: always|never, sticky key header x-user-id',
        `demo: admin UI: http://localhost:${admin}/ (sign in with the admin token)`,
        'demo: try it (version 1 answers [2.5, 3.0, 4.5], version 2 answers [3.5, 4.0, 5.5]):',
        `  curl -si -X POST localhost:${rest}/v1/models/half_plus_two:predict -d '{"instances": [1.0, 2.0, 5.0]}'`,
        `  curl -si -X POST localhost:${rest}/v1/models/half_plus_two:predict -H 'x-canary: always' -d '{"instances": [1.0]}'`,
        `  curl -s localhost:${admin}/api/models -H 'Authorization: Bearer ${gateway.adminTokens[0]?.token ?? '$ADMIN_TOKEN'}'`,
        '',
      ].join('\n'),
    );
    return await waitForSignal(gateway, stopChildren);
  } catch (err) {
    await stopChildren();
    throw err;
  }
}
