/**
 * Running a gateway as a process: start it, say where it listens, stop it on SIGTERM/SIGINT.
 * Shared by the CLI and the demo.
 */
import { buildGateway, type Gateway } from './app.js';
import type { ConfigError, GatewayConfig } from './config/load.js';
import { createLogger } from './observability/logger.js';

export function formatConfigError(err: ConfigError): string {
  const lines = err.issues.map((i) => `  ${i.path || '(top level)'}: ${i.message}`);
  return `canary-gateway: ${err.message.split(':')[0]}\n${lines.join('\n')}\n`;
}

export async function startGateway(config: GatewayConfig): Promise<Gateway> {
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
  const where = (a: typeof rest) => (a !== null && typeof a === 'object' ? `${a.address}:${a.port}` : String(a));
  process.stdout.write(`canary-gateway: REST on ${where(rest)}, admin API on ${where(admin)}\n`);
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
      void Promise.all([gateway.close(), extra()]).then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

