#!/usr/bin/env node
/**
 * `npm start`. With no arguments and no GATEWAY_CONFIG: the local demo, all in this one process.
 * Two simulated TF Serving replicas serve half_plus_two versions 1 and 2 from one base path, as TF
 * Serving does under `model_version_policy { latest { num_versions: 2 } }`; the gateway in front of
 * them discovers the versions on the replicas (`discover`), serves version 2 as stable and rolls
 * out any newer version that appears on its own (`onNewVersion`: shadow stage, steps, promotion),
 * while a light background load keeps traffic flowing so the rollout goes ahead. The printed lines
 * make version 3 (good) and version 4 (answers differently: rejected) appear through the
 * simulators' control endpoint. With arguments (`npm start -- --config FILE`), the gateway's own
 * command line, unchanged: the demo is a convenience of a checkout, the gateway's executable and
 * image never fall back to it.
 */
import type { AddressInfo } from 'node:net';
import { runCli } from '../../gateway/src/cli.js';
import { resolveConfig } from '../../gateway/src/config/load.js';
import { printStarted, startGateway, waitForSignal } from '../../gateway/src/run.js';
import { collectStartupGarbage } from '../../gateway/src/runtime/heap.js';
import { startSimulator, type SimulatorHandle } from '../../simulator/src/server.js';
import { loadRateFromEnv, startLoad, type Load } from './load.js';

const MODEL = 'half_plus_two';
const REPLICAS = 2;
/** What each replica has loaded at start: the two newest exports, as `latest { num_versions: 2 }` keeps them. */
const VERSIONS = [1, 2];
const STABLE = 2;
/** Requests per second of the background load (DEMO_LOAD overrides; 0 or off: none). */
const DEFAULT_LOAD_RATE = 20;

/**
 * Sized for the default load (20 requests/s): the shadow stage compares 200 pairs (~10 s, every
 * request copied); each step then holds 10 s and 30 canary requests, and the rollback analysis
 * (20 canary requests per 10 s window by default) has enough at 20% of 20/s. Appearance to
 * promotion: about 45 s.
 */
export const DEMO_PLAN = {
  shadow: { minRequests: 200, minAgreement: 0.99, tolerance: { abs: 1e-6, rel: 1e-3 } },
  steps: [20, 50, 100],
  minDwellSeconds: 10,
  minRequests: 30,
} as const;

export async function runDemo(): Promise<number> {
  const loadRate = loadRateFromEnv(process.env['DEMO_LOAD'], DEFAULT_LOAD_RATE);
  const simulators: SimulatorHandle[] = [];
  let load: Load | null = null;
  const stopAll = async (): Promise<void> => {
    await load?.stop();
    await Promise.all(simulators.map((s) => s.close()));
  };
  try {
    for (let i = 0; i < REPLICAS; i++) {
      const sim = await startSimulator({ host: '127.0.0.1', port: 0, grpcPort: 0, model: MODEL, versions: VERSIONS, behaviour: 'half_plus_two' });
      simulators.push(sim);
      await sim.listening;
    }
    const config = resolveConfig(
      {
        models: {
          [MODEL]: {
            discover: { replicas: simulators.map((s) => ({ url: s.url, grpcPort: s.grpcPort ?? 0 })), minShare: 0.5 },
            policy: {
              stable: STABLE,
              headerRules: [{ header: 'x-canary' }],
              sticky: { header: 'x-user-id' },
              onNewVersion: { plan: DEMO_PLAN },
            },
            healthCheck: { intervalMs: 1000, timeoutMs: 500 },
          },
        },
      },
      'demo',
    );
    const gateway = await startGateway(config);
    for (const s of simulators) {
      process.stdout.write(`demo: simulated replica ${s.url} (gRPC port ${s.grpcPort ?? 0}) serves ${MODEL} versions ${VERSIONS.join(' and ')} (half_plus_two)\n`);
    }
    printStarted(gateway);
    const rest = (gateway.rest.address() as AddressInfo).port;
    const grpc = (gateway.grpc.server.address() as AddressInfo).port;
    const admin = (gateway.admin.server.address() as AddressInfo).port;
    const token = gateway.adminTokens[0]?.token ?? '$ADMIN_TOKEN';
    if (loadRate > 0) {
      load = startLoad({ url: `http://127.0.0.1:${rest}`, model: MODEL, rate: loadRate });
      // Stop sending at once on Ctrl-C, before the gateway starts draining; waitForSignal's own
      // handler (registered next) shuts the gateway down, then stopAll waits for what is in flight.
      const started = load;
      const halt = (): void => void started.stop();
      process.once('SIGINT', halt);
      process.once('SIGTERM', halt);
    }
    const replicas = simulators.map((s) => s.url).join(' ');
    const patch = (body: string): string => `  for r in ${replicas}; do curl -s -o /dev/null -X PUT $r/_sim/control -d '${body}'; done`;
    const api = `curl -s localhost:${admin}/api`;
    const auth = `-H 'Authorization: Bearer ${token}'`;
    const plan = `shadow ${DEMO_PLAN.shadow.minRequests} compared pairs (${DEMO_PLAN.shadow.minAgreement * 100}% agreeing), then ${DEMO_PLAN.steps.join('% -> ')}% (${DEMO_PLAN.minDwellSeconds} s and ${DEMO_PLAN.minRequests} requests each), then promotion`;
    process.stdout.write(
      [
        `demo: policy: stable ${STABLE}; versions found on the replicas are rolled out by themselves: ${plan}; header x-canary: always|never, sticky key header x-user-id`,
        loadRate > 0
          ? `demo: background load: ${loadRate} REST predict requests/s to the gateway (DEMO_LOAD=off npm start for none, DEMO_LOAD=<n> for another rate)`
          : 'demo: background load off (DEMO_LOAD); the rollout waits for your traffic',
        `demo: admin UI: http://localhost:${admin}/ (sign in with the admin token)`,
        'demo: try it (every version here answers as half_plus_two: [2.5, 3.0, 4.5]; the x-model-version header says which one served):',
        `  curl -si -X POST localhost:${rest}/v1/models/${MODEL}:predict -d '{"instances": [1.0, 2.0, 5.0]}'`,
        `  curl -si -X POST localhost:${rest}/v1/models/${MODEL}/versions/1:predict -d '{"instances": [1.0]}'`,
        `  npm run predict:grpc -- localhost:${grpc}`,
        `  ${api}/models/${MODEL} ${auth} | jq '{stable: .policy.stable, canary: .policy.canary, percent: .policy.percent, versions}'`,
        `  ${api}/audit?model=${MODEL} ${auth} | jq -r '.entries | reverse | .[] | "\\(.at) \\(.reason) \\(.note)"'`,
        'demo: the hot-update loop (demo/README.md): version 3, same answers, is found, shadowed, rolled out and promoted (about a minute);',
        '      with latest 2, its arrival unloads version 1:',
        patch('{"versions": {"3": {"state": "AVAILABLE", "behaviour": "half_plus_two"}, "1": "END"}}'),
        'demo: then version 4, which answers as half_plus_three: found, disagrees in the shadow stage, rejected, no user served by it:',
        patch('{"versions": {"4": {"state": "AVAILABLE", "behaviour": "half_plus_three"}, "2": "END"}}'),
        `demo: clear the rejection to try it again: curl -s -X DELETE localhost:${admin}/api/models/${MODEL}/rejected/4 ${auth}`,
        '',
      ].join('\n'),
    );
    return await waitForSignal(gateway, stopAll);
  } catch (err) {
    await stopAll();
    throw err;
  }
}

// As the gateway's own entry point does: after the imports, before anything runs.
collectStartupGarbage();
const argv = process.argv.slice(2);
const configured = argv.length > 0 || (process.env['GATEWAY_CONFIG'] ?? '') !== '';
(configured ? runCli(argv) : runDemo()).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${configured ? 'canary-gateway' : 'demo'}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
