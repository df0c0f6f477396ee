/**
 * grpc.health.v1 on the gRPC listener: SERVING while the gateway is ready (as /readyz has it),
 * NOT_SERVING otherwise, whatever service is named (TF Serving has no per-version health service to
 * imitate). Every Watch shares one readiness poll, and their number is capped: a client opening
 * streams cannot multiply timers or per-second work.
 */
import type { Http2Session, ServerHttp2Stream } from 'node:http2';
import { frameMessage, GRPC_CONTENT_TYPE, RESPOND_WITH_TRAILERS } from '../../tfserving/grpc-wire.js';
import { GRPC_STATUS } from './wire.js';

export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';
export const HEALTH_WATCH_PATH = '/grpc.health.v1.Health/Watch';
/** Watches open at once on one gateway; more are refused with RESOURCE_EXHAUSTED. */
export const MAX_HEALTH_WATCHES = 1_000;
export const TOO_MANY_WATCHES = `More than ${MAX_HEALTH_WATCHES} health watches are open on this gateway`;
const POLL_MS = 1_000;

/** HealthCheckResponse { status = 1 }: SERVING (1) or NOT_SERVING (2), encoded once. */
const SERVING = frameMessage(Buffer.from([0x08, 1]));
const NOT_SERVING = frameMessage(Buffer.from([0x08, 2]));

export class HealthService {
  readonly #ready: () => boolean;
  readonly #watches = new Set<ServerHttp2Stream>();
  /** Watches by connection: a silent connection with one is not idle (see the listener's idle timeout). */
  readonly #bySession = new WeakMap<Http2Session, number>();
  #timer: NodeJS.Timeout | undefined;
  #last = false;

  constructor(ready: () => boolean) {
    this.#ready = ready;
  }

  /**
   * Answers once the request message is in. `refuse` sends a Trailers-Only error (the listener's
   * own answer, with its request id).
   */
  handle(stream: ServerHttp2Stream, watch: boolean, requestId: string, refuse: (code: number, message: string) => void): void {
    stream.resume();
    stream.once('end', () => {
      if (stream.destroyed) return;
      if (watch && this.#watches.size >= MAX_HEALTH_WATCHES) {
        refuse(GRPC_STATUS.RESOURCE_EXHAUSTED, TOO_MANY_WATCHES);
        return;
      }
      stream.respond({ ':status': 200, 'content-type': GRPC_CONTENT_TYPE, 'x-request-id': requestId }, RESPOND_WITH_TRAILERS);
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(GRPC_STATUS.OK) }));
      const ready = this.#ready();
      stream.write(ready ? SERVING : NOT_SERVING);
      if (!watch) {
        stream.end();
        return;
      }
      if (this.#watches.size === 0) {
        this.#last = ready;
        this.#timer = setInterval(() => this.#poll(), POLL_MS).unref();
      }
      this.#watches.add(stream);
      const session = stream.session;
      if (session !== undefined) this.#bySession.set(session, this.watchesOn(session) + 1);
      stream.once('close', () => {
        this.#forget(stream);
        if (session !== undefined) this.#bySession.set(session, this.watchesOn(session) - 1);
      });
    });
  }

  /** Watches open on one connection. */
  watchesOn(session: Http2Session): number {
    return this.#bySession.get(session) ?? 0;
  }

  /**
   * Shutting down (readiness already fails): each watch is told NOT_SERVING, unless the poll told it
   * already, and ends, so it does not hold its connection open through the drain.
   */
  close(): void {
    const tell = this.#last;
    for (const stream of this.#watches) {
      if (!stream.destroyed) stream.end(tell ? NOT_SERVING : undefined);
    }
    this.#watches.clear();
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #poll(): void {
    const ready = this.#ready();
    if (ready === this.#last) return;
    this.#last = ready;
    for (const stream of this.#watches) {
      if (!stream.destroyed) stream.write(ready ? SERVING : NOT_SERVING);
    }
  }

  #forget(stream: ServerHttp2Stream): void {
    this.#watches.delete(stream);
    if (this.#watches.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
