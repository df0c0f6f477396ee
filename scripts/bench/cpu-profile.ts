#!/usr/bin/env node
/**
 * Where the gateway's CPU time per request goes beyond the Node floor's, by sampling: each process
 * (the floor, proxy-node-floor.ts, and the gateway) under the same fixed-rate load from the
 * open-loop generator, recorded with `perf record -e cpu-clock -g` (every thread, kernel
 * included), then classed and compared per request (perf-samples.ts). The instruction count
 * (`npm run bench:instructions`) is repeatable but sees only user space and counts instructions,
 * not time; this sees time, kernel included, at the price of a run's noise.
 *
 *   npm run bench:cpu-profile [-- --rate 2000 --duration 15 --settle 20 --hz 1999 --keep DIR]
 *
 * Both processes are warmed at the rate, then left idle for --settle seconds (V8's memory reducer
 * runs once a process goes idle), then each is recorded twice over --duration seconds of load, in
 * the order floor, gateway, gateway, floor. A recording also holds the generator's start-up (a few
 * hundred milliseconds of idle process).
 * Needs perf (Debian: linux-perf) and, as root or with perf_event_paranoid <= 0, access to the
 * kernel's symbols. About 3 minutes.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { spawnNode, stopChild } from '../lib/processes.js';
import { GATEWAY_NODE_FLAGS } from '../../gateway/src/runtime/heap.js';
import { gatewayConfig, REALISTIC_RULES } from './gateway-config.js';
import { TARGET_CPU_VS_FLOOR } from './report.js';
import { PerfMap } from './perf-map.js';
import { largestGains, parsePerfScript, SAMPLE_CLASSES, summarize, type Sample, type SampleSummary } from './perf-samples.js';
import { PREDICT_PATH } from './wrk.js';
import { GATEWAY_MAIN, script } from './runtime.js';

/** The generator at `rate` for `warmupS` + `durationS`; resolves with the requests it sent in all, once every one is answered. */
async function load(url: string, rate: number, durationS: number, warmupS: number): Promise<number> {
  const child = spawn(process.execPath, [script('loadgen'), '--url', `${url}${PREDICT_PATH}`, '--rate', String(rate), '--duration', String(durationS), '--warmup', String(warmupS), '--connections', '50'], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  let requests = 0;
  for await (const line of createInterface({ input: child.stdout as NodeJS.ReadableStream })) {
    if (line.startsWith('loadgen-result ')) {
      const result = JSON.parse(line.slice('loadgen-result '.length)) as { requests: number; failed: number };
      if (result.failed > 0) throw new Error(`${result.failed} requests to ${url} failed`);
      requests = result.requests + Math.round(warmupS * rate);
    }
  }
  if (child.exitCode === null) await once(child, 'exit');
  if (requests === 0) throw new Error(`the generator against ${url} gave no result`);
  return requests;
}

async function record(pid: number, out: string, hz: number, during: () => Promise<number>): Promise<number> {
  const perf = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', String(hz), '-g', '-p', String(pid), '-o', out], { stdio: ['ignore', 'ignore', 'inherit'] });
  // perf attaches to every thread before it samples; give it that moment.
  await new Promise((resolve) => setTimeout(resolve, 300));
  try {
    return await during();
  } finally {
    perf.kill('SIGINT');
    if (perf.exitCode === null) await once(perf, 'exit');
  }
}

const us = (n: number): string => n.toFixed(1);

/** A process's recordings: their samples and requests together, and each one's CPU per request. */
interface Collected {
  readonly samples: Sample[];
  requests: number;
  readonly passes: number[];
}

function report(floor: SampleSummary, gateway: SampleSummary, o: { rate: number; durationS: number; hz: number }): string {
  const ratio = gateway.usPerRequest.total / floor.usPerRequest.total;
  const user = (s: SampleSummary): number => s.usPerRequest.total - s.usPerRequest.kernel;
  const lines = [
    `### CPU per proxied REST request by sampling (perf cpu-clock at ${o.hz} Hz, every thread; ${o.rate.toLocaleString('en-US')} req/s, each process recorded twice for ${o.durationS} s, in the order floor, gateway, gateway, floor)`,
    '',
    '| where the sample was | Node floor, µs | gateway, µs | gateway − floor |',
    '|---|---:|---:|---:|',
    ...SAMPLE_CLASSES.map((c) => `| ${c} | ${us(floor.usPerRequest[c])} | ${us(gateway.usPerRequest[c])} | ${us(gateway.usPerRequest[c] - floor.usPerRequest[c])} |`),
    `| **all** | **${us(floor.usPerRequest.total)}** | **${us(gateway.usPerRequest.total)}** | ${us(gateway.usPerRequest.total - floor.usPerRequest.total)} |`,
    '',
    `Gateway ÷ floor: ${ratio.toFixed(3)}x in all (the CPU target is ${TARGET_CPU_VS_FLOOR}x: ${ratio <= TARGET_CPU_VS_FLOOR ? 'met' : 'missed'} in this run), ${(user(gateway) / user(floor)).toFixed(3)}x in user space, ${(gateway.usPerRequest.kernel / floor.usPerRequest.kernel).toFixed(3)}x in the kernel (${floor.samples} and ${gateway.samples} samples).`,
    '',
    '**Where the gateway spends more** (leaf symbols, µs per request):',
    '',
    '| symbol | floor | gateway |',
    '|---|---:|---:|',
    ...largestGains(floor.bySymbol, gateway.bySymbol, 20).map((g) => `| \`${g.key.slice(0, 110)}\` | ${us(g.a)} | ${us(g.b)} |`),
    '',
    '**Megamorphic property lookups, by the function that made them** (µs per request):',
    '',
    '| caller | floor | gateway |',
    '|---|---:|---:|',
    ...largestGains(floor.megamorphicCallers, gateway.megamorphicCallers, 12).map((g) => `| \`${g.key.slice(0, 110)}\` | ${us(g.a)} | ${us(g.b)} |`),
    '',
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rate: { type: 'string', default: '2000' },
      duration: { type: 'string', default: '15' },
      settle: { type: 'string', default: '20' },
      hz: { type: 'string', default: '1999' },
      keep: { type: 'string' },
    },
  });
  const o = { rate: Number(values.rate), durationS: Number(values.duration), settleS: Number(values.settle), hz: Number(values.hz) };
  for (const [name, v] of Object.entries(o)) {
    if (!Number.isFinite(v) || v < 0 || (name !== 'settleS' && v === 0)) throw new Error(`--${name.replace(/S$/, '')} must be a positive number`);
  }
  try {
    execFileSync('perf', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('perf is not installed (Debian: apt-get install linux-perf)');
  }
  const dir = values.keep ?? mkdtempSync(join(tmpdir(), 'bench-cpu-profile-'));
  mkdirSync(dir, { recursive: true });
  const children: ChildProcess[] = [];
  try {
    const backend = await spawnNode(script('backend'), ['--ports', '2'], /listening on \S+ ports (\d+),(\d+)/, { ipc: true });
    children.push(backend.child);
    const replicas = [`http://127.0.0.1:${backend.match[1]}`, `http://127.0.0.1:${backend.match[2]}`];
    const config = join(dir, 'gateway.json');
    writeFileSync(config, JSON.stringify(gatewayConfig({ replicas, headerRules: REALISTIC_RULES })));
    const env = { ...process.env, LOG_LEVEL: 'warn', GATEWAY_STORE: 'memory', ADMIN_TOKEN: 'bench-cpu-profile-token-0123456789' };
    // Node's map of its compiled functions (/tmp/perf-<pid>.map) names the JIT code's samples.
    const floor = await spawnNode(script('proxy-node-floor'), ['--upstream', replicas[0] as string], /listening on (\S+)/, { ipc: true, nodeArgs: ['--perf-basic-prof-only-functions'] });
    children.push(floor.child);
    const gateway = await spawnNode(GATEWAY_MAIN, ['--config', config], /REST on ([\d.]+:\d+)/, { env, ipc: true, nodeArgs: [...GATEWAY_NODE_FLAGS, '--perf-basic-prof-only-functions'], timeoutMs: 60_000 });
    children.push(gateway.child);
    const targets = [
      { key: 'floor', child: floor.child, url: floor.match[1] as string },
      { key: 'gateway', child: gateway.child, url: `http://${gateway.match[1] as string}` },
    ];
    for (const t of targets) {
      process.stderr.write(`bench:cpu-profile: warming ${t.key} at ${o.rate} req/s\n`);
      await load(t.url, o.rate, 10, 0);
    }
    process.stderr.write(`bench:cpu-profile: ${o.settleS} s idle\n`);
    await new Promise((resolve) => setTimeout(resolve, o.settleS * 1000));
    // Floor, gateway, gateway, floor: a drift of the machine over the run weighs on both alike.
    const collected = new Map<string, Collected>(targets.map((t) => [t.key, { samples: [], requests: 0, passes: [] }]));
    for (const [pass, t] of [targets[0], targets[1], targets[1], targets[0]].entries()) {
      if (t === undefined) continue;
      const out = join(dir, `${t.key}-${pass}.perf.data`);
      process.stderr.write(`bench:cpu-profile: recording ${t.key} over ${o.durationS} s\n`);
      const requests = await record(t.child.pid as number, out, o.hz, () => load(t.url, o.rate, o.durationS, 1));
      const text = execFileSync('perf', ['script', '-i', out, '-F', 'ip,sym,dso'], { maxBuffer: 1 << 30, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      if (values.keep !== undefined) writeFileSync(join(dir, `${t.key}-${pass}.script.txt`), text);
      const into = collected.get(t.key) as Collected;
      const samples = parsePerfScript(text, new PerfMap(readFileSync(`/tmp/perf-${t.child.pid as number}.map`, 'utf8')));
      for (const sample of samples) into.samples.push(sample);
      into.requests += requests;
      into.passes.push(summarize(samples, o.hz, requests).usPerRequest.total);
    }
    const summaries = targets.map((t) => {
      const { samples, requests } = collected.get(t.key) as Collected;
      return summarize(samples, o.hz, requests);
    });
    const passes = targets.map((t) => `${t.key} ${(collected.get(t.key) as Collected).passes.map(us).join(' and ')} µs`).join('; ');
    process.stdout.write(`${report(summaries[0] as SampleSummary, summaries[1] as SampleSummary, o)}\nEach recording alone, per request: ${passes}.\n`);
  } finally {
    await Promise.all(children.map((c) => stopChild(c, 10_000)));
    if (values.keep === undefined) rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`bench:cpu-profile: perf data kept in ${dir}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:cpu-profile: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

