/**
 * Access log lines, off by default (a line per request is a cost on the hot path), for both
 * protocols alike: `errors` logs requests that ended in a server-side error (a 5xx, or a gRPC
 * status that maps to one) or were cut; `all` logs a `sampleRate` share of them. Every line carries
 * the request id (as the replicas see it) and the protocol.
 */
import { performance } from 'node:perf_hooks';
import type { AccessLogSettings } from '../config/load.js';
import type { Protocol } from '../dataplane/stats.js';
import type { Logger } from './logger.js';

export interface AccessLine {
  readonly requestId: string;
  readonly protocol: Protocol;
  /** REST: the HTTP method; gRPC: the service method path. */
  readonly method: string | undefined;
  /** REST only: the request target as sent. */
  readonly url?: string | undefined;
  /** What the client got: the HTTP status (REST), the gRPC status code (gRPC); 0 when nothing was sent. */
  readonly status: number;
  /** The version that served it, if a replica did. */
  readonly version: string | undefined;
  readonly ms: number;
  /** The answer was sent whole. */
  readonly complete: boolean;
}

export interface AccessLog {
  /** Whether to follow this request (sampling decided once, at its start). */
  follow(): boolean;
  /** Writes the line; `failed`: a server-side error or a cut answer. */
  write(line: AccessLine, failed: boolean): void;
}

export function createAccessLog(settings: AccessLogSettings, log: Logger): AccessLog | undefined {
  if (settings.access === 'off') return undefined;
  const errorsOnly = settings.access === 'errors';
  return {
    follow: () => errorsOnly || settings.sampleRate >= 1 || Math.random() < settings.sampleRate,
    write(line, failed) {
      if (errorsOnly && !failed) return;
      if (failed) log.warn(line, 'request');
      else log.info(line, 'request');
    },
  };
}

/** Milliseconds since `started`, to two decimals. */
export function elapsedMs(started: number): number {
  return Math.round((performance.now() - started) * 100) / 100;
}
