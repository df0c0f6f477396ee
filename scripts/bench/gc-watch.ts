/**
 * Garbage-collection pauses over one measurement, and what the young collections did: the
 * control-plane probe's gateway and the GC floor (gc-floor-probe.ts) measure themselves with it,
 * so the two rows of the report are the same figures taken the same way.
 */
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { GCProfiler, type HeapSpaceStatistics } from 'node:v8';
import { median, round3 } from './stats.js';

/** What the young collections of one measurement did (V8's GCProfiler: the heap's spaces before and after each). */
export interface ScavengeFigures {
  readonly count: number;
  /** Left in the young generation (what it copied there), median KiB. */
  readonly survivedKiB: number;
  /** Moved to the old generation, median KiB. */
  readonly promotedKiB: number;
  /** Allocated in the young generation between two scavenges over the time between them: MiB a second. */
  readonly allocatedMiBPerS: number;
  /** The old generation's size after the last one, MiB. */
  readonly oldMiB: number;
  /** Their mean pause (perf_hooks' young-collection entries), ms. */
  readonly meanPauseMs: number;
}

/** Garbage-collection pauses (perf_hooks 'gc' entries) over the measurement. */
export interface GcFigures {
  readonly count: number;
  /** All pauses together: over several runs, the mean pause, which moves less with the machine than the longest. */
  readonly totalMs: number;
  readonly maxMs: number;
  readonly p99Ms: number;
  readonly overOneMs: number;
  /** A scavenge's pause follows these; null without any scavenge. */
  readonly scavenge: ScavengeFigures | null;
}

export interface Pause {
  readonly startTime: number;
  readonly duration: number;
  /** A young collection (a scavenge). */
  readonly minor: boolean;
}

type GcStatistics = NonNullable<ReturnType<GCProfiler['stop']>>['statistics'][number];

const OLD_SPACES = ['old_space', 'large_object_space'];
const YOUNG_SPACES = ['new_space', 'new_large_object_space'];
const MIB = 1024 * 1024;

const usedIn = (spaces: readonly HeapSpaceStatistics[], names: readonly string[]): number =>
  spaces.reduce((n, space) => (names.includes(space.spaceName) ? n + space.spaceUsedSize : n), 0);

export const p99 = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))] ?? 0;

/**
 * The scavenges' figures; null without any. `pauses` are the young collections' (perf_hooks): the
 * rate is what each found allocated since the one before over the time since it (with fewer than
 * two, over `seconds`).
 */
export function scavengeFigures(scavenges: readonly GcStatistics[], pauses: readonly Pause[], seconds: number): ScavengeFigures | null {
  const last = scavenges.at(-1);
  if (last === undefined) return null;
  const medianKiB = (bytes: number[]): number => Math.round(median(bytes) / 1024);
  // What the young generation held before each scavenge, less what the one before left there.
  const between = scavenges.slice(1).map((g, i) => usedIn(g.beforeGC.heapSpaceStatistics, YOUNG_SPACES) - usedIn((scavenges[i] as GcStatistics).afterGC.heapSpaceStatistics, YOUNG_SPACES));
  const starts = pauses.map((g) => g.startTime);
  const span = starts.length >= 2 ? ((starts.at(-1) as number) - (starts[0] as number)) / 1000 : 0;
  const bytesPerS =
    between.length > 0 && span > 0
      ? (between.reduce((a, b) => a + b, 0) / between.length) * ((starts.length - 1) / span)
      : usedIn(last.beforeGC.heapSpaceStatistics, YOUNG_SPACES) * scavenges.length / seconds;
  return {
    count: scavenges.length,
    survivedKiB: medianKiB(scavenges.map((g) => usedIn(g.afterGC.heapSpaceStatistics, YOUNG_SPACES))),
    promotedKiB: medianKiB(scavenges.map((g) => usedIn(g.afterGC.heapSpaceStatistics, OLD_SPACES) - usedIn(g.beforeGC.heapSpaceStatistics, OLD_SPACES))),
    allocatedMiBPerS: round3(bytesPerS / MIB),
    oldMiB: round3(usedIn(last.afterGC.heapSpaceStatistics, OLD_SPACES) / MIB),
    meanPauseMs: round3(pauses.length === 0 ? 0 : pauses.reduce((n, g) => n + g.duration, 0) / pauses.length),
  };
}

/** Watches every collection from construction; `pauses` are those since the last `restart`. */
export class GcWatch {
  readonly pauses: Pause[] = [];
  #profiler: GCProfiler | undefined;
  #from = 0;

  constructor() {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const kind = (entry as PerformanceEntry & { readonly detail?: { readonly kind?: number } }).detail?.kind;
        this.pauses.push({ startTime: entry.startTime, duration: entry.duration, minor: kind === constants.NODE_PERFORMANCE_GC_MINOR });
      }
    }).observe({ entryTypes: ['gc'] });
  }

  /** Starts a measurement over. */
  restart(): void {
    this.pauses.length = 0;
    this.#profiler?.stop();
    this.#profiler = new GCProfiler();
    this.#profiler.start();
    this.#from = performance.now();
  }

  /** The figures since `restart`. */
  figures(): GcFigures {
    const seconds = (performance.now() - this.#from) / 1000;
    const scavenges = (this.#profiler?.stop()?.statistics ?? []).filter((g) => g.gcType === 'Scavenge');
    this.#profiler = undefined;
    const durations = this.pauses.map((g) => g.duration);
    return {
      count: durations.length,
      totalMs: round3(durations.reduce((n, d) => n + d, 0)),
      maxMs: round3(Math.max(0, ...durations)),
      p99Ms: round3(p99(durations)),
      overOneMs: durations.filter((d) => d > 1).length,
      scavenge: scavengeFigures(scavenges, this.pauses.filter((g) => g.minor), seconds),
    };
  }
}
