/**
 * HTTP/2 sessions to one replica's gRPC port. Calls are balanced per call across replicas (the
 * pool picks one for every call); to one replica they share a few long-lived sessions, round
 * robin, so one session's flow control or a GOAWAY does not hold every call. A session that was
 * told GOAWAY, failed or closed is replaced at the next call. Windows are sized for tensors of
 * megabytes: Node's 64 KiB defaults make an 8 MiB Predict crawl.
 */
import { connect, constants, type ClientHttp2Session, type SecureClientSessionOptions } from 'node:http2';
import type { ConnectionOptions } from 'node:tls';

/** Per stream and per session: what a replica may send before the gateway reads it. */
export const STREAM_WINDOW_BYTES = 16 * 1024 * 1024;
export const SESSION_WINDOW_BYTES = 64 * 1024 * 1024;

export interface GrpcUpstreamOptions {
  /** Sessions kept to the replica (at least 1). */
  readonly sessions: number;
  readonly connectTimeoutMs: number;
  /** An idle session is closed after this. */
  readonly idleTimeoutMs: number;
  /** For an https:// origin: CA, client certificate, server name, as in force when a session opens. */
  readonly tls?: () => ConnectionOptions;
}

export class GrpcUpstream {
  readonly origin: string;
  readonly #options: GrpcUpstreamOptions;
  readonly #slots: Array<ClientHttp2Session | undefined>;
  /** Per slot: a call was sent on its session since the last idle sweep. */
  readonly #used: boolean[];
  #idleSweep: NodeJS.Timeout | undefined;
  #next = 0;
  #closed = false;

  constructor(origin: string, options: GrpcUpstreamOptions) {
    this.origin = origin;
    this.#options = options;
    this.#slots = new Array<ClientHttp2Session | undefined>(Math.max(1, options.sessions)).fill(undefined);
    this.#used = new Array<boolean>(this.#slots.length).fill(false);
  }

  /** A session to send the next call on (connecting one if its slot is empty). */
  session(): ClientHttp2Session {
    if (this.#closed) throw new Error(`${this.origin}: closed`);
    const slot = this.#next;
    this.#next = (slot + 1) % this.#slots.length;
    this.#used[slot] = true;
    const current = this.#slots[slot];
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    const session = this.#connect(slot);
    this.#slots[slot] = session;
    return session;
  }

  #connect(slot: number): ClientHttp2Session {
    const options: SecureClientSessionOptions = {
      settings: { initialWindowSize: STREAM_WINDOW_BYTES, enablePush: false },
      ...(this.#options.tls?.() ?? {}),
    };
    const session = connect(this.origin, options);
    const forget = (): void => {
      if (this.#slots[slot] === session) this.#slots[slot] = undefined;
    };
    // A replica that never completes the handshake: its calls fail as connection failures.
    const connectTimer = setTimeout(() => session.destroy(new ConnectTimeout(`${this.origin}: no connection within ${this.#options.connectTimeoutMs} ms`)), this.#options.connectTimeoutMs);
    connectTimer.unref();
    session.once('connect', () => {
      clearTimeout(connectTimer);
      session.setLocalWindowSize(SESSION_WINDOW_BYTES);
    });
    session.on('goaway', forget);
    session.on('close', () => {
      clearTimeout(connectTimer);
      forget();
    });
    // Errors reach the calls on the session through their streams; here they only retire it.
    session.on('error', forget);
    // Idle sessions are found by a sweep of the upstream's own, not by node:http2's session timeout,
    // which re-arms its timer (a timer-list insert) on every frame read or written: about a dozen
    // times per call on the two sessions a call crosses (docs/performance.md).
    if (this.#idleSweep === undefined) this.#idleSweep = setTimeout(this.#sweep, this.#options.idleTimeoutMs).unref();
    // Idle sessions do not keep the process alive; calls in flight are held by their client's stream.
    session.unref();
    return session;
  }

  /** Closes (gracefully: calls in flight finish) every session no call was sent on for a whole idle period. */
  readonly #sweep = (): void => {
    let open = false;
    for (let slot = 0; slot < this.#slots.length; slot++) {
      const session = this.#slots[slot];
      if (session !== undefined && !session.destroyed && !session.closed) {
        if (this.#used[slot]) open = true;
        else session.close();
      }
      this.#used[slot] = false;
    }
    if (open && !this.#closed) this.#idleSweep?.refresh();
    else this.#idleSweep = undefined;
  };

  close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#idleSweep);
    const sessions = this.#slots.filter((s): s is ClientHttp2Session => s !== undefined && !s.destroyed);
    this.#slots.fill(undefined);
    return Promise.all(
      sessions.map(
        (s) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => s.destroy(), 1_000).unref();
            s.close(() => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    ).then(() => undefined);
  }
}

/** The session to a replica could not be set up in time (a connect failure, as for REST). */
export class ConnectTimeout extends Error {
  readonly syscall = 'connect';
}

export const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = constants;
