#!/usr/bin/env node
/**
 * npm run bench: the gateway against what users would otherwise deploy (nginx, a few lines of
 * fastify + reply-from or http-proxy-3), in one run, every part its own process, load from wrk or
 * the open-loop generator in a process of its own, targets alternated over rounds, medians
 * reported. Then the further figures of issue 5: latency added at a fixed rate, 2 vs 200 replicas,
 * 1 vs 1,000 header rules, resident memory at 1,000 connections. Progress on stderr, the tables on
 * stdout and in bench-results/ (bench.json, bench.md, bench.svg). Exits 0 whether or not the
 * targets are met: it reports, CI does not run it.
 *
 *   npm run bench [-- --rounds 3 --duration 10 --sections throughput,latency,replicas,rules,memory]
 */
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { spawnNode, stopChild } from '../lib/processes.js';
import { gatewayConfig, manyRules, REALISTIC_RULES, type GatewayVariant } from './gateway-config.js';
import { measureLoadgen, measureWrk, type CpuShares, type LoadgenMeasurement, type MeasureContext, type Target, type WrkMeasurement } from './measure.js';
import { startNginx } from './nginx.js';
import { controlPlaneMarkdown, controlPlaneSection } from './control-plane.js';
import {
  fmtInt,
  fmtMs,
  fmtRatio,
  markdown,
  throughputSvg,
  type BenchReport,
  type LatencyFigures,
  type LatencySummary,
  type MemorySummary,
  type PairSummary,
  type RoundFigures,
  type TargetCheck,
  type TargetSummary,
} from './report.js';
import { median, round3 } from './stats.js';
import { busiestProcesses, findExecutable, machineBusy, memoryMiB, processTree } from './system.js';
import { PREDICT_BODY, PREDICT_PATH, USER_AGENT, writeWrkScript } from './wrk.js';
import { GATEWAY_NODE_FLAGS } from '../../gateway/src/runtime/heap.js';

const GATEWAY_MAIN = fileURLToPath(new URL('../../gateway/src/main.js', import.meta.url));
const script = (name: string): string => fileURLToPath(new URL(`./${name}.js`, import.meta.url));
const EXIT_WITH_PARENT = pathToFileURL(script('exit-with-parent')).href;
const ADMIN_TOKEN = 'bench-operator-token-0123456789';

const SECTIONS = ['throughput', 'latency', 'replicas', 'rules', 'memory', 'control-plane'] as const;
type Section = (typeof SECTIONS)[number];

const TARGET_VS_REPLY_FROM = 1.0;
const TARGET_VS_NGINX = 0.5;
const TARGET_ADDED_P99_MS = 1;
const TARGET_REPLICAS_RATIO = 0.9;
const TARGET_RULES_RATIO = 0.9;
const TARGET_RSS_MB = 150;
/** Another program using more than this share of a core during a run makes its figures suspect. */
const FOREIGN_CPU_NOTE_PCT = 10;

const HELP = `Usage: npm run bench [-- options]

Measures throughput through: direct to the backend, nginx (1 worker), fastify + @fastify/reply-from,
http-proxy-3 and the gateway, then the further figures. Needs nginx and wrk
(apt-get install nginx wrk). Progress on stderr, tables on stdout and in bench-results/.

Options (defaults in brackets):
  --sections LIST         throughput,latency,replicas,rules,memory,control-plane [all]
  --rounds N              rounds over the targets [3]
  --duration S            seconds per target per round [10]
  --warmup S              seconds of warm-up per target, not counted [2]
  --connections N         wrk connections [50]
  --threads N             wrk threads [2]
  --rate N                open-loop rate of the latency figure, req/s [2000]
  --latency-duration S    seconds per latency run [8]
  --latency-rounds N      latency runs per target, alternated [2]
  --memory-connections N  connections of the memory figure [1000]
  --replicas N            replicas per pool of the many-replica figure [200]
  --subset N              subsetSize of the many-replica figure's subset run [10]
  --rules N               header rules of the many-rule figure [1000]
  --out DIR               results directory [bench-results]
  -h, --help
`;

interface Options {
  readonly sections: ReadonlySet<Section>;
  readonly rounds: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly connections: number;
  readonly threads: number;
  readonly rate: number;
  readonly latencyDurationS: number;
  readonly latencyRounds: number;
  readonly memoryConnections: number;
  readonly replicas: number;
  readonly subset: number;
  readonly rules: number;
  readonly out: string;
}

class UsageError extends Error {}

function readOptions(argv: readonly string[]): Options | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      sections: { type: 'string', default: SECTIONS.join(',') },
      rounds: { type: 'string', default: '3' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string', default: '50' },
      threads: { type: 'string', default: '2' },
      rate: { type: 'string', default: '2000' },
      'latency-duration': { type: 'string', default: '8' },
      'latency-rounds': { type: 'string', default: '2' },
      'memory-connections': { type: 'string', default: '1000' },
      replicas: { type: 'string', default: '200' },
      subset: { type: 'string', default: '10' },
      rules: { type: 'string', default: '1000' },
      out: { type: 'string', default: 'bench-results' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help === true) return 'help';
  const int = (name: string, raw: string, min: number, max: number): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${raw}"`);
    return n;
  };
  const sections = new Set<Section>();
  for (const name of values.sections.split(',').map((x) => x.trim()).filter(Boolean)) {
    if (!(SECTIONS as readonly string[]).includes(name)) throw new UsageError(`unknown section "${name}" (sections: ${SECTIONS.join(', ')})`);
    sections.add(name as Section);
  }
  if (sections.size === 0) throw new UsageError('--sections names no section');
  return {
    sections,
    rounds: int('rounds', values.rounds, 1, 100),
    durationS: int('duration', values.duration, 1, 3600),
    warmupS: int('warmup', values.warmup, 0, 600),
    connections: int('connections', values.connections, 1, 10_000),
    threads: int('threads', values.threads, 1, 64),
    rate: int('rate', values.rate, 1, 100_000),
    latencyDurationS: int('latency-duration', values['latency-duration'], 1, 3600),
    latencyRounds: int('latency-rounds', values['latency-rounds'], 1, 100),
    memoryConnections: int('memory-connections', values['memory-connections'], 1, 10_000),
    replicas: int('replicas', values.replicas, 2, 5000),
    subset: int('subset', values.subset, 1, 5000),
    rules: int('rules', values.rules, 2, 10_000),
    out: values.out,
  };
}

/** Set on Ctrl-C: the signal handler ends the process, errors from killed children are expected. */
let interrupted = false;
const progress = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Every process the bench starts, so that an error or Ctrl-C stops them all. */
class Children {
  private readonly live = new Set<ChildProcess>();
  readonly track = (child: ChildProcess): void => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    this.live.add(child);
    child.once('exit', () => this.live.delete(child));
  };
  async stop(child: ChildProcess): Promise<void> {
    await stopChild(child, 3_000);
    this.live.delete(child);
  }
  async stopAll(): Promise<void> {
    await Promise.all([...this.live].map((c) => stopChild(c, 3_000)));
    this.live.clear();
  }
}

/** A target the bench started, with the process to stop when its section ends. */
interface Running {
  readonly target: Target;
  readonly child: ChildProcess;
}

interface Runtime {
  readonly options: Options;
  readonly children: Children;
  readonly ctx: MeasureContext;
  readonly dir: string;
  readonly backendPorts: readonly number[];
  readonly client: Agent;
  readonly notes: string[];
  /** Every measured run and the CPU other programs used meanwhile, percent of a core. */
  readonly runs: { readonly what: string; readonly foreign: number }[];
}

/** The child's stdout after its announcing line, prefixed on stderr (the gateway logs warnings there). */
function forwardOutput(child: ChildProcess, name: string): void {
  if (child.stdout === null) return;
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.endsWith('shutting down')) process.stderr.write(`  [${name}] ${line}\n`);
  });
}

function childEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // The operator's own gateway settings must not leak into the bench's gateways.
  for (const name of Object.keys(env)) {
    if (/^(GATEWAY_|REDIS_)/.test(name) || name === 'ADMIN_VIEWER_TOKEN' || name === 'LOG_LEVEL') delete env[name];
  }
  return { ...env, ...extra };
}

async function startGateway(rt: Runtime, name: string, label: string, variant: GatewayVariant): Promise<Running> {
  const file = join(rt.dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(gatewayConfig(variant), null, 1));
  const env = childEnv({
    LOG_LEVEL: 'warn',
    ADMIN_TOKEN,
    GATEWAY_STORE: 'memory',
    NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import=${EXIT_WITH_PARENT}`.trim(),
  });
  const { child, match } = await spawnNode(GATEWAY_MAIN, ['--config', file], /REST on [\d.]+:(\d+), admin API on/, {
    env,
    ipc: true,
    timeoutMs: 60_000,
    nodeArgs: GATEWAY_NODE_FLAGS,
  });
  rt.children.track(child);
  forwardOutput(child, name);
  return { child, target: { key: name, label, url: `http://127.0.0.1:${match[1]}`, pids: [child.pid ?? 0], gateway: true } };
}

async function startNodeProxy(rt: Runtime, file: string, key: string, label: string): Promise<Running> {
  const { child, match } = await spawnNode(script(file), ['--upstream', `http://127.0.0.1:${rt.backendPorts[0]}`], /listening on (http:\/\/\S+)/, { ipc: true });
  rt.children.track(child);
  forwardOutput(child, key);
  return { child, target: { key, label, url: match[1] as string, pids: [child.pid ?? 0], gateway: false } };
}

async function stopAll(rt: Runtime, running: readonly Running[]): Promise<void> {
  await Promise.all(running.map((r) => rt.children.stop(r.child)));
}

/** One request before measuring: a target that answers errors would measure nothing but its errors. */
async function checkTarget(rt: Runtime, target: Target): Promise<void> {
  const res = await request(target.url + PREDICT_PATH, {
    method: 'POST',
    body: PREDICT_BODY,
    headers: { 'content-type': 'application/json', 'user-agent': USER_AGENT },
    dispatcher: rt.client,
  });
  const text = await res.body.text();
  if (res.statusCode !== 200 || !text.includes('"predictions"')) {
    throw new Error(`${target.label} answered ${res.statusCode} to the predict request: ${text.slice(0, 300)}`);
  }
  // A gateway answer without its version header did not come through the routed proxy path.
  if (target.gateway && res.headers['x-model-version'] === undefined) throw new Error(`${target.label} answered without x-model-version`);
}

function cpuText(cpu: CpuShares | undefined, load: string): string {
  if (cpu === undefined) return '';
  return ` (CPU % of a core: target ${cpu.target}, backend ${cpu.backend}, ${load} ${cpu.load}${cpu.foreign >= FOREIGN_CPU_NOTE_PCT ? `, OTHER PROGRAMS ${cpu.foreign}` : ''})`;
}

function recordRun(rt: Runtime, what: string, cpu: CpuShares | undefined): void {
  rt.runs.push({ what, foreign: cpu?.foreign ?? 0 });
}

function medianCpu(runs: readonly (CpuShares | undefined)[]): CpuShares | undefined {
  const known = runs.filter((c): c is CpuShares => c !== undefined);
  if (known.length === 0) return undefined;
  const m = (k: keyof CpuShares): number => Math.round(median(known.map((c) => c[k])));
  return { target: m('target'), backend: m('backend'), load: m('load'), foreign: m('foreign') };
}

/**
 * wrk against each target in turn: a warm-up each, then `rounds` rounds, each starting one target
 * further along, so that no target always runs first (after a pause) or last.
 */
async function alternate(rt: Runtime, section: string, targets: readonly Target[], connections: number): Promise<TargetSummary[]> {
  const { rounds, durationS, warmupS } = rt.options;
  for (const target of targets) {
    await checkTarget(rt, target);
    if (warmupS > 0) {
      progress(`[${section}] warm-up ${target.label}, ${warmupS} s`);
      await measureWrk(rt.ctx, target, connections, warmupS);
    }
  }
  const runs = new Map<string, RoundFigures[]>(targets.map((t) => [t.key, []]));
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < targets.length; k++) {
      const target = targets[(round + k) % targets.length] as Target;
      // Let the previous run's connections close before the next one opens its own.
      await sleep(250);
      const run: WrkMeasurement = await measureWrk(rt.ctx, target, connections, durationS);
      const errors = run.socketErrors + run.non2xx;
      progress(
        `[${section}] round ${round + 1}/${rounds} ${target.label}: ${fmtInt(run.rps)} req/s, p50 ${fmtMs(run.p50Ms)} ms, p99 ${fmtMs(run.p99Ms)} ms${errors > 0 ? `, ${errors} ERRORS` : ''}${cpuText(run.cpu, 'wrk')}`,
      );
      recordRun(rt, `${section}, round ${round + 1}, ${target.label}`, run.cpu);
      runs.get(target.key)?.push({ rps: run.rps, p50Ms: run.p50Ms, p99Ms: run.p99Ms, requests: run.requests, errors, cpu: run.cpu });
    }
  }
  return targets.map((target) => {
    const list = runs.get(target.key) ?? [];
    const rps = median(list.map((r) => r.rps));
    return {
      key: target.key,
      label: target.label,
      rps,
      p50Ms: round3(median(list.map((r) => r.p50Ms))),
      p99Ms: round3(median(list.map((r) => r.p99Ms))),
      spreadPct: rps > 0 ? ((Math.max(...list.map((r) => r.rps)) - Math.min(...list.map((r) => r.rps))) / rps) * 100 : 0,
      errors: list.reduce((n, r) => n + r.errors, 0),
      cpu: medianCpu(list.map((r) => r.cpu)),
      vsNginx: undefined,
      vsReplyFrom: undefined,
      rounds: list,
    };
  });
}

function backendTarget(rt: Runtime): Target {
  return { key: 'direct', label: 'direct (backend, the limit)', url: `http://127.0.0.1:${rt.backendPorts[0]}`, pids: [rt.ctx.backendPid], gateway: false };
}

const backendUrls = (rt: Runtime, count: number): string[] => rt.backendPorts.slice(0, count).map((p) => `http://127.0.0.1:${p}`);

async function throughputSection(rt: Runtime): Promise<TargetSummary[]> {
  const running: Running[] = [];
  try {
    const nginxDir = join(rt.dir, 'nginx');
    mkdirSync(nginxDir);
    const nginx = await startNginx(findExecutable('nginx') as string, nginxDir, rt.backendPorts[0] as number, rt.ctx.track);
    running.push({ child: nginx.child, target: { key: 'nginx', label: 'nginx (1 worker)', url: nginx.url, pids: processTree(nginx.child.pid ?? 0), gateway: false } });
    running.push(await startNodeProxy(rt, 'proxy-reply-from', 'reply-from', 'fastify + reply-from'));
    running.push(await startNodeProxy(rt, 'proxy-http-proxy', 'http-proxy', 'http-proxy-3'));
    running.push(await startGateway(rt, 'gateway', 'canary-gateway', { replicas: backendUrls(rt, 2), headerRules: REALISTIC_RULES }));
    progress(`[throughput] ${running.map((r) => `${r.target.label} ${r.target.url}`).join(', ')}`);
    const summaries = await alternate(rt, 'throughput', [backendTarget(rt), ...running.map((r) => r.target)], rt.options.connections);
    const nginxRps = summaries.find((t) => t.key === 'nginx')?.rps ?? NaN;
    const replyFromRps = summaries.find((t) => t.key === 'reply-from')?.rps ?? NaN;
    return summaries.map((t) => ({ ...t, vsNginx: t.rps / nginxRps, vsReplyFrom: t.rps / replyFromRps }));
  } finally {
    await stopAll(rt, running);
  }
}

function latencyFigures(runs: readonly LoadgenMeasurement[]): LatencyFigures {
  return {
    p50Ms: round3(median(runs.map((r) => r.latencyMs.p50))),
    p99Ms: round3(median(runs.map((r) => r.latencyMs.p99))),
    serviceP50Ms: round3(median(runs.map((r) => r.serviceMs.p50))),
    serviceP99Ms: round3(median(runs.map((r) => r.serviceMs.p99))),
    sendLagP99Ms: round3(median(runs.map((r) => r.sendLagMs.p99))),
    achievedRate: median(runs.map((r) => r.achievedRate)),
    failed: runs.reduce((n, r) => n + r.failed, 0),
    runs,
  };
}

async function latencySection(rt: Runtime): Promise<LatencySummary> {
  const { rate, latencyDurationS, latencyRounds, warmupS } = rt.options;
  const running = await startGateway(rt, 'gateway', 'canary-gateway', { replicas: backendUrls(rt, 2), headerRules: REALISTIC_RULES });
  const gateway = running.target;
  try {
    const targets: Target[] = [backendTarget(rt), gateway];
    for (const target of targets) await checkTarget(rt, target);
    // A fresh gateway: the JIT warms faster under full load than at 2,000 req/s. The backend has
    // been serving since the start; each load generator run has its own warm-up as well.
    if (warmupS > 0) {
      progress(`[latency] warm-up ${gateway.label}, ${warmupS} s`);
      await measureWrk(rt.ctx, gateway, rt.options.connections, warmupS);
    }
    const runs = new Map<string, LoadgenMeasurement[]>(targets.map((t) => [t.key, []]));
    for (let round = 0; round < latencyRounds; round++) {
      for (let k = 0; k < targets.length; k++) {
        const target = targets[(round + k) % targets.length] as Target;
        await sleep(250);
        const run = await measureLoadgen(rt.ctx, target, { rate, durationS: latencyDurationS, warmupS: Math.min(2, Math.max(1, warmupS)), connections: rt.options.connections });
        progress(
          `[latency] round ${round + 1}/${latencyRounds} ${target.label} at ${fmtInt(rate)} req/s: p50 ${fmtMs(run.latencyMs.p50)} ms, p99 ${fmtMs(run.latencyMs.p99)} ms, max ${fmtMs(run.latencyMs.max)} ms from the due time; ${fmtMs(run.serviceMs.p50)} / ${fmtMs(run.serviceMs.p99)} ms from the send (generator late by p99 ${fmtMs(run.sendLagMs.p99)} ms)${run.failed > 0 ? `, ${run.failed} FAILED` : ''}${cpuText(run.cpu, 'generator')}`,
        );
        recordRun(rt, `latency, round ${round + 1}, ${target.label}`, run.cpu);
        if (run.achievedRate < rate * 0.98) rt.notes.push(`latency, ${target.label}: only ${fmtInt(run.achievedRate)} of ${fmtInt(rate)} req/s completed; the target (or the generator) fell behind.`);
        runs.get(target.key)?.push(run);
      }
    }
    const direct = latencyFigures(runs.get('direct') ?? []);
    const gw = latencyFigures(runs.get(gateway.key) ?? []);
    return {
      rate,
      connections: rt.options.connections,
      direct,
      gateway: gw,
      addedP50Ms: round3(gw.p50Ms - direct.p50Ms),
      addedP99Ms: round3(gw.p99Ms - direct.p99Ms),
    };
  } finally {
    await stopAll(rt, [running]);
  }
}

async function pairSection(rt: Runtime, section: string, what: string, baseline: GatewayVariant, variant: GatewayVariant, labels: readonly [string, string]): Promise<PairSummary> {
  const running: Running[] = [];
  try {
    running.push(await startGateway(rt, `${section}-baseline`, labels[0], baseline));
    running.push(await startGateway(rt, `${section}-variant`, labels[1], variant));
    const [a, b] = (await alternate(rt, section, running.map((r) => r.target), rt.options.connections)) as [TargetSummary, TargetSummary];
    return { what, baseline: a, variant: b, ratio: b.rps / a.rps };
  } finally {
    await stopAll(rt, running);
  }
}

async function memorySection(rt: Runtime): Promise<MemorySummary> {
  const running = await startGateway(rt, 'gateway', 'canary-gateway', { replicas: backendUrls(rt, 2), headerRules: REALISTIC_RULES });
  const gateway = running.target;
  const pid = running.child.pid ?? 0;
  const connections = rt.options.memoryConnections;
  try {
    await checkTarget(rt, gateway);
    await sleep(500);
    const idle = memoryMiB(pid);
    let peak = 0;
    const sampler = setInterval(() => {
      const m = memoryMiB(pid);
      if (m !== undefined) peak = Math.max(peak, m.rss);
    }, 100);
    let run: WrkMeasurement;
    try {
      run = await measureWrk(rt.ctx, gateway, connections, rt.options.durationS);
    } finally {
      clearInterval(sampler);
    }
    const end = memoryMiB(pid);
    const mb = (mib: number | undefined): number => Math.round(((mib ?? NaN) * 1024 * 1024) / 1e5) / 10;
    const errors = run.socketErrors + run.non2xx;
    const summary: MemorySummary = {
      connections,
      idleMB: mb(idle?.rss),
      peakMB: mb(peak),
      hwmMB: mb(end?.hwm),
      rps: run.rps,
      p50Ms: run.p50Ms,
      p99Ms: run.p99Ms,
      errors,
      cpu: run.cpu,
    };
    progress(
      `[memory] ${connections} connections: peak VmRSS ${summary.peakMB} MB (idle ${summary.idleMB} MB), ${fmtInt(run.rps)} req/s, p99 ${fmtMs(run.p99Ms)} ms${errors > 0 ? `, ${errors} ERRORS` : ''}${cpuText(run.cpu, 'wrk')}`,
    );
    recordRun(rt, 'memory', run.cpu);
    return summary;
  } finally {
    await stopAll(rt, [running]);
  }
}

function checkTargets(report: Omit<BenchReport, 'targets' | 'notes'>): TargetCheck[] {
  const gw = report.throughput?.find((t) => t.key === 'gateway');
  const checks: TargetCheck[] = [];
  const ratioCheck = (target: string, value: number | undefined, limit: number, detail: string): void => {
    checks.push({ target, figure: value === undefined ? '' : `${fmtRatio(value)} (${detail})`, met: value === undefined ? undefined : value >= limit });
  };
  const nginx = report.throughput?.find((t) => t.key === 'nginx');
  const replyFrom = report.throughput?.find((t) => t.key === 'reply-from');
  ratioCheck(`gateway >= ${TARGET_VS_REPLY_FROM.toFixed(1)}x reply-from (throughput)`, gw?.vsReplyFrom, TARGET_VS_REPLY_FROM, `${fmtInt(gw?.rps ?? NaN)} vs ${fmtInt(replyFrom?.rps ?? NaN)} req/s`);
  ratioCheck(`gateway >= ${TARGET_VS_NGINX}x nginx, 1 worker (throughput)`, gw?.vsNginx, TARGET_VS_NGINX, `${fmtInt(gw?.rps ?? NaN)} vs ${fmtInt(nginx?.rps ?? NaN)} req/s`);
  const l = report.latency;
  checks.push({
    target: `p99 added over direct at ${fmtInt(report.latency?.rate ?? 2000)} req/s <= ${TARGET_ADDED_P99_MS} ms`,
    figure: l === undefined ? '' : `${fmtMs(l.addedP99Ms)} ms (p99 ${fmtMs(l.gateway.p99Ms)} vs ${fmtMs(l.direct.p99Ms)} ms)`,
    met: l === undefined ? undefined : l.addedP99Ms <= TARGET_ADDED_P99_MS,
  });
  const r = report.replicas;
  ratioCheck(`${r?.variant.label ?? '200 replicas'} >= ${TARGET_REPLICAS_RATIO}x ${r?.baseline.label ?? '2'} (throughput)`, r?.ratio, TARGET_REPLICAS_RATIO, `${fmtInt(r?.variant.rps ?? NaN)} vs ${fmtInt(r?.baseline.rps ?? NaN)} req/s`);
  const u = report.rules;
  ratioCheck(`${u?.variant.label ?? '1,000 rules'} >= ${TARGET_RULES_RATIO}x ${u?.baseline.label ?? '1 rule'} (throughput)`, u?.ratio, TARGET_RULES_RATIO, `${fmtInt(u?.variant.rps ?? NaN)} vs ${fmtInt(u?.baseline.rps ?? NaN)} req/s`);
  const m = report.memory;
  checks.push({
    target: `gateway RSS at ${fmtInt(m?.connections ?? 1000)} connections <= ${TARGET_RSS_MB} MB`,
    figure: m === undefined ? '' : `${m.peakMB.toFixed(1)} MB`,
    met: m === undefined ? undefined : m.peakMB <= TARGET_RSS_MB,
  });
  return checks;
}

/** What a reader should know before trusting the figures. */
function findingNotes(rt: Runtime, report: Omit<BenchReport, 'targets' | 'notes'>): void {
  const all: TargetSummary[] = [
    ...(report.throughput ?? []),
    ...(report.replicas === undefined ? [] : [report.replicas.baseline, report.replicas.variant]),
    ...(report.replicasSubset === undefined ? [] : [report.replicasSubset.variant]),
    ...(report.rules === undefined ? [] : [report.rules.baseline, report.rules.variant]),
  ];
  for (const t of all) {
    if (t.errors > 0) rt.notes.push(`${t.label}: ${t.errors} errors (non-2xx answers or socket errors) over its rounds.`);
    if (t.spreadPct > 10) rt.notes.push(`${t.label}: req/s varied by ${t.spreadPct.toFixed(0)}% between rounds (${t.rounds.map((r) => fmtInt(r.rps)).join(', ')}).`);
    if (t.key !== 'direct' && t.cpu !== undefined && t.cpu.backend >= 90) rt.notes.push(`${t.label}: the backend used ${t.cpu.backend}% of a core; it may be what limits this target.`);
  }
  const cores = cpus().length;
  for (const t of report.throughput ?? []) {
    const c = t.cpu;
    if (c === undefined) continue;
    // direct: target and backend are one process.
    const used = (t.key === 'direct' ? c.target : c.target + c.backend) + c.load + c.foreign;
    if (t.key === 'direct' && c.target >= 95) {
      rt.notes.push(`${t.label}: the backend is CPU-bound (${c.target}% of a core, wrk ${c.load}%): one Node process answering is this setup's ceiling.`);
    } else if (c.target >= 95) {
      rt.notes.push(`${t.label}: CPU-bound, ${c.target}% of a core (a single-threaded process cannot use more than about 100%; wrk used ${c.load}%, the backend ${c.backend}%).`);
    } else if (used >= cores * 100 * 0.85) {
      rt.notes.push(
        `${t.label}: the machine's ${cores} cores were saturated (${t.key === 'direct' ? `backend ${c.target}%` : `target ${c.target}% + backend ${c.backend}%`} + wrk ${c.load}%${c.foreign > 0 ? ` + other programs ${c.foreign}%` : ''} = ${used}% of ${cores * 100}%), so this figure is the machine's limit rather than the target's.`,
      );
    }
  }
  const disturbed = rt.runs.filter((r) => r.foreign >= FOREIGN_CPU_NOTE_PCT);
  if (disturbed.length > 0) {
    rt.notes.push(
      `other programs used ${FOREIGN_CPU_NOTE_PCT}% of a core or more during ${disturbed.length} of ${rt.runs.length} runs, whose figures are disturbed: ${disturbed.map((r) => `${r.what} (${r.foreign}%)`).join('; ')}.`,
    );
  }
  const l = report.latency;
  if (l !== undefined && Math.max(l.direct.sendLagP99Ms, l.gateway.sendLagP99Ms) > 0.5) {
    rt.notes.push(`latency: the generator itself was late by up to ${fmtMs(Math.max(l.direct.sendLagP99Ms, l.gateway.sendLagP99Ms))} ms at p99 (direct ${fmtMs(l.direct.sendLagP99Ms)}, gateway ${fmtMs(l.gateway.sendLagP99Ms)}); that lateness is in both p99s.`);
  }
  if (l !== undefined && l.addedP99Ms < 0) {
    rt.notes.push(`latency: the gateway's p99 came out below direct's: the difference is within the noise of this machine (see the disturbed runs); run with more --latency-rounds.`);
  }
  if (l !== undefined && l.direct.failed + l.gateway.failed > 0) rt.notes.push(`latency: ${l.direct.failed} direct and ${l.gateway.failed} gateway requests failed.`);
}

function toolVersion(binary: string, args: readonly string[]): string {
  const out = spawnSync(binary, args, { encoding: 'utf8' });
  return `${out.stdout ?? ''}${out.stderr ?? ''}`.split('\n')[0]?.trim() ?? '';
}

/** Roughly how long the selected sections take, for the first progress line. */
function estimateSeconds(o: Options): number {
  const runs = (targets: number): number => targets * o.warmupS + o.rounds * targets * (o.durationS + 0.35) + 3;
  let total = 2;
  if (o.sections.has('throughput')) total += runs(5) + 2;
  if (o.sections.has('latency')) total += o.warmupS + 1 + o.latencyRounds * 2 * (Math.min(2, Math.max(1, o.warmupS)) + o.latencyDurationS + 0.5) + 2;
  if (o.sections.has('replicas')) total += runs(2) * 2;
  if (o.sections.has('control-plane')) total += o.rounds * 2 * (o.durationS + 3 + 4);
  if (o.sections.has('rules')) total += runs(2);
  if (o.sections.has('memory')) total += o.durationS + 3;
  return Math.round(total);
}

async function run(options: Options, children: Children, dir: string): Promise<void> {
  const nginxPath = findExecutable('nginx');
  const wrkPath = findExecutable('wrk') as string;
  const startedAt = Date.now();
  const estimate = estimateSeconds(options);
  progress(`sections ${[...options.sections].join(', ')}; about ${Math.floor(estimate / 60)} min ${estimate % 60} s`);
  const busyAtStart = await machineBusy(1000);
  if (busyAtStart > 15) {
    progress(`WARNING: the machine is already ${Math.round(busyAtStart)}% busy (percent of one core) before the bench starts; its figures will be off. Busiest:`);
    for (const line of await busiestProcesses(1000)) progress(`  ${line}`);
  }
  const client = new Agent({ keepAliveTimeout: 1_000 });
  try {
    const ports = options.sections.has('replicas') ? options.replicas : 2;
    const backend = await spawnNode(script('backend'), ['--ports', String(ports)], /listening on \S+ ports ([\d,]+)/, { ipc: true });
    children.track(backend.child);
    const backendPorts = (backend.match[1] as string).split(',').map(Number);
    progress(`backend: ${script('backend')} on ${backendPorts.length} port(s) from ${backendPorts[0]}, pid ${backend.child.pid}`);
    const rt: Runtime = {
      options,
      children,
      dir,
      backendPorts,
      client,
      notes: [],
      runs: [],
      ctx: { wrk: wrkPath, script: writeWrkScript(dir), threads: options.threads, backendPid: backend.child.pid ?? 0, track: children.track },
    };
    const s = options.sections;
    const throughput = s.has('throughput') ? await throughputSection(rt) : undefined;
    const latency = s.has('latency') ? await latencySection(rt) : undefined;
    const replicas = s.has('replicas')
      ? await pairSection(
          rt,
          'replicas',
          `gateway with 2 vs ${fmtInt(options.replicas)} replicas per pool`,
          { replicas: backendUrls(rt, 2), headerRules: REALISTIC_RULES },
          { replicas: backendUrls(rt, options.replicas), headerRules: REALISTIC_RULES },
          ['gateway, 2 replicas per pool', `gateway, ${fmtInt(options.replicas)} replicas per pool`],
        )
      : undefined;
    const replicasSubset = s.has('replicas')
      ? await pairSection(
          rt,
          'subset',
          `gateway with ${fmtInt(options.replicas)} replicas per pool, all vs a subset of ${fmtInt(options.subset)}`,
          { replicas: backendUrls(rt, options.replicas), headerRules: REALISTIC_RULES },
          { replicas: backendUrls(rt, options.replicas), headerRules: REALISTIC_RULES, subsetSize: options.subset },
          [`gateway, ${fmtInt(options.replicas)} replicas per pool`, `gateway, ${fmtInt(options.replicas)} replicas, subset ${fmtInt(options.subset)}`],
        )
      : undefined;
    const rules = s.has('rules')
      ? await pairSection(
          rt,
          'rules',
          `gateway with 1 vs ${fmtInt(options.rules)} header rules (none matching)`,
          { replicas: backendUrls(rt, 2), headerRules: manyRules(1) },
          { replicas: backendUrls(rt, 2), headerRules: manyRules(options.rules) },
          ['gateway, 1 header rule', `gateway, ${fmtInt(options.rules)} header rules`],
        )
      : undefined;
    const memory = s.has('memory') ? await memorySection(rt) : undefined;
    const controlPlane = s.has('control-plane')
      ? await controlPlaneSection({
          models: 100,
          replicas: options.replicas,
          sessions: 10,
          durationS: options.durationS,
          warmupS: Math.max(3, options.warmupS),
          rounds: options.rounds,
          progress,
          track: children.track,
        })
      : undefined;
    const cluster = 'skipped: the gateway has no cluster mode yet (one process, one core), so there is nothing to compare with nginx at 2 workers';
    progress(`(e) node:cluster ${cluster}`);
    const cpu = cpus();
    const base = {
      date: new Date().toISOString(),
      machine: `${cpu.length} x ${cpu[0]?.model ?? 'cpu'}, Linux, node ${process.version}`,
      software: `${nginxPath === undefined ? '' : toolVersion(nginxPath, ['-v'])}, ${toolVersion(wrkPath, ['--version']).replace(/ Copyright.*/, '')}`,
      command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      settings: {
        path: PREDICT_PATH,
        body: PREDICT_BODY,
        connections: options.connections,
        wrkThreads: options.threads,
        rounds: options.rounds,
        durationS: options.durationS,
        warmupS: options.warmupS,
        rate: options.rate,
        latencyDurationS: options.latencyDurationS,
        latencyRounds: options.latencyRounds,
        memoryConnections: options.memoryConnections,
        gatewayPolicy: '10% canary; rules: x-canary switch, user-agent regex ^beta-app/ (not matching); sticky header x-user-id (absent); 2 replicas per pool; memory store',
      },
      busyAtStartPct: Math.round(busyAtStart),
      throughput,
      latency,
      replicas,
      replicasSubset,
      rules,
      memory,
      cluster,
    };
    findingNotes(rt, base);
    const report: BenchReport = { ...base, targets: checkTargets(base), notes: rt.notes };
    const md = markdown(report) + (controlPlane === undefined ? '' : `\n${controlPlaneMarkdown(controlPlane)}`);
    mkdirSync(options.out, { recursive: true });
    if (controlPlane !== undefined) writeFileSync(join(options.out, 'control-plane.json'), JSON.stringify(controlPlane, null, 2) + '\n');
    writeFileSync(join(options.out, 'bench.json'), JSON.stringify(report, null, 2) + '\n');
    writeFileSync(join(options.out, 'bench.md'), md);
    const written = [join(options.out, 'bench.json'), join(options.out, 'bench.md')];
    if (throughput !== undefined) {
      writeFileSync(join(options.out, 'bench.svg'), throughputSvg(throughput, `median of ${options.rounds} rounds x ${options.durationS} s, wrk -c${options.connections}; ${base.machine}`));
      written.push(join(options.out, 'bench.svg'));
    }
    progress(`done in ${Math.round((Date.now() - startedAt) / 1000)} s; wrote ${written.join(', ')}`);
    process.stdout.write(md);
  } finally {
    await client.close().catch(() => undefined);
    await children.stopAll();
  }
}

async function main(): Promise<number> {
  let options: Options | 'help';
  try {
    options = readOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const missing = ['nginx', 'wrk'].filter((name) => findExecutable(name) === undefined);
  if (missing.length > 0) {
    process.stderr.write(`bench: needs nginx and wrk; not found: ${missing.join(', ')}. Install them with: apt-get install nginx wrk\n`);
    return 2;
  }
  const children = new Children();
  const dir = mkdtempSync(join(tmpdir(), 'canary-bench-'));
  // nginx's worker runs as nobody when the bench runs as root, and its temp directories are in here.
  chmodSync(dir, 0o755);
  const onSignal = (signal: NodeJS.Signals, code: number): void => {
    if (interrupted) return;
    interrupted = true;
    progress(`${signal}: stopping every process the bench started`);
    void children.stopAll().finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(code);
    });
  };
  process.on('SIGINT', () => onSignal('SIGINT', 130));
  process.on('SIGTERM', () => onSignal('SIGTERM', 143));
  process.on('SIGHUP', () => onSignal('SIGHUP', 129));
  try {
    await run(options, children, dir);
  } finally {
    if (!interrupted) rmSync(dir, { recursive: true, force: true });
  }
  return 0;
}

main().then(
  (code) => {
    if (!interrupted) process.exit(code);
  },
  (err: unknown) => {
    if (interrupted) return;
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
