/**
 * One TF Serving endpoint: its connection pool, its breaker and the live state the balancer, the
 * health checker and outlier ejection share. The health checker is the only writer of `health`;
 * the pool owns the ejection fields; the proxy only counts outstanding requests.
 */
import { Pool, type buildConnector } from 'undici';
import type { ResilienceSettings } from '../config/load.js';
import { ReplicaBreaker } from './breaker.js';

export type ReplicaHealth = 'unknown' | 'up' | 'down';

export interface ReplicaOptions {
  readonly connections: number;
  readonly keepAliveTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** Opens connections within a timeout (TLS to https replicas: tls/replica.ts); default: undici's own. */
  readonly connector?: (timeoutMs: number) => buildConnector.connector;
}

/** Something a replica owns that must close with it (its gRPC sessions). */
export interface Closable {
  close(): Promise<void>;
}

export class Replica {
  /** Its REST endpoint, `http(s)://host:port`: the replica's identity, with its gRPC port. */
  readonly origin: string;
  /** Its gRPC endpoint: the same host, the gRPC port. */
  readonly grpcOrigin: string;
  readonly grpcPort: number;
  /** Its HTTP/2 sessions, opened on its first gRPC call (protocols/grpc/upstream.ts). */
  grpcUpstream: Closable | undefined = undefined;
  readonly dispatcher: Pool;
  readonly breaker: ReplicaBreaker;
  /** Requests sent and not yet finished: what power-of-two-choices compares. */
  outstanding = 0;
  /** The most requests in flight at once (its connections): a replica at it takes no more. */
  readonly capacity: number;
  /** A new replica is `unknown` and takes no traffic until its first good check. */
  health: ReplicaHealth = 'unknown';
  /** Set by the health checker (updated in place), for the admin API. */
  lastCheck: { at: number; ok: boolean; detail: string } | null = null;
  /** Failed attempts in a row (5xx, connection failures, timeouts): what ejects a replica. */
  consecutiveFailures = 0;
  /** Epoch ms the current ejection ends; 0 while not ejected. */
  ejectedUntil = 0;
  /** Ejections so far; the next one lasts this many times the base. */
  ejections = 0;
  /** Every ejection since start (for /metrics; `ejections` starts over after a quiet spell). */
  ejectionsTotal = 0;
  lastEjectionEnded = 0;
  ejectionTimer: NodeJS.Timeout | undefined;
  /**
   * Set by the health checker: asks it to check this replica now. The exchange calls it when the
   * replica says it does not have its version loaded, so a hot swap takes it out of rotation
   * without waiting for the next interval (the data plane never writes `health` itself).
   */
  recheck: (() => void) | undefined = undefined;

  constructor(origin: string, grpcPort: number, options: ReplicaOptions, breaker: ResilienceSettings['breaker']) {
    this.origin = origin;
    this.grpcPort = grpcPort;
    const url = new URL(origin);
    url.port = String(grpcPort);
    this.grpcOrigin = url.origin;
    this.capacity = options.connections;
    this.dispatcher = new Pool(origin, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: options.keepAliveTimeoutMs,
      connect: options.connector?.(options.connectTimeoutMs) ?? { timeout: options.connectTimeoutMs },
      // The exchange's own timer enforces the attempt timeout and the deadline; undici's timers
      // would only repeat them, at two timer objects per request.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    this.breaker = new ReplicaBreaker(breaker);
  }

  /** Healthy, not ejected, breaker not open: may be picked (a half-open breaker is checked at pick time). */
  get available(): boolean {
    return this.health === 'up' && this.ejectedUntil === 0 && this.breaker.state !== 'open';
  }

  /** Room for one more request in flight, and the breaker would let it through. */
  admits(): boolean {
    return this.outstanding < this.capacity && this.breaker.admits();
  }

  close(): Promise<void> {
    clearTimeout(this.ejectionTimer);
    this.breaker.shutdown();
    return Promise.all([this.dispatcher.destroy(), this.grpcUpstream?.close()]).then(() => undefined);
  }
}
