/**
 * A real gateway for tests: built from a configuration document, listening on 127.0.0.1 with
 * ephemeral ports, logging only warnings unless TEST_LOG_LEVEL says otherwise.
 */
import type { AddressInfo } from 'node:net';
import { buildGateway, type Gateway } from '../../gateway/src/app.js';
import { resolveConfig } from '../../gateway/src/config/load.js';
import { createLogger, type Logger } from '../../gateway/src/observability/logger.js';
import type { ListenerTlsFiles } from '../../gateway/src/tls/pem.js';

export const TEST_TOKEN = 'test-admin-token-0123456789';
export const VIEWER_TOKEN = 'test-viewer-token-0123456789';

export interface TestGateway {
  readonly gateway: Gateway;
  /** Base URL of the REST (data) port. */
  readonly rest: string;
  /** Base URL of the admin port. */
  readonly admin: string;
  /** host:port of the gRPC port. */
  readonly grpc: string;
  close(): Promise<void>;
}

/**
 * `document` is a configuration without listeners or admin section; `adminCors` sets the admin
 * API's allowed origins, `restTls`, `grpcTls` and `adminTls` the listeners' TLS (their URLs are then https).
 */
export async function startTestGateway(
  document: Record<string, unknown> & { adminCors?: string[]; restTls?: ListenerTlsFiles; adminTls?: ListenerTlsFiles; grpcTls?: ListenerTlsFiles },
  logger: Logger = createLogger(process.env['TEST_LOG_LEVEL'] ?? 'warn'),
): Promise<TestGateway> {
  const { adminCors, restTls, adminTls, grpcTls, ...rest } = document;
  const listener = (tls: ListenerTlsFiles | undefined) => ({ host: '127.0.0.1', port: 0, ...(tls === undefined ? {} : { tls }) });
  const config = resolveConfig(
    {
      ...rest,
      listeners: { rest: listener(restTls), grpc: listener(grpcTls), admin: listener(adminTls) },
      admin: {
        tokens: [
          { name: 'test-operator', token: TEST_TOKEN, role: 'operator' },
          { name: 'test-viewer', token: VIEWER_TOKEN, role: 'viewer' },
        ],
        ...(adminCors === undefined ? {} : { cors: { origins: adminCors } }),
      },
    },
    'test',
    {},
  );
  const gateway = await buildGateway({ config, logger });
  try {
    const addresses = await gateway.listen();
    return {
      gateway,
      rest: url(addresses.rest, restTls !== undefined),
      admin: url(addresses.admin, adminTls !== undefined),
      grpc: `127.0.0.1:${addresses.grpc.port}`,
      close: () => gateway.close(),
    };
  } catch (err) {
    await gateway.close();
    throw err;
  }
}

function url(address: AddressInfo, tls: boolean): string {
  return `${tls ? 'https' : 'http'}://127.0.0.1:${address.port}`;
}

/** Polls `condition` every 25 ms until it holds or `timeoutMs` passes; then fails with `what`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
