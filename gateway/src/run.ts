/**
 * Running a gateway as a process: start it, say where it listens, stop it on SIGTERM/SIGINT.
 * Shared by the CLI and the demo.
 */
import { buildGateway, type Gateway } from './app.js';
import { ConfigError, loadConfigFile, type GatewayConfig } from './config/load.js';
import { createLogger } from './observability/logger.js';
import { applyHeapGrowth } from './runtime/heap.js';
import { watchFiles } from './runtime/watch-files.js';

export function formatConfigError(err: ConfigError): string {
  const lines = err.issues.map((i) => `  ${i.path || '(top level)'}: ${i.message}`);
  return `canary-gateway: ${err.message.split(':')[0]}\n${lines.join('\n')}\n`;
}

export async function startGateway(config: GatewayConfig): Promise<Gateway> {
  applyHeapGrowth(config.runtime.heapGrowthPercent);
  const gateway = await buildGateway({ config, logger: createLogger() });
  try {
    await gateway.listen();
  } catch (err) {
    await gateway.close();
    throw err;
  }
  return gateway;
}

export function printStarted(gateway: Gateway): void {
  const rest = gateway.rest.address();
  const admin = gateway.admin.server.address();
  const grpc = gateway.grpc.server.address();
  const where = (a: typeof rest) => (a !== null && typeof a === 'object' ? `${a.address}:${a.port}` : String(a));
  // gRPC last: scripts read the first two.
  process.stdout.write(`canary-gateway: REST on ${where(rest)}, admin API on ${where(admin)}, gRPC on ${where(grpc)}\n`);
  if (gateway.adminTokenGenerated) {
    const token = gateway.adminTokens[0]?.token ?? '';
    process.stdout.write(`canary-gateway: admin token (generated; set ADMIN_TOKEN to choose one): ${token}\n`);
  }
}

/** Resolves with the exit code once SIGTERM or SIGINT has closed the gateway. */
export function waitForSignal(gateway: Gateway, extra: () => Promise<void> = async () => {}): Promise<number> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      process.stdout.write(`canary-gateway: ${signal}, shutting down\n`);
      void gateway.shutdown().then(extra).then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}


/**
 * Reloads the configuration file's replica lists and pools on SIGHUP and when the file changes
 * (runtime/watch-files.ts says how). A file with an error is reported and changes nothing. SIGHUP
 * also reloads the certificates, which the gateway otherwise reloads when their files change.
 */
export function reloadOnChange(file: string, gateway: Gateway): () => void {
  let timer: NodeJS.Timeout | undefined;
  const reload = (why: string): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      void (async () => {
        try {
          const next = loadConfigFile(file);
          const refused = await gateway.reload(next);
          gateway.log.info({ why, refused }, 'configuration file applied');
        } catch (err) {
          if (err instanceof ConfigError) gateway.log.error({ why, issues: err.issues }, 'configuration file rejected: nothing changed');
          else gateway.log.error({ why, err }, 'configuration reload failed');
        }
      })();
    }, 200);
  };
  const onHup = (): void => {
    reload('SIGHUP');
    gateway.reloadCertificates('SIGHUP');
  };
  process.on('SIGHUP', onHup);
  const unwatch = watchFiles([file], () => reload('file changed'), (_directory, err) =>
    gateway.log.warn({ file, err: err.message }, 'cannot watch the configuration file: reload with SIGHUP'),
  );
  return () => {
    clearTimeout(timer);
    process.off('SIGHUP', onHup);
    unwatch();
  };
}
