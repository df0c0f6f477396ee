/**
 * One TF Serving endpoint: its connection pool and the live state the balancer and the health
 * checker share. The health checker is the only writer of `health`; the proxy only counts
 * outstanding requests.
 */
import { Pool } from 'undici';

export type ReplicaHealth = 'unknown' | 'up' | 'down';

export interface ReplicaOptions {
  readonly connections: number;
  readonly keepAliveTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

export class Replica {
  readonly origin: string;
  readonly dispatcher: Pool;
  /** Requests sent and not yet finished: what power-of-two-choices compares. */
  outstanding = 0;
  /** A new replica is `unknown` and takes no traffic until its first good check. */
  health: ReplicaHealth = 'unknown';
  /** Set by the health checker, for the admin API. */
  lastCheck: { readonly at: number; readonly ok: boolean; readonly detail: string } | null = null;

  constructor(origin: string, options: ReplicaOptions) {
    this.origin = origin;
    this.dispatcher = new Pool(origin, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: options.keepAliveTimeoutMs,
      connect: { timeout: options.connectTimeoutMs },
    });
  }

  close(): Promise<void> {
    return this.dispatcher.destroy();
  }
}
