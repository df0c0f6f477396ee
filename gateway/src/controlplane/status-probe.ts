/**
 * One GET of a replica's status, bounded in time and size, as an undici dispatch handler: the
 * health checks (a version's status) and the discovery of versions (the model's) of a large pool
 * run hundreds of these a second. Through `agent.request` with
 * `AbortSignal.timeout`, each check also cost an AbortSignal, its listener map, a WeakRef, a
 * finalization registration, a response stream and its reader: with two pools of 200 replicas and
 * no requests, the gateway allocated 10.1 MB/s that way and 6.7 MB/s this way, for about 0.7x the
 * CPU (docs/performance.md). A check ends at its deadline even while its connection is still being
 * opened, where an aborted `agent.request` waits for the connection (10 s for a replica that drops
 * SYNs).
 */
import { Agent, type buildConnector, type Dispatcher } from 'undici';

/**
 * Largest status answer read: TF lists each version it knows, a few hundred bytes each; more is a
 * replica that is not TF Serving.
 */
export const STATUS_BODY_LIMIT = 256 * 1024;

/** An answer (its body undefined when over STATUS_BODY_LIMIT), or why there was none. */
export type StatusAnswer =
  | { readonly answered: true; readonly statusCode: number; readonly body: string | undefined }
  | { readonly answered: false; readonly detail: string };

/** Why a probe cut its request: it has settled already, so nobody reads this. */
class Abandoned extends Error {}

class StatusProbe implements Dispatcher.DispatchHandler {
  readonly #resolve: (answer: StatusAnswer) => void;
  readonly #timeoutMs: number;
  readonly #timer: NodeJS.Timeout;
  #abort: ((err?: Error) => void) | undefined;
  #settled = false;
  #statusCode = 0;
  #chunks: Buffer[] = [];
  #bytes = 0;

  constructor(resolve: (answer: StatusAnswer) => void, timeoutMs: number) {
    this.#resolve = resolve;
    this.#timeoutMs = timeoutMs;
    this.#timer = setTimeout(() => this.#timeout(), timeoutMs);
  }

  #settle(answer: StatusAnswer): void {
    if (this.#settled) return;
    this.#settled = true;
    clearTimeout(this.#timer);
    this.#chunks = [];
    this.#resolve(answer);
  }

  #timeout(): void {
    this.#settle({ answered: false, detail: `timeout after ${this.#timeoutMs} ms` });
    this.#abort?.(new Abandoned());
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.#settled) abort(new Abandoned());
  }

  onHeaders(statusCode: number): boolean {
    this.#statusCode = statusCode;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.#bytes += chunk.length;
    if (this.#bytes > STATUS_BODY_LIMIT) {
      this.#settle({ answered: true, statusCode: this.#statusCode, body: undefined });
      this.#abort?.(new Abandoned());
      return false;
    }
    this.#chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    this.#settle({ answered: true, statusCode: this.#statusCode, body: Buffer.concat(this.#chunks, this.#bytes).toString('utf8') });
  }

  onError(err: Error): void {
    const e = err as { code?: string; message?: string };
    this.#settle({ answered: false, detail: e.code ?? e.message ?? 'error' });
  }
}

/**
 * The probes' own connections, one per replica, so a saturated traffic pool cannot starve them.
 * No headers or body timeout: each probe's timer bounds its whole check, and undici would make
 * those timers anew on every check (its keep-alive timer is of another kind, so neither is
 * refreshed in place), each living until the next check, through a scavenge.
 */
export function probeAgent(connect: buildConnector.connector | undefined): Agent {
  return new Agent({
    connections: 1,
    keepAliveTimeout: 10_000,
    pipelining: 1,
    headersTimeout: 0,
    bodyTimeout: 0,
    ...(connect === undefined ? {} : { connect }),
  });
}

/** GETs `path` from `origin` through `dispatcher`; never rejects. */
export function probeStatus(dispatcher: Dispatcher, origin: string, path: string, timeoutMs: number): Promise<StatusAnswer> {
  return new Promise((resolve) => {
    const probe = new StatusProbe(resolve, timeoutMs);
    try {
      // The probe's own timer bounds the whole check; undici's timeouts would only race it.
      dispatcher.dispatch({ origin, path, method: 'GET' }, probe);
    } catch (err) {
      probe.onError(err as Error);
    }
  });
}
