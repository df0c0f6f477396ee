/**
 * The bench's `control-plane` section (issue 16, item 3): does anything in the control plane hold
 * the event loop for more than 1 ms? A gateway process (control-plane-probe.ts) with 100 models
 * (every one with a canary, judged four times a second), a model whose two pools have 200
 * replicas each (health-checked against the bench backend's 200 ports), and 10 open event-stream
 * sessions (this process reads and discards their bytes; half of them connect during the
 * measurement, so that their snapshots are in it). Measured from inside the gateway: the
 * event-loop delay histogram's max, and the longest slice of each periodic pass. Run twice on the
 * same build: `before`, every pass in one slice (as the passes ran before they were sliced), and
 * `after`, sliced. No request traffic: what is measured is the control plane alone.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Agent, request } from 'undici';
import { spawnNode, stopChild } from '../lib/processes.js';
import { GATEWAY_NODE_FLAGS } from '../../gateway/src/runtime/heap.js';
import type { SurvivorReport } from './alloc-sampler.js';
import type { GcFigures, ScavengeFigures } from './gc-watch.js';
import { script } from './runtime.js';

/** The viewer token of the probe's gateway (the event stream's sessions). */
export const PROBE_TOKEN = 'bench-control-plane-token-0123456789';

export interface SliceFigures {
  readonly slices: number;
  readonly maxUnits: number;
  /** Wall clock of a slice: what a request waited behind it, preemption by other programs included. */
  readonly maxMs: number;
  readonly p99Ms: number;
  /** CPU time used during a slice (ProbeFigures.cpuClock says whose): its cost, whatever else the machine did. */
  readonly maxCpuMs: number;
  readonly p99CpuMs: number;
  /** Slices that used more than 1 ms of CPU, and of those, the ones a garbage collection pause overlapped. */
  readonly overOneMsCpu: number;
  readonly overOneMsCpuWithGc: number;
}

/** One slice over the target on the event loop's CPU, with what was going on around it. */
export interface CostlySlice {
  readonly work: string;
  readonly cpuMs: number;
  readonly wallMs: number;
  /**
   * Times the event loop's thread was switched back in to a CPU during the slice (null: not known,
   * with the process clock). 0: the slice ran through, its whole time its own work. More: it was
   * switched out, and what its waits for a CPU do not account for is time it spent blocked.
   */
  readonly switchesIn: number | null;
  /** Whether a garbage collection pause overlapped it. */
  readonly gc: boolean;
  /** When it ended, seconds into the measurement. */
  readonly atS: number;
}

export interface ProbeFigures {
  /** Whose CPU time the slices were timed with: the event loop's thread's time on a CPU (Linux), or the whole process's CPU time. */
  readonly cpuClock: 'thread' | 'process';
  /** perf_hooks monitorEventLoopDelay (resolution 1 ms), ms. */
  readonly loopDelay: { readonly maxMs: number; readonly p99Ms: number; readonly p999Ms: number; readonly meanMs: number };
  /** Per periodic pass: its slices over the measurement. */
  readonly passes: Readonly<Record<string, SliceFigures>>;
  /** The slices over the target, in the order they ran (at most MAX_COSTLY_LISTED). */
  readonly costly: readonly CostlySlice[];
  readonly gc: GcFigures;
}

/** The mean of `count` pauses that took `totalMs` together, for a table; a dash without any. */
const meanPause = (totalMs: number, count: number): string => (count === 0 ? '–' : (totalMs / count).toFixed(2));

/** Issue 16: nothing in the control plane blocks the event loop for more than this. */
export const TARGET_BLOCKING_MS = 1;

/** The costly slices a probe lists, per run (they are counted whatever their number). */
export const MAX_COSTLY_LISTED = 50;

export interface ControlPlaneOptions {
  readonly models: number;
  readonly replicas: number;
  readonly sessions: number;
  readonly durationS: number;
  readonly warmupS: number;
  /** Rounds of before and after, alternated. */
  readonly rounds: number;
  /**
   * The gateway's young generation (V8's --max-semi-space-size, MiB) instead of the one it runs
   * with (GATEWAY_NODE_FLAGS): a scavenge's pause grows with it (docs/performance.md).
   */
  readonly semiSpaceMiB?: number;
  /**
   * After the rounds, one more sliced run that measures what a scavenge would copy, by site, over
   * this many windows of SURVIVOR_WINDOW_MS (alloc-sampler.ts); 0 or undefined: not measured.
   */
  readonly survivorWindows?: number;
  readonly progress: (line: string) => void;
  /** Told of every process started (the caller stops them all on Ctrl-C). */
  readonly track?: (child: ChildProcess) => void;
}

export interface ControlPlaneRun {
  readonly mode: 'before' | 'after';
  readonly figures: ProbeFigures;
  /** Event-stream bytes the sessions received during the measurement. */
  readonly streamBytes: number;
}

export interface ControlPlaneSummary {
  readonly models: number;
  readonly replicas: number;
  readonly sessions: number;
  readonly durationS: number;
  /** The young generation's size the gateway ran with (V8's --max-semi-space-size, MiB; undefined: V8's default). */
  readonly semiSpaceMiB?: number | undefined;
  readonly runs: readonly ControlPlaneRun[];
  /**
   * The GC floor (gc-floor-probe.ts) after each sliced run, with that run's old generation and
   * allocation rate: what V8 charges here for the same heap and the same collections, nothing kept.
   */
  readonly floors?: readonly GcFigures[] | undefined;
  readonly survivors?: SurvivorReport | undefined;
}

/** A survivors window: about the time between two scavenges of the scenario with its sessions. */
const SURVIVOR_WINDOW_MS = 1000;
/** Survivor sites listed in the report. */
const SURVIVOR_SITES = 15;

const SEMI_SPACE_FLAG = '--max-semi-space-size=';
const MIN_SEMI_SPACE_FLAG = '--min-semi-space-size=';

/** The gateway's node flags, its young generation replaced when one is given (its maximum and the minimum it is held at). */
function gatewayFlags(semiSpaceMiB: number | undefined): readonly string[] {
  if (semiSpaceMiB === undefined) return GATEWAY_NODE_FLAGS;
  const kept = GATEWAY_NODE_FLAGS.filter((f) => !f.startsWith(SEMI_SPACE_FLAG) && !f.startsWith(MIN_SEMI_SPACE_FLAG));
  return [...kept, `${SEMI_SPACE_FLAG}${semiSpaceMiB}`, `${MIN_SEMI_SPACE_FLAG}${semiSpaceMiB}`];
}

/** The young generation's size in `flags`; undefined: V8's default. */
function semiSpaceOf(flags: readonly string[]): number | undefined {
  const flag = flags.find((f) => f.startsWith(SEMI_SPACE_FLAG));
  return flag === undefined ? undefined : Number(flag.slice(SEMI_SPACE_FLAG.length));
}

async function openSessions(admin: string, count: number): Promise<{ bytes: () => number; close: () => Promise<void> }> {
  const agent = new Agent({ connections: count });
  const aborts: AbortController[] = [];
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const abort = new AbortController();
    aborts.push(abort);
    const res = await request(`${admin}/api/events`, {
      dispatcher: agent,
      headers: { authorization: `Bearer ${PROBE_TOKEN}`, accept: 'text/event-stream' },
      signal: abort.signal,
      bodyTimeout: 0,
    });
    if (res.statusCode !== 200) throw new Error(`event stream answered ${res.statusCode}`);
    // Read and dropped: a browser tab reading the stream, without this process's parsing costs.
    res.body.on('data', (chunk: Buffer) => (bytes += chunk.length));
    res.body.on('error', () => {});
  }
  return {
    bytes: () => bytes,
    close: async () => {
      for (const a of aborts) a.abort();
      await agent.destroy();
    },
  };
}

async function startProbe(o: ControlPlaneOptions, ports: readonly number[], mode: 'before' | 'after', extraNodeArgs: readonly string[] = []): Promise<{ child: ChildProcess; admin: string }> {
  const args = ['--ports', ports.join(','), '--models', String(o.models), '--big', String(o.replicas), ...(mode === 'before' ? ['--unsliced'] : [])];
  const { child, match } = await spawnNode(script('control-plane-probe'), args, /control-plane probe admin (\S+)/, {
    ipc: true,
    timeoutMs: 60_000,
    nodeArgs: [...gatewayFlags(o.semiSpaceMiB), ...extraNodeArgs],
  });
  o.track?.(child);
  return { child, admin: match[1] as string };
}

/** The sliced gateway with every session open, warmed up; then the survivors' windows (alloc-sampler.ts). */
async function measureSurvivors(o: ControlPlaneOptions, ports: readonly number[], windows: number): Promise<SurvivorReport> {
  const { child, admin } = await startProbe(o, ports, 'after', ['--expose-gc', '--import', script('alloc-sampler')]);
  try {
    const sessions = await openSessions(admin, o.sessions);
    try {
      await new Promise((resolve) => setTimeout(resolve, o.warmupS * 1000));
      const answer = new Promise<{ survivors?: SurvivorReport; error?: string }>((resolve) => {
        const on = (m: { alloc?: string; survivors?: SurvivorReport; error?: string }): void => {
          if (m.alloc !== 'survivors') return;
          child.off('message', on);
          resolve(m);
        };
        child.on('message', on);
        child.once('exit', (code) => resolve({ error: `the gateway exited (${String(code)})` }));
      });
      child.send({ alloc: 'survivors', windows, windowMs: SURVIVOR_WINDOW_MS });
      const { survivors, error } = await answer;
      if (survivors === undefined) throw new Error(`survivors: ${error ?? 'no answer'}`);
      return survivors;
    } finally {
      await sessions.close();
    }
  } finally {
    await stopChild(child, 3_000);
  }
}

async function measure(o: ControlPlaneOptions, ports: readonly number[], mode: 'before' | 'after'): Promise<ControlPlaneRun> {
  const { child, admin } = await startProbe(o, ports, mode);
  try {
    // Half the sessions open before the warm-up (the stream's passes warm up with clients), the
    // other half once the measurement runs, so their snapshots are measured too.
    const early = Math.ceil(o.sessions / 2);
    const first = await openSessions(admin, early);
    let second: Awaited<ReturnType<typeof openSessions>> | undefined;
    try {
      // Warm-up: the first health pass settles, the JIT warms.
      await new Promise((resolve) => setTimeout(resolve, o.warmupS * 1000));
      const before = first.bytes();
      const answer = once(child, 'message') as Promise<[ProbeFigures]>;
      child.send({ measure: o.durationS });
      second = await openSessions(admin, o.sessions - early);
      const [figures] = await answer;
      return { mode, figures, streamBytes: first.bytes() - before + second.bytes() };
    } finally {
      await first.close();
      await second?.close();
    }
  } finally {
    await stopChild(child, 3_000);
  }
}

/** The GC floor for one sliced run: its old generation's size and its allocation rate, nothing kept. */
async function measureFloor(o: ControlPlaneOptions, like: ScavengeFigures): Promise<GcFigures> {
  const { child } = await spawnNode(script('gc-floor-probe'), ['--old-mib', String(like.oldMiB)], /gc floor ready/, {
    ipc: true,
    timeoutMs: 60_000,
    nodeArgs: gatewayFlags(o.semiSpaceMiB),
  });
  o.track?.(child);
  try {
    const answer = once(child, 'message') as Promise<[{ gc: GcFigures }]>;
    child.send({ measure: o.durationS, mibPerS: like.allocatedMiBPerS });
    const [{ gc }] = await answer;
    return gc;
  } finally {
    await stopChild(child, 3_000);
  }
}

export async function controlPlaneSection(o: ControlPlaneOptions): Promise<ControlPlaneSummary> {
  const backend = await spawnNode(script('backend'), ['--ports', String(o.replicas)], /listening on \S+ ports ([\d,]+)/, { ipc: true, timeoutMs: 60_000 });
  o.track?.(backend.child);
  const ports = (backend.match[1] as string).split(',').map(Number);
  const runs: ControlPlaneRun[] = [];
  const floors: GcFigures[] = [];
  let survivors: SurvivorReport | undefined;
  try {
    for (let round = 0; round < o.rounds; round++) {
      // Alternated: neither mode always runs first.
      const modes: Array<'before' | 'after'> = round % 2 === 0 ? ['before', 'after'] : ['after', 'before'];
      for (const mode of modes) {
        const run = await measure(o, ports, mode);
        const f = run.figures;
        const costliest = Object.entries(f.passes).sort((a, b) => b[1].maxCpuMs - a[1].maxCpuMs)[0];
        o.progress(
          `[control-plane] round ${round + 1}/${o.rounds} ${mode}: event-loop delay max ${f.loopDelay.maxMs} ms (p99 ${f.loopDelay.p99Ms} ms), costliest slice ${costliest === undefined ? '-' : `${costliest[1].maxCpuMs} ms CPU (${costliest[0]})`}, ${Math.round(run.streamBytes / 1024 / o.durationS)} KiB/s to the streams`,
        );
        runs.push(run);
        const like = f.gc.scavenge;
        if (mode === 'after' && like !== null) {
          const floor = await measureFloor(o, like);
          o.progress(`[control-plane] round ${round + 1}/${o.rounds} GC floor (${like.oldMiB} MiB old, ${like.allocatedMiBPerS} MiB/s): scavenges paused ${floor.scavenge?.meanPauseMs ?? '-'} ms on average against the gateway's ${like.meanPauseMs} ms`);
          floors.push(floor);
        }
      }
    }
    if ((o.survivorWindows ?? 0) > 0) {
      survivors = await measureSurvivors(o, ports, o.survivorWindows as number);
      o.progress(`[control-plane] survivors: ${Math.round(survivors.totalBytes / 1024)} KiB per ${SURVIVOR_WINDOW_MS} ms window, mean of ${survivors.windows}`);
    }
  } finally {
    await stopChild(backend.child, 3_000);
  }
  return { models: o.models, replicas: o.replicas, sessions: o.sessions, durationS: o.durationS, semiSpaceMiB: semiSpaceOf(gatewayFlags(o.semiSpaceMiB)), runs, floors, survivors };
}

const worst = (runs: readonly ControlPlaneRun[], pick: (r: ControlPlaneRun) => number): number => Math.max(...runs.map(pick));

function clockOf(runs: readonly ControlPlaneRun[]): string {
  const kinds = new Set(runs.map((r) => r.figures.cpuClock));
  if (kinds.size === 1 && kinds.has('thread')) return "the time the event loop's own thread was on a CPU meanwhile (wall clock minus its waits for a CPU, from Linux /proc/thread-self/schedstat; other threads and programs left out)";
  if (kinds.size === 1) return "the CPU time the process used meanwhile (every thread's; this system has no per-thread clock)";
  return "the CPU time of the event loop's thread, or of the process where that clock was missing";
}

/** The section's tables, in the bench report's markdown. */
export function controlPlaneMarkdown(s: ControlPlaneSummary): string {
  const modes = (['before', 'after'] as const).map((mode) => ({ mode, runs: s.runs.filter((r) => r.mode === mode) })).filter((m) => m.runs.length > 0);
  const works = [...new Set(s.runs.flatMap((r) => Object.keys(r.figures.passes)))].sort();
  const label = (mode: 'before' | 'after'): string => (mode === 'before' ? 'before (each pass whole)' : '**after (sliced)**');
  const lines = [
    `### Control plane: event-loop blocking (${s.models} models with a canary, 2 pools of ${s.replicas} replicas, ${s.sessions} event-stream sessions; ${s.runs.length} runs of ${s.durationS} s; young generation ${s.semiSpaceMiB === undefined ? "V8's default" : `${s.semiSpaceMiB} MiB a semi-space`})`,
    '',
    `Worst over the runs. Event-loop delay: perf_hooks monitorEventLoopDelay at 1 ms resolution, whose idle reading is its own 1 ms period (blocking = max - 1 ms); it counts whatever held the loop, the machine's other programs preempting it included. The passes' slices are timed from inside: wall clock and ${clockOf(s.runs)} (their own cost; target: none over ${TARGET_BLOCKING_MS} ms).`,
    '',
    '| | event-loop delay max ms | p99 ms | p99.9 ms | GC pauses | GC mean ms | GC max ms | GC pauses over 1 ms | survived a scavenge, KiB (median per run) | promoted by one, KiB |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const perRun = (runs: readonly ControlPlaneRun[], pick: (s: NonNullable<ProbeFigures['gc']['scavenge']>) => number): string =>
    runs.map((r) => (r.figures.gc.scavenge === null ? '–' : pick(r.figures.gc.scavenge).toFixed(0))).join(', ');
  for (const { mode, runs } of modes) {
    const sum = (pick: (r: ControlPlaneRun) => number): number => runs.reduce((n, r) => n + pick(r), 0);
    lines.push(
      `| ${label(mode)} | ${worst(runs, (r) => r.figures.loopDelay.maxMs).toFixed(2)} | ${worst(runs, (r) => r.figures.loopDelay.p99Ms).toFixed(2)} | ${worst(runs, (r) => r.figures.loopDelay.p999Ms).toFixed(2)} | ${sum((r) => r.figures.gc.count)} | ${meanPause(sum((r) => r.figures.gc.totalMs), sum((r) => r.figures.gc.count))} | ${worst(runs, (r) => r.figures.gc.maxMs).toFixed(2)} | ${sum((r) => r.figures.gc.overOneMs)} | ${perRun(runs, (g) => g.survivedKiB)} | ${perRun(runs, (g) => g.promotedKiB)} |`,
    );
  }
  const floors = s.floors ?? [];
  if (floors.length > 0) {
    const sliced = s.runs.filter((r) => r.mode === 'after');
    const total = (gcs: readonly GcFigures[], pick: (g: GcFigures) => number): number => gcs.reduce((n, g) => n + pick(g), 0);
    const perFloor = (pick: (g: ScavengeFigures) => number): string => floors.map((g) => (g.scavenge === null ? '–' : pick(g.scavenge).toFixed(0))).join(', ');
    lines.push(
      `| GC floor (bare Node: each sliced run's old generation and allocation rate, nothing kept) | – | – | – | ${total(floors, (g) => g.count)} | ${meanPause(total(floors, (g) => g.totalMs), total(floors, (g) => g.count))} | ${Math.max(...floors.map((g) => g.maxMs)).toFixed(2)} | ${total(floors, (g) => g.overOneMs)} | ${perFloor((g) => g.survivedKiB)} | ${perFloor((g) => g.promotedKiB)} |`,
    );
    // Young collections only: the gateway's full collections have no counterpart in the floor.
    const scavengeMean = (figures: ReadonlyArray<ScavengeFigures | null>): number => {
      const known = figures.filter((g): g is ScavengeFigures => g !== null && g.count > 0);
      const count = known.reduce((n, g) => n + g.count, 0);
      return count === 0 ? 0 : known.reduce((n, g) => n + g.meanPauseMs * g.count, 0) / count;
    };
    const like = sliced.map((r) => r.figures.gc.scavenge).filter((g): g is ScavengeFigures => g !== null);
    const gatewayMean = scavengeMean(like);
    const floorMean = scavengeMean(floors.map((g) => g.scavenge));
    lines.push(
      '',
      `The sliced gateway's scavenges against the GC floor's (gc-floor-probe.ts, after each sliced run, with its node flags, ${like.map((g) => `${g.oldMiB.toFixed(0)} MiB old at ${g.allocatedMiBPerS.toFixed(1)} MiB/s`).join('; ')}): a mean pause of ${gatewayMean.toFixed(2)} against ${floorMean.toFixed(2)} ms, **${floorMean > 0 ? `${(gatewayMean / floorMean).toFixed(2)}x` : 'n/a'}**. What the floor's cost is V8's on this machine for that heap and that many collections; the rest is what the gateway's collections copy and the roots they walk.`,
    );
  }
  lines.push(
    '',
    `| pass | | slices | most units | CPU p99 ms | CPU max ms | slices over ${TARGET_BLOCKING_MS} ms CPU (of which a GC pause overlapped) | wall p99 ms | wall max ms |`,
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const work of works) {
    for (const { mode, runs } of modes) {
      const f = (pick: (x: SliceFigures) => number): number => worst(runs, (r) => (r.figures.passes[work] === undefined ? 0 : pick(r.figures.passes[work] as SliceFigures)));
      const over = runs.reduce((n, r) => n + (r.figures.passes[work]?.overOneMsCpu ?? 0), 0);
      const overGc = runs.reduce((n, r) => n + (r.figures.passes[work]?.overOneMsCpuWithGc ?? 0), 0);
      lines.push(
        `| ${work} | ${label(mode)} | ${runs.reduce((n, r) => n + (r.figures.passes[work]?.slices ?? 0), 0)} | ${f((x) => x.maxUnits)} | ${f((x) => x.p99CpuMs).toFixed(3)} | ${f((x) => x.maxCpuMs).toFixed(3)} | ${over} (${overGc})${mode === 'after' ? (over - overGc === 0 ? ' (met but for GC)' : ' (**missed**)') : ''} | ${f((x) => x.p99Ms).toFixed(3)} | ${f((x) => x.maxMs).toFixed(3)} |`,
      );
    }
  }
  const after = s.runs.map((r, i) => ({ run: i + 1, r })).filter(({ r }) => r.mode === 'after');
  const costly = after.flatMap(({ run, r }) => r.figures.costly.map((c) => ({ run, c })));
  if (costly.length > 0) {
    lines.push(
      '',
      `The sliced runs' slices over ${TARGET_BLOCKING_MS} ms on the CPU, one by one. *Switched in*: how often the event loop's thread was put back on a CPU during the slice; 0 means it ran through, all of its time its own work; more means it was switched out, and the part of its time not spent waiting for a CPU was spent blocked (a lock, a page fault that slept).`,
      '',
      '| run | at s | pass | CPU ms | wall ms | switched in | GC pause overlapping |',
      '|---:|---:|---|---:|---:|---:|---|',
      ...costly.map(({ run, c }) => `| ${run} | ${c.atS.toFixed(1)} | ${c.work} | ${c.cpuMs.toFixed(3)} | ${c.wallMs.toFixed(3)} | ${c.switchesIn ?? 'n/a'} | ${c.gc ? 'yes' : 'no'} |`),
    );
  }
  if (s.survivors !== undefined) {
    const v = s.survivors;
    lines.push(
      '',
      `What a scavenge at a random moment would copy, by allocating site (the sliced gateway, one more run; \`--survivors\`): V8's sampling heap profiler over ${v.windowMs} ms, then one young collection forced, then only the samples that survived it; mean of ${v.windows} windows, each at a random point of the second. Made in the window and still alive: **${(v.totalBytes / 1024).toFixed(1)} KiB** per window.`,
      '',
      '| site | KiB per window |',
      '|---|---:|',
      ...v.sites.slice(0, SURVIVOR_SITES).map((x) => `| \`${x.site}\` | ${(x.bytes / 1024).toFixed(1)} |`),
    );
  }
  return `${lines.join('\n')}\n`;
}
