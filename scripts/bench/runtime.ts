/**
 * What every section of npm run bench shares: the processes it started (so that an error or
 * Ctrl-C stops them all), starting the gateway and the Node proxies, progress lines, and wrk
 * alternated over the targets.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { request, type Agent } from 'undici';
import { spawnNode, stopChild } from '../lib/processes.js';
import { gatewayConfig, type GatewayVariant } from './gateway-config.js';
import { measureWrk, type CpuShares, type MeasureContext, type Target, type WrkMeasurement } from './measure.js';
import { nodeFlagsOf, type Options } from './options.js';
import { fmtInt, fmtMs, type RoundFigures, type TargetSummary } from './report.js';
import { median, round3, spreadPct } from './stats.js';
import { PREDICT_BODY, PREDICT_PATH, USER_AGENT } from './wrk.js';

export const GATEWAY_MAIN = fileURLToPath(new URL('../../gateway/src/main.js', import.meta.url));
export const SIMULATOR = fileURLToPath(new URL('../../simulator/src/main.js', import.meta.url));
export const script = (name: string): string => fileURLToPath(new URL(`./${name}.js`, import.meta.url));
export const EXIT_WITH_PARENT = pathToFileURL(script('exit-with-parent')).href;
export const ADMIN_TOKEN = 'bench-operator-token-0123456789';

/** Another program using more than this share of a core during a run makes its figures suspect. */
export const FOREIGN_CPU_NOTE_PCT = 10;

export const progress = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Every process the bench starts, so that an error or Ctrl-C stops them all. */
export class Children {
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
export interface Running {
  readonly target: Target;
  readonly child: ChildProcess;
}

export interface Runtime {
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
export function forwardOutput(child: ChildProcess, name: string): void {
  if (child.stdout === null) return;
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.endsWith('shutting down')) process.stderr.write(`  [${name}] ${line}\n`);
  });
}

export function childEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // The operator's own gateway settings must not leak into the bench's gateways.
  for (const name of Object.keys(env)) {
    if (/^(GATEWAY_|REDIS_)/.test(name) || name === 'ADMIN_VIEWER_TOKEN' || name === 'LOG_LEVEL') delete env[name];
  }
  return { ...env, ...extra };
}

/** A gateway the bench started: its REST target, and its gRPC port. */
export interface GatewayRunning extends Running {
  readonly grpcPort: number;
}

/** A gateway with one of the bench's policies (gateway-config.ts) in front of the REST backend. */
export function startGateway(rt: Runtime, name: string, label: string, variant: GatewayVariant): Promise<GatewayRunning> {
  return startGatewayWith(rt, name, label, gatewayConfig(variant));
}

export async function startGatewayWith(rt: Runtime, name: string, label: string, config: Record<string, unknown>, main = GATEWAY_MAIN): Promise<GatewayRunning> {
  const file = join(rt.dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(config, null, 1));
  const env = childEnv({
    LOG_LEVEL: 'warn',
    ADMIN_TOKEN,
    GATEWAY_STORE: 'memory',
    NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import=${EXIT_WITH_PARENT}`.trim(),
  });
  const { child, match } = await spawnNode(main, ['--config', file], /REST on [\d.]+:(\d+), admin API on \S+, gRPC on [\d.]+:(\d+)/, {
    env,
    ipc: true,
    timeoutMs: 60_000,
    nodeArgs: await nodeFlagsOf(main),
  });
  rt.children.track(child);
  forwardOutput(child, name);
  return { child, grpcPort: Number(match[2]), target: { key: name, label, url: `http://127.0.0.1:${match[1]}`, pids: [child.pid ?? 0], gateway: true } };
}

/** One of the bench's own proxies (proxy-*.ts), which announce `listening on <url>`. */
export async function startNodeProxy(rt: Runtime, file: string, key: string, label: string, upstream = `http://127.0.0.1:${rt.backendPorts[0]}`): Promise<Running> {
  const { child, match } = await spawnNode(script(file), ['--upstream', upstream], /listening on (\S+)/, { ipc: true });
  rt.children.track(child);
  forwardOutput(child, key);
  return { child, target: { key, label, url: match[1] as string, pids: [child.pid ?? 0], gateway: false } };
}

export async function stopAll(rt: Runtime, running: readonly Running[]): Promise<void> {
  await Promise.all(running.map((r) => rt.children.stop(r.child)));
}

/** One request before measuring: a target that answers errors would measure nothing but its errors. */
export async function checkTarget(rt: Runtime, target: Target): Promise<void> {
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

export function cpuText(cpu: CpuShares | undefined, load: string): string {
  if (cpu === undefined) return '';
  return ` (CPU % of a core: target ${cpu.target}, backend ${cpu.backend}, ${load} ${cpu.load}${cpu.foreign >= FOREIGN_CPU_NOTE_PCT ? `, OTHER PROGRAMS ${cpu.foreign}` : ''})`;
}

export function recordRun(rt: Runtime, what: string, cpu: CpuShares | undefined): void {
  rt.runs.push({ what, foreign: cpu?.foreign ?? 0 });
}

export function medianCpu(runs: readonly (CpuShares | undefined)[]): CpuShares | undefined {
  const known = runs.filter((c): c is CpuShares => c !== undefined);
  if (known.length === 0) return undefined;
  const m = (k: keyof CpuShares): number => Math.round(median(known.map((c) => c[k])));
  return { target: m('target'), backend: m('backend'), load: m('load'), foreign: m('foreign') };
}

/**
 * wrk against each target in turn: a warm-up each, then `rounds` rounds, each starting one target
 * further along, so that no target always runs first (after a pause) or last.
 */
export async function alternate(rt: Runtime, section: string, targets: readonly Target[], connections: number): Promise<TargetSummary[]> {
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
      spreadPct: spreadPct(list.map((r) => r.rps), rps),
      errors: list.reduce((n, r) => n + r.errors, 0),
      cpu: medianCpu(list.map((r) => r.cpu)),
      vsNginx: undefined,
      vsReplyFrom: undefined,
      rounds: list,
    };
  });
}

export function backendTarget(rt: Runtime): Target {
  return { key: 'direct', label: 'direct (backend, the limit)', url: `http://127.0.0.1:${rt.backendPorts[0]}`, pids: [rt.ctx.backendPid], gateway: false };
}

export const backendUrls = (rt: Runtime, count: number): string[] => rt.backendPorts.slice(0, count).map((p) => `http://127.0.0.1:${p}`);
