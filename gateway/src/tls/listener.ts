/**
 * HTTPS on a listener, the same for each (REST, admin, and the gRPC one to come): the options a
 * node:https (or fastify) server starts with, and the reloader that swaps its certificates.
 */
import type { ServerOptions } from 'node:https';
import type { SecureContextOptions, Server as TlsServer } from 'node:tls';
import type { Logger } from '../observability/logger.js';
import { ValidationError, type Issue } from '../validation.js';
import { loadListenerTls, type ListenerTlsFiles, type TlsMaterial } from './pem.js';
import { TlsReloader } from './reloader.js';

/** Whatever Node's defaults say (`--tls-min-v1.0`): TLS 1.0 and 1.1 are broken, and refused. */
export const MIN_TLS_VERSION = 'TLSv1.2';

export interface ListenerTls {
  /** For the server's creation. */
  readonly serverOptions: ServerOptions;
  /** Keeps `server`'s certificates those of the files (call watch() on it once listening). */
  reloading(server: TlsServer): TlsReloader;
}

/**
 * Loads a listener's files now. The configuration was checked at load, so a failure here means the
 * files changed since: thrown, naming the field, and the gateway does not start.
 */
export function listenerTls(files: ListenerTlsFiles, path: string, what: string, log: Logger): ListenerTls {
  const issues: Issue[] = [];
  const material = loadListenerTls(files, path, issues);
  if (material === undefined) throw new ValidationError(`TLS files of the ${what}`, issues);
  return {
    serverOptions: { ...contextOptions(material), requestCert: material.ca !== undefined },
    reloading: (server) =>
      new TlsReloader(
        {
          what,
          files: [files.certFile, files.keyFile, ...(files.clientCaFile === undefined ? [] : [files.clientCaFile])],
          load: (found) => loadListenerTls(files, path, found),
          // setSecureContext builds a context from these options alone: the minimum version too.
          apply: (next) => server.setSecureContext(contextOptions(next)),
          log,
        },
        material,
      ),
  };
}

function contextOptions(material: TlsMaterial): SecureContextOptions {
  return {
    ...(material.cert === undefined ? {} : { cert: material.cert }),
    ...(material.key === undefined ? {} : { key: material.key }),
    ...(material.ca === undefined ? {} : { ca: material.ca }),
    minVersion: MIN_TLS_VERSION,
  };
}
