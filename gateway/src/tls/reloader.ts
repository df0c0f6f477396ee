/**
 * Certificates that renew while the gateway runs (cert-manager, a Kubernetes Secret): the files
 * are read again when they change and on SIGHUP, and the new material goes into force only if it
 * loads whole. Files caught half-written (a new certificate beside the old key) or broken are
 * logged with the field at fault, and the material in force stays; the next change tries again.
 */
import type { Logger } from '../observability/logger.js';
import { watchFiles } from '../runtime/watch-files.js';
import type { Issue } from '../validation.js';
import { describeCertificate, type TlsMaterial } from './pem.js';

export interface TlsReloaderOptions {
  /** Who uses the files, for the logs: "REST listener", "replicas". */
  readonly what: string;
  readonly files: readonly string[];
  /** Reads and checks the files; undefined with issues recorded when they do not load. */
  readonly load: (issues: Issue[]) => TlsMaterial | undefined;
  /** Puts loaded material into force (for new connections; those open keep theirs). */
  readonly apply: (material: TlsMaterial) => void;
  readonly log: Logger;
}

/** A burst of events (a Secret update touches several entries) is one reload. */
const SETTLE_MS = 200;

export class TlsReloader {
  readonly #options: TlsReloaderOptions;
  /** The material in force, to tell a change from a touch. */
  #current: TlsMaterial;
  #timer: NodeJS.Timeout | undefined;
  #unwatch: (() => void) | undefined;

  constructor(options: TlsReloaderOptions, initial: TlsMaterial) {
    this.#options = options;
    this.#current = initial;
  }

  /** Starts watching the files' directories. */
  watch(): void {
    if (this.#unwatch !== undefined) return;
    const { files, what, log } = this.#options;
    this.#unwatch = watchFiles(files, () => this.reload('file changed'), (directory, err) =>
      log.warn({ tls: what, directory, err: err.message }, 'cannot watch TLS files: they are reloaded on SIGHUP only'),
    );
  }

  /** Reads the files again shortly (a burst of calls is one read). */
  reload(why: string): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#reloadNow(why), SETTLE_MS);
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#unwatch?.();
    this.#unwatch = undefined;
  }

  #reloadNow(why: string): void {
    const { what, load, apply, log } = this.#options;
    const issues: Issue[] = [];
    const material = load(issues);
    if (material === undefined) {
      log.error({ tls: what, why, issues }, 'TLS files rejected: the certificates in force stay');
      return;
    }
    if (material.ca === this.#current.ca && material.cert === this.#current.cert && material.key === this.#current.key) return;
    try {
      apply(material);
    } catch (err) {
      log.error({ tls: what, why, err: (err as Error).message }, 'TLS files rejected: the certificates in force stay');
      return;
    }
    this.#current = material;
    log.info({ tls: what, why, certificate: describeCertificate(material.cert) }, 'TLS certificates reloaded');
  }
}
