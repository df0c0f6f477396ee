#!/usr/bin/env -S node --max-semi-space-size=8
/**
 * canary-gateway command line. With --config FILE (or GATEWAY_CONFIG) it serves the replicas that
 * file names; with neither it runs the local demo (simulated replicas, 10% canary).
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile, type GatewayConfig } from './config/load.js';
import { ENV_VARIABLES } from './config/env.js';
import { formatConfigError, printStarted, reloadOnChange, startGateway, waitForSignal } from './run.js';
import { VERSION } from './version.js';

const HELP = `Usage: canary-gateway [--config FILE]

Serves TF Serving's REST API and splits each model's traffic between its stable and canary
versions. Without --config (and without GATEWAY_CONFIG) it starts the local demo: three simulated
TF Serving replicas and a gateway in front of them.

Options:
  -c, --config FILE   configuration file (YAML or JSON)
  -h, --help          show this help
  -v, --version       print the version

Environment:
${Object.entries(ENV_VARIABLES)
  .map(([name, text]) => `  ${name.padEnd(20)}${text}`)
  .join('\n')}
  LOG_LEVEL           pino log level (default info)
`;

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    process.stderr.write(`canary-gateway: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (args.values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (args.values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const file = args.values.config ?? process.env['GATEWAY_CONFIG'];
  if (file === undefined || file === '') {
    const { runDemo } = await import('../../scripts/demo.js');
    return runDemo();
  }
  let config: GatewayConfig;
  try {
    config = loadConfigFile(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(formatConfigError(err));
      return 1;
    }
    throw err;
  }
  const gateway = await startGateway(config);
  // Watching before saying "started": a change made right after that line must not be missed.
  const stopWatching = reloadOnChange(file, gateway);
  printStarted(gateway);
  return waitForSignal(gateway, async () => stopWatching());
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`canary-gateway: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
