/**
 * The canary-gateway command line: `canary-gateway --config FILE` serves, `canary-gateway validate
 * --config FILE` checks a file without opening a port or touching the store. Kept apart from
 * main.ts so that the demo (demo/src/main.ts) can hand a command line over to it.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile, type GatewayConfig } from './config/load.js';
import { ENV_VARIABLES } from './config/env.js';
import { describeConfig } from './config/describe.js';
import { formatConfigError, printStarted, reloadOnChange, startGateway, waitForSignal } from './run.js';
import { VERSION } from './version.js';

export const HELP = `Usage: canary-gateway --config FILE            serve TF Serving's REST API through the gateway
       canary-gateway validate --config FILE   check a configuration: every error, or a summary
       canary-gateway --help | --version

Serves TF Serving's REST API and splits each model's traffic between its stable and canary
versions, as the configuration file says. validate reads the file and the environment as start-up
does and exits 0 (valid) or 1 (every error listed), without opening a port or touching the store.

Options:
  -c, --config FILE   configuration file (YAML or JSON); GATEWAY_CONFIG names it too
  -h, --help          show this help
  -v, --version       print the version

Environment:
${Object.entries(ENV_VARIABLES)
  .map(([name, text]) => `  ${name.padEnd(20)}${text}`)
  .join('\n')}
  LOG_LEVEL           pino log level (default info)
`;

/** What a bare start says: the image and the bin never fall back to a demo. */
export const NO_CONFIG_MESSAGE =
  'canary-gateway: no configuration: pass --config FILE or set GATEWAY_CONFIG (canary-gateway --help; the local demo is `npm start` in a checkout)\n';

interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const stdio: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

/** Runs one command line; resolves with the process exit code (serving resolves on SIGTERM/SIGINT). */
export async function runCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, io: Io = stdio): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: [...argv],
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    io.err(`canary-gateway: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (args.values.help) {
    io.out(HELP);
    return 0;
  }
  if (args.values.version) {
    io.out(`${VERSION}\n`);
    return 0;
  }
  const [command, ...extra] = args.positionals;
  if ((command !== undefined && command !== 'validate') || extra.length > 0) {
    io.err(`canary-gateway: unknown command "${[command, ...extra].join(' ')}"\n\n${HELP}`);
    return 2;
  }
  const file = args.values.config ?? env['GATEWAY_CONFIG'];
  if (file === undefined || file === '') {
    io.err(NO_CONFIG_MESSAGE);
    return 2;
  }
  let config: GatewayConfig;
  try {
    config = loadConfigFile(file, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.err(formatConfigError(err));
      return 1;
    }
    throw err;
  }
  if (command === 'validate') {
    io.out(describeConfig(file, config, env));
    return 0;
  }
  const gateway = await startGateway(config);
  // Watching before saying "started": a change made right after that line must not be missed.
  const stopWatching = reloadOnChange(file, gateway);
  printStarted(gateway);
  return waitForSignal(gateway, async () => stopWatching());
}
