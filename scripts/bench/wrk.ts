/** wrk as a child process: its request script, its command line, its report parsed. */
import type { ChildProcess } from 'node:child_process';
import { runTool } from './system.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const PREDICT_PATH = '/v1/models/half_plus_two:predict';
export const PREDICT_BODY = '{"instances": [1.0, 2.0, 5.0]}';
/** Real clients send one; with it, a rule that tests user-agent by regex really runs its regex. */
export const USER_AGENT = 'bench-client/1.0';

export interface WrkResult {
  readonly requests: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Connect, read, write errors and timeouts. */
  readonly socketErrors: number;
  readonly non2xx: number;
}

export interface WrkRun {
  readonly url: string;
  readonly connections: number;
  readonly threads: number;
  readonly durationS: number;
  readonly script: string;
}

/** Writes the Lua script that turns every wrk request into the predict POST. */
export function writeWrkScript(dir: string): string {
  const file = join(dir, 'predict.lua');
  writeFileSync(
    file,
    [
      'wrk.method = "POST"',
      `wrk.body = '${PREDICT_BODY}'`,
      'wrk.headers["Content-Type"] = "application/json"',
      `wrk.headers["User-Agent"] = "${USER_AGENT}"`,
      '',
    ].join('\n'),
  );
  return file;
}

/**
 * Runs wrk to completion. `started` gets the child at once, so the caller can stop it on Ctrl-C
 * and read its CPU time.
 */
export async function runWrk(wrk: string, run: WrkRun, started: (child: ChildProcess) => void): Promise<WrkResult> {
  const args = [
    '-t', String(Math.min(run.threads, run.connections)),
    '-c', String(run.connections),
    '-d', `${run.durationS}s`,
    // wrk's default 2 s would count slow answers at 1,000 connections as errors instead of latency.
    '--timeout', '10s',
    '--latency',
    '-s', run.script,
    run.url,
  ];
  return parseWrk(await runTool('wrk', wrk, args, started));
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseWrk(text: string): WrkResult {
  const latency = (pct: string): number => {
    const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(text);
    if (m === null) throw new Error(`wrk printed no ${pct}% latency:\n${text}`);
    return Number(m[1]) * (UNIT_MS[m[2] as string] ?? NaN);
  };
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  const requests = /^\s*(\d+) requests in /m.exec(text);
  if (rps === null || requests === null) throw new Error(`cannot read wrk's report:\n${text}`);
  const sockets = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socketErrors = sockets === null ? 0 : sockets.slice(1).reduce((n, v) => n + Number(v), 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  return { requests: Number(requests[1]), rps: Number(rps[1]), p50Ms: latency('50'), p99Ms: latency('99'), socketErrors, non2xx };
}
