/**
 * One measurement: load from its own process (wrk, h2load, or the open-loop generator) against one target,
 * with the CPU each party used meanwhile, so a saturated backend or load generator, or another
 * program on the machine, shows up next to the figure it spoils.
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { spawnNode } from '../lib/processes.js';
import type { LoadgenResult } from './stats.js';
import { cpuSeconds, machineBusySeconds, mainThreadCpuSeconds, processTree } from './system.js';
import { runH2load, type H2loadResult, type H2loadRun } from './h2load.js';
import { PREDICT_PATH, runWrk, type WrkResult } from './wrk.js';

const LOADGEN = fileURLToPath(new URL('./loadgen.js', import.meta.url));

/** Percent of one core over the measured window. */
export interface CpuShares {
  readonly target: number;
  readonly backend: number;
  readonly load: number;
  /** Busy CPU on the machine not used by the bench or its children: someone else's load. */
  readonly foreign: number;
}

export interface Target {
  readonly key: string;
  readonly label: string;
  readonly url: string;
  /** Processes whose CPU counts as the target's (nginx: master and worker). */
  readonly pids: readonly number[];
  /** The gateway: its answers must carry x-model-version. */
  readonly gateway: boolean;
}

export interface MeasureContext {
  readonly wrk: string;
  readonly script: string;
  readonly threads: number;
  readonly backendPid: number;
  /** Every child goes through here at once, so Ctrl-C can stop it. */
  readonly track: (child: ChildProcess) => void;
}

interface CpuSample {
  readonly at: number;
  readonly groups: Readonly<Record<'target' | 'backend' | 'load', number>>;
  readonly ours: number;
  readonly machine: number;
}

function sample(target: readonly number[], backend: number, load: number): CpuSample {
  const sum = (pids: readonly number[]): number => pids.reduce((n, pid) => n + cpuSeconds(pid), 0);
  return {
    at: performance.now(),
    groups: { target: sum(target), backend: cpuSeconds(backend), load: load > 0 ? cpuSeconds(load) : 0 },
    ours: sum(processTree(process.pid)),
    machine: machineBusySeconds(),
  };
}

function shares(a: CpuSample, b: CpuSample): CpuShares {
  const seconds = (b.at - a.at) / 1000;
  const pct = (delta: number): number => Math.round((Math.max(0, delta) / seconds) * 100);
  return {
    target: pct(b.groups.target - a.groups.target),
    backend: pct(b.groups.backend - a.groups.backend),
    load: pct(b.groups.load - a.groups.load),
    foreign: pct(b.machine - a.machine - (b.ours - a.ours)),
  };
}

/**
 * Samples CPU from `startMs` to `endMs` after the load process starts: inside the window, so the
 * load generator's connecting and closing are left out.
 */
function cpuWindow(target: Target, backendPid: number, startMs: number, endMs: number): { begin: (loadPid: number) => void; result: () => CpuShares | undefined; cancel: () => void } {
  let first: CpuSample | undefined;
  let last: CpuSample | undefined;
  const timers: NodeJS.Timeout[] = [];
  return {
    begin: (loadPid) => {
      if (endMs - startMs < 300) return;
      timers.push(setTimeout(() => (first = sample(target.pids, backendPid, loadPid)), startMs));
      timers.push(setTimeout(() => (last = sample(target.pids, backendPid, loadPid)), endMs));
    },
    result: () => (first !== undefined && last !== undefined ? shares(first, last) : undefined),
    cancel: () => timers.forEach(clearTimeout),
  };
}

export interface WrkMeasurement extends WrkResult {
  readonly cpu: CpuShares | undefined;
}

export async function measureWrk(ctx: MeasureContext, target: Target, connections: number, durationS: number): Promise<WrkMeasurement> {
  const window = cpuWindow(target, ctx.backendPid, 300, durationS * 1000 - 200);
  try {
    const result = await runWrk(
      ctx.wrk,
      { url: target.url + PREDICT_PATH, connections, threads: ctx.threads, durationS, script: ctx.script },
      (child) => {
        ctx.track(child);
        window.begin(child.pid ?? 0);
      },
    );
    return { ...result, cpu: window.result() };
  } finally {
    window.cancel();
  }
}

export interface H2loadMeasurement extends H2loadResult {
  readonly cpu: CpuShares | undefined;
}

/** h2load against `target` (its URL plus `path`). */
export async function measureH2load(ctx: MeasureContext, h2load: string, target: Target, run: Omit<H2loadRun, 'url'> & { readonly path: string }): Promise<H2loadMeasurement> {
  const window = cpuWindow(target, ctx.backendPid, 300, run.durationS * 1000 - 200);
  try {
    const result = await runH2load(h2load, { ...run, url: target.url + run.path }, (child) => {
      ctx.track(child);
      window.begin(child.pid ?? 0);
    });
    return { ...result, cpu: window.result() };
  } finally {
    window.cancel();
  }
}

export interface LoadgenMeasurement extends LoadgenResult {
  readonly cpu: CpuShares | undefined;
  /**
   * CPU time of the target's processes from the first measured request's send to the last one's
   * answer, per measured request, microseconds; undefined if the generator did not say when.
   */
  readonly targetCpuUsPerRequest: number | undefined;
  /** The same, of the processes' main threads only (a Node process's event loop). */
  readonly targetMainThreadCpuUsPerRequest: number | undefined;
}

export interface LoadgenRun {
  readonly rate: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly connections: number;
  /** gRPC: the target's URL path is the method, this file the length-prefixed request message. */
  readonly grpcBody?: string;
  /** The URL path to call; the REST predict path if not given. */
  readonly path?: string;
}

export async function measureLoadgen(ctx: MeasureContext, target: Target, run: LoadgenRun): Promise<LoadgenMeasurement> {
  const { child } = await spawnNode(
    LOADGEN,
    [
      '--url', target.url + (run.path ?? PREDICT_PATH),
      '--rate', String(run.rate),
      '--duration', String(run.durationS),
      '--warmup', String(run.warmupS),
      '--connections', String(run.connections),
      ...(run.grpcBody === undefined ? [] : ['--grpc-body', run.grpcBody]),
    ],
    /^loadgen ready/,
    { ipc: true },
  );
  ctx.track(child);
  const window = cpuWindow(target, ctx.backendPid, run.warmupS * 1000 + 300, (run.warmupS + run.durationS) * 1000 - 200);
  window.begin(child.pid ?? 0);
  const targetCpu = (): readonly [number, number] => [
    target.pids.reduce((n, pid) => n + cpuSeconds(pid), 0),
    target.pids.reduce((n, pid) => n + mainThreadCpuSeconds(pid), 0),
  ];
  let windowStart: readonly [number, number] | undefined;
  let windowEnd: readonly [number, number] | undefined;
  try {
    const line = await new Promise<string>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
      lines.on('line', (text) => {
        if (text === 'loadgen window-start') windowStart = targetCpu();
        else if (text === 'loadgen window-end') windowEnd = targetCpu();
        else if (text.startsWith('loadgen-result ')) resolve(text.slice('loadgen-result '.length));
      });
      // 'close', not 'exit': the result line may still be in the pipe when the process is gone.
      child.once('close', (code) => reject(new Error(`the load generator exited (code ${String(code)}) without a result`)));
    });
    const result = JSON.parse(line) as LoadgenResult;
    const perRequest = (which: 0 | 1): number | undefined =>
      windowStart === undefined || windowEnd === undefined || result.requests === 0 ? undefined : Math.round(((windowEnd[which] - windowStart[which]) / result.requests) * 1e7) / 10;
    return { ...result, cpu: window.result(), targetCpuUsPerRequest: perRequest(0), targetMainThreadCpuUsPerRequest: perRequest(1) };
  } finally {
    window.cancel();
  }
}
