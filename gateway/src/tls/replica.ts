/**
 * TLS to https replicas: one secure context for every connection the gateway opens to them (the
 * traffic pools' and the health checker's alike), replaced when the files change, so a renewed
 * client certificate is presented from the next connection on, without a restart.
 */
import { createSecureContext, type ConnectionOptions, type SecureContext } from 'node:tls';
import { buildConnector } from 'undici';
import type { Logger } from '../observability/logger.js';
import { ValidationError, type Issue } from '../validation.js';
import { loadClientTls, type ClientTlsFiles, type TlsMaterial } from './pem.js';
import { TlsReloader } from './reloader.js';

/** Opens connections to replicas, as undici's `connect` option. */
export type ReplicaConnector = buildConnector.connector;

export class ReplicaTls {
  readonly #files: ClientTlsFiles;
  #context: SecureContext;
  /** Bumped with every new context, so connectors rebuild theirs (and drop TLS sessions of the old). */
  #generation = 0;
  /** Undefined without files: nothing to reload. */
  readonly reloader: TlsReloader | undefined;

  /** Loads the files now; throws naming the field when they do not load (they changed since the configuration was checked). */
  constructor(files: ClientTlsFiles, path: string, log: Logger) {
    this.#files = files;
    const issues: Issue[] = [];
    const material = loadClientTls(files, path, issues);
    if (material === undefined) throw new ValidationError('TLS files for the replicas', issues);
    this.#context = createSecureContext({ ...material });
    const watched = [files.caFile, files.certFile, files.keyFile].filter((f): f is string => f !== undefined);
    this.reloader =
      watched.length === 0
        ? undefined
        : new TlsReloader(
            { what: 'replicas', files: watched, load: (found) => loadClientTls(files, path, found), apply: (next) => this.#use(next), log },
            material,
          );
  }

  /** A connector for one pool of connections, `timeoutMs` to connect (and shake hands). */
  connector(timeoutMs: number): ReplicaConnector {
    let built: { generation: number; connect: ReplicaConnector } | undefined;
    return (options, callback) => {
      if (built?.generation !== this.#generation) {
        built = {
          generation: this.#generation,
          connect: buildConnector({
            timeout: timeoutMs,
            secureContext: this.#context,
            rejectUnauthorized: this.#files.rejectUnauthorized,
            ...(this.#files.servername === undefined ? {} : { servername: this.#files.servername }),
          }),
        };
      }
      built.connect(options, callback);
    };
  }

  /** For an HTTP/2 session to a replica's gRPC port over TLS (ALPN h2), with the context in force now. */
  http2Options(): ConnectionOptions {
    return {
      secureContext: this.#context,
      rejectUnauthorized: this.#files.rejectUnauthorized,
      ALPNProtocols: ['h2'],
      ...(this.#files.servername === undefined ? {} : { servername: this.#files.servername }),
    };
  }

  #use(material: TlsMaterial): void {
    this.#context = createSecureContext({ ...material });
    this.#generation++;
  }
}
