#!/usr/bin/env node
/**
 * Instructions per proxied REST request on the event-loop thread, the gateway against the Node
 * floor (proxy-node-floor.ts), each run under valgrind's callgrind in front of the bench's backend;
 * with --grpc, per unary Predict call against the gRPC Node floor (proxy-grpc-floor.ts), in front
 * of the simulator's gRPC port.
 * CPU time per request on a shared 2-core machine moves by up to 20% from one process to the next
 * (docs/performance.md); an instruction count repeats to within about 1%, so a change of a few
 * percent shows in one run. Only the main thread is counted: V8 compiles optimized code on other
 * threads, and under valgrind that compilation is still going on after thousands of requests (at
 * full speed it is a few percent of the process's CPU).
 *
 * Each process: requests one at a time on one connection (so each request has the event loop to
 * itself, as at the bench's fixed rates): a warm-up, then three windows of the same number of
 * requests, each between a zeroing and a dump of callgrind's counters (callgrind_control). The
 * first finishes the warm-up; the second pauses between requests, so it lasts longer than the
 * third, which runs them back to back and gives the figure. What a second of pauses costs the
 * gateway more than it costs the floor is its periodic work (health checks, ticks), taken out of
 * the per-request figure: under valgrind a request takes about 50 times as long as at full speed,
 * and so carries 50 times the periodic work.
 *
 *   npm run bench:instructions [-- --grpc --warmup 3000 --requests 1500 --baseline DIR --keep DIR]
 *
 * --baseline DIR: also another build's gateway (a checkout with its dist/ built, as for
 * `npm run bench -- --baseline`), reported as this build's ratio to it.
 * --keep DIR: leaves the callgrind outputs in DIR and has each process write node's perf map
 * (/tmp/perf-<pid>.map), to name the JIT-compiled functions in them (the counts then include the
 * map's writing, a little).
 *
 * Needs valgrind (Debian: valgrind). About 4 minutes.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import { Pool } from 'undici';
import { spawnNode, stopChild } from '../lib/processes.js';
import { baselineMain, nodeFlagsOf } from './options.js';
import { callgrindGcInstructions, callgrindTotal, floorPauseCost, instructionFigures, type InstructionFigures, type Window } from './callgrind.js';
import { gatewayConfig, REALISTIC_RULES } from './gateway-config.js';
import { TARGET_CPU_VS_FLOOR } from './report.js';
import { closeSession, connect, grpcCall } from './grpc-call.js';
import { PREDICT_METHOD, smallPredict } from './grpc-messages.js';
import { GATEWAY_MAIN, script, SIMULATOR, sleep } from './runtime.js';
import { PREDICT_BODY, PREDICT_PATH, USER_AGENT } from './wrk.js';

const run = promisify(execFile);
const SMALL_PREDICT = smallPredict();

/** Sends `count` calls through `url`, one at a time on one connection, each answer read whole, `pauseMs` between them. */
type Load = (url: string, count: number, pauseMs?: number) => Promise<void>;

/** REST: predict requests. */
const restLoad: Load = async (url, count, pauseMs = 0) => {
  const pool = new Pool(url, { connections: 1 });
  for (let i = 0; i < count; i++) {
    if (pauseMs > 0 && i > 0) await sleep(pauseMs);
    const res = await pool.request({ method: 'POST', path: PREDICT_PATH, body: PREDICT_BODY, headers: { 'content-type': 'application/json', 'user-agent': USER_AGENT } });
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode} from ${url}`);
  }
  await pool.close();
};

/** gRPC: unary Predict calls over one HTTP/2 connection, each checked for grpc-status 0. */
const grpcLoad: Load = async (url, count, pauseMs = 0) => {
  const session = await connect(url);
  try {
    for (let i = 0; i < count; i++) {
      if (pauseMs > 0 && i > 0) await sleep(pauseMs);
      const answer = await grpcCall(session, PREDICT_METHOD, SMALL_PREDICT, 60_000);
      if (answer.status !== '0') throw new Error(`grpc-status ${String(answer.status)} from ${url}: ${answer.message ?? ''}`);
    }
  } finally {
    await closeSession(session);
  }
};

/**
 * Sends callgrind a command. Callgrind reads it when the process next runs, so one request wakes
 * an idle process; callgrind_control returns once the command is done.
 */
async function control(pid: number, flag: '-z' | '-d', url: string, load: Load): Promise<void> {
  const done = run('callgrind_control', [flag, String(pid)], { timeout: 60_000 });
  await sleep(300);
  await load(url, 1);
  await done;
}

interface Measured {
  readonly steady: Window;
  readonly stretched: Window;
}

/** One window: `count` requests on one connection between a zeroing and a dump; what it counted and took. */
async function window(pid: number, url: string, load: Load, out: string, part: number, count: number, pauseMs: number): Promise<Window> {
  await control(pid, '-z', url, load);
  const started = performance.now();
  await load(url, count, pauseMs);
  const seconds = (performance.now() - started) / 1000;
  await control(pid, '-d', url, load);
  // Dumps are numbered from 1; `-01` is the main thread (--separate-threads).
  const dump = readFileSync(`${out}.${part}-01`, 'utf8');
  const instructions = callgrindTotal(dump);
  const gcInstructions = callgrindGcInstructions(dump);
  process.stderr.write(
    `bench:instructions:   ${count} requests, ${pauseMs.toFixed(1)} ms apart: ${instructions.toLocaleString('en-US')} instructions (${gcInstructions.toLocaleString('en-US')} in GC) in ${seconds.toFixed(1)} s\n`,
  );
  return { instructions, gcInstructions, seconds };
}

async function measure(child: ChildProcess, out: string, url: string, load: Load, o: { warmup: number; requests: number }): Promise<Measured> {
  const pid = child.pid as number;
  await load(url, o.warmup);
  // A first window finishes the warm-up: V8 still tiers code and settles feedback well past the
  // warm-up's requests (this window cost 15-50% more than the next ones in every process).
  const warming = await window(pid, url, load, out, 1, o.requests, 0);
  // Pauses as long as a request took: the stretched window lasts about twice the steady one.
  const stretched = await window(pid, url, load, out, 2, o.requests, (warming.seconds * 1000) / o.requests);
  const steady = await window(pid, url, load, out, 3, o.requests, 0);
  return { steady, stretched };
}

/** Waits until `url` answers a call (the gateway's replicas marked up by their first checks): at most 60 s. */
async function ready(url: string, load: Load): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await load(url, 1);
      return;
    } catch (err) {
      if (attempt >= 120) throw err;
      await sleep(500);
    }
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      warmup: { type: 'string', default: '3000' },
      requests: { type: 'string', default: '1500' },
      baseline: { type: 'string' },
      keep: { type: 'string' },
      grpc: { type: 'boolean', default: false },
    },
  });
  const grpc = values.grpc === true;
  const o = { warmup: Number(values.warmup), requests: Number(values.requests) };
  for (const [name, v] of Object.entries(o)) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a whole number of at least 1`);
  }
  const baseline = values.baseline === undefined ? undefined : baselineMain(values.baseline);
  await run('valgrind', ['--version']).catch(() => {
    throw new Error('valgrind is not installed (Debian: apt-get install valgrind)');
  });
  // --keep: the callgrind outputs stay for callgrind_annotate, and each process writes node's map of
  // its compiled functions (/tmp/perf-<pid>.map) so the addresses of JIT code can be named.
  const dir = values.keep ?? mkdtempSync(join(tmpdir(), 'bench-instructions-'));
  mkdirSync(dir, { recursive: true });
  const mapArgs = values.keep === undefined ? [] : ['--perf-basic-prof-only-functions'];
  const children: ChildProcess[] = [];
  const callgrind = (name: string): string[] => ['valgrind', '-q', '--tool=callgrind', '--separate-threads=yes', '--smc-check=all-non-file', `--callgrind-out-file=${join(dir, name)}`];
  try {
    // REST: the bench's backend; gRPC: the simulator's gRPC port (the gRPC section's backend).
    const backend = grpc
      ? await spawnNode(SIMULATOR, ['--port', '0', '--grpc-port', '0', '--versions', '1,2'], /listening on (http:\/\/\S+) grpc:\/\/\S*:(\d+)/, { ipc: true })
      : await spawnNode(script('backend'), ['--ports', '1'], /listening on \S+ ports (\d+)/, { ipc: true });
    children.push(backend.child);
    const upstream = grpc ? `127.0.0.1:${backend.match[2] as string}` : `http://127.0.0.1:${backend.match[1] as string}`;
    const replica = grpc ? { url: backend.match[1] as string, grpcPort: Number(backend.match[2]) } : upstream;
    const config = join(dir, 'gateway.json');
    writeFileSync(config, JSON.stringify(gatewayConfig({ replicas: [replica], headerRules: REALISTIC_RULES })));
    const env = { ...process.env, LOG_LEVEL: 'warn', GATEWAY_STORE: 'memory', ADMIN_TOKEN: 'bench-instructions-token-0123456789' };
    const load = grpc ? grpcLoad : restLoad;
    const listening = grpc ? /gRPC on ([\d.]+:\d+)/ : /REST on ([\d.]+:\d+)/;
    const results: Array<[string, Measured]> = [];
    const processes: Array<[string, string, string]> = [
      ['Node floor', 'floor', script(grpc ? 'proxy-grpc-floor' : 'proxy-node-floor')],
      ['gateway', 'gateway', GATEWAY_MAIN],
      ...(baseline === undefined ? [] : [['gateway, baseline build', 'baseline', baseline] as [string, string, string]]),
    ];
    for (const [name, file, main] of processes) {
      process.stderr.write(`bench:instructions: ${name} under callgrind (${o.warmup} warm-up, ${o.requests} measured three times)\n`);
      const started =
        file === 'floor'
          ? await spawnNode(main, ['--upstream', upstream], /listening on http:\/\/(\S+)/, { ipc: true, nodeArgs: mapArgs, wrapper: callgrind(file), timeoutMs: 300_000 })
          : await spawnNode(main, ['--config', config], listening, { env, ipc: true, nodeArgs: [...(await nodeFlagsOf(main)), ...mapArgs], wrapper: callgrind(file), timeoutMs: 600_000 });
      children.push(started.child);
      // A fresh gateway routes once its first health checks have passed.
      if (file !== 'floor') await ready(`http://${started.match[1] as string}`, load);
      results.push([name, await measure(started.child, join(dir, file), `http://${started.match[1] as string}`, load, o)]);
      await stopChild(started.child, 60_000);
    }
    const floorRun = (results[0] as [string, Measured])[1];
    const floorPause = floorPauseCost(floorRun.steady, floorRun.stretched);
    const figures = results.map(([name, m]): [string, InstructionFigures] => [name, instructionFigures(o.requests, m.steady, m.stretched, floorPause)]);
    const floor = (figures[0] as [string, InstructionFigures])[1];
    const k = (n: number): string => `${(n / 1000).toFixed(1)}k`;
    const unit = grpc ? 'call' : 'request';
    const lines = [
      `### Instructions per proxied ${grpc ? 'gRPC Predict call' : 'REST request'}, event-loop thread (callgrind; ${grpc ? 'calls' : 'requests'} one at a time: ${o.warmup} of warm-up, then windows of ${o.requests})`,
      '',
      `| process | per ${unit} | of which GC | periodic work per second, beyond the floor's | per ${unit}, periodic work taken out | ÷ floor | the same without GC | ÷ floor |`,
      '|---|---:|---:|---:|---:|---:|---:|---:|',
      ...figures.map(
        ([name, f]) =>
          `| ${name} | ${k(f.perRequest)} | ${k(f.gcPerRequest)} | ${k(f.periodicPerSecond)} | ${k(f.perRequestNet)} | ${(f.perRequestNet / floor.perRequestNet).toFixed(3)}x | ${k(f.perRequestNetWithoutGc)} | ${(f.perRequestNetWithoutGc / floor.perRequestNetWithoutGc).toFixed(3)}x |`,
      ),
      '',
      `GC: V8's Heap::CollectGarbage with its callees (the scavenges and full collections' pauses that fell in the window: a few per window, so the figure with GC moves by up to 15% between processes; the one without repeats to within about 1%, and what the process allocates, \`npm run bench:alloc${grpc ? ' -- --grpc' : ''}\`, says what GC it will cost).`,
      '',
    ];
    const gateway = (figures[1] as [string, InstructionFigures])[1];
    const ratio = gateway.perRequestNet / floor.perRequestNet;
    const ratioWithoutGc = gateway.perRequestNetWithoutGc / floor.perRequestNetWithoutGc;
    const verdict = (r: number): string => (r <= TARGET_CPU_VS_FLOOR ? 'met' : 'missed');
    lines.push(
      `Gateway ÷ floor, periodic work taken out: ${ratio.toFixed(3)}x with GC, ${ratioWithoutGc.toFixed(3)}x without (the CPU target is ${TARGET_CPU_VS_FLOOR}x: ${verdict(ratio)} with GC in this run, ${verdict(ratioWithoutGc)} without).`,
      '',
    );
    const before = figures[2]?.[1];
    if (before !== undefined) {
      lines.push(
        `This build ÷ the baseline build: ${(gateway.perRequestNet / before.perRequestNet).toFixed(3)}x per ${unit}, periodic work taken out; ${(gateway.perRequestNetWithoutGc / before.perRequestNetWithoutGc).toFixed(3)}x without GC.`,
        '',
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await Promise.all(children.map((c) => stopChild(c, 60_000)));
    if (values.keep === undefined) rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`bench:instructions: callgrind outputs kept in ${dir} (pids: ${children.map((c) => c.pid).join(', ')})\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:instructions: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
