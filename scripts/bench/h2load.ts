/**
 * h2load (nghttp2's HTTP/2 load tool) as a child process, sending unary gRPC calls: one request
 * body file (the length-prefixed message) POSTed with gRPC's headers over cleartext HTTP/2.
 *
 * h2load judges answers by HTTP status only, and a gRPC error is an HTTP 200 with a non-zero
 * grpc-status in its trailers: the bench checks each target with a real call before measuring it,
 * and the open-loop generator (which does read grpc-status) covers the rest.
 */
import type { ChildProcess } from 'node:child_process';
import { runTool } from './system.js';
import { USER_AGENT } from './wrk.js';

export interface H2loadRun {
  readonly url: string;
  readonly bodyFile: string;
  readonly clients: number;
  /** Concurrent streams per connection. */
  readonly streams: number;
  readonly threads: number;
  readonly durationS: number;
}

export interface H2loadResult {
  /** Calls completed per second over the run. */
  readonly rps: number;
  readonly requests: number;
  /** Calls that failed at the HTTP level (non-2xx, errored, timed out). */
  readonly failed: number;
  readonly meanMs: number;
  readonly maxMs: number;
}

export async function runH2load(h2load: string, run: H2loadRun, started: (child: ChildProcess) => void): Promise<H2loadResult> {
  const args = [
    '-c', String(run.clients),
    '-m', String(run.streams),
    '-t', String(Math.min(run.threads, run.clients)),
    '-D', String(run.durationS),
    '-d', run.bodyFile,
    '-H', 'content-type: application/grpc',
    '-H', 'te: trailers',
    '-H', `user-agent: ${USER_AGENT}`,
    run.url,
  ];
  return parseH2load(await runTool('h2load', h2load, args, started));
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000 };

export function parseH2load(text: string): H2loadResult {
  const finished = /^finished in [\d.]+(?:us|ms|s), ([\d.]+) req\/s/m.exec(text);
  const requests = /^requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m.exec(text);
  const time = /^time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)/m.exec(text);
  const status = /^status codes: (\d+) 2xx/m.exec(text);
  if (finished === null || requests === null || time === null) throw new Error(`cannot read h2load's report:\n${text}`);
  const ms = (value: string | undefined, unit: string | undefined): number => Number(value) * (UNIT_MS[unit ?? ''] ?? NaN);
  const succeeded = Number(requests[3]);
  // h2load counts 3xx as succeeded; a gRPC server never sends one, a proxy might.
  const non2xx = Math.max(0, succeeded - Number(status?.[1] ?? succeeded));
  return {
    rps: Number(finished[1]),
    requests: Number(requests[2]),
    failed: Number(requests[4]) + non2xx,
    meanMs: ms(time[5], time[6]),
    maxMs: ms(time[3], time[4]),
  };
}
