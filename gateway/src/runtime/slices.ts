/**
 * Periodic control-plane work in slices: a pass over every model, pool or replica (the controller's
 * judgement, the stats windows' roll, the event stream's views) handles at most `budget` units of
 * work per event-loop turn and lets I/O in between (setImmediate), so a gateway with a hundred
 * models and pools of hundreds of replicas never holds a proxied request back for the length of
 * a whole pass. The data plane reads what these passes write field by field (counters, flags), so
 * a pass seen half done is only a pass a few microseconds later for some pools.
 *
 * A unit is what a pass weighs its items in (a model, a replica); an item heavier than the budget
 * is a slice of its own. Tests watch the slices through `observeSlices`.
 */

/** Units per slice by default: about a tenth of a millisecond of any of the passes on a slow core. */
export const SLICE_BUDGET = 32;

/**
 * A slice also ends once it has run this long (wall clock, checked between items), whatever its
 * units. The budgets in units hold for code V8 has optimized; a pass's code runs a few times a
 * second, so for its first seconds (and again after a deoptimization) it runs in the interpreter
 * or baseline tier, several times slower: one of the causes of the rare slices over 1 ms.
 */
export const SLICE_TIME_MS = 0.5;

/**
 * One finished slice of a pass: its name, the units and the items it handled, how long it ran
 * (wall clock) and the CPU time it used by the observer's clock (what it cost, whatever else the
 * machine was doing).
 */
export type SliceObserver = (work: string, units: number, items: number, ms: number, cpuMs: number) => void;

/** CPU time so far, in milliseconds. */
export type CpuClock = () => number;

/** The whole process's CPU time: V8's helper threads and libuv's pool count too. */
export const processCpuMs: CpuClock = () => {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
};

let observer: SliceObserver | undefined;
let cpuClock: CpuClock = processCpuMs;
let unbounded = false;

/**
 * Installs (or removes, with undefined) the one observer of every slice (tests, the bench), and
 * the CPU clock its slices are timed with.
 */
export function observeSlices(next: SliceObserver | undefined, clock: CpuClock = processCpuMs): void {
  observer = next;
  cpuClock = clock;
}

/**
 * For the bench's before/after only: every pass in one slice, as before passes were sliced, so
 * the same build can show what slicing changes.
 */
export function unboundSlices(on: boolean): void {
  unbounded = on;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export interface SlicedPass<T> {
  /** Names the pass for the observer. */
  readonly work: string;
  /** Units per slice (default SLICE_BUDGET). */
  readonly budget?: number;
  /** An item's weight in units (default 1). */
  readonly weight?: (item: T) => number;
  /** Stops the pass between slices (its owner stopped). */
  readonly stopped?: () => boolean;
}

/**
 * Calls `each` on every item, `budget` units per event-loop turn and no more items once the turn
 * has run SLICE_TIME_MS. The first slice runs at once (synchronously, before the first await);
 * resolves after the last.
 */
export async function inSlices<T>(pass: SlicedPass<T>, items: Iterable<T>, each: (item: T) => void): Promise<void> {
  const budget = unbounded ? Infinity : (pass.budget ?? SLICE_BUDGET);
  const timeBudget = unbounded ? Infinity : SLICE_TIME_MS;
  let used = 0;
  let count = 0;
  let began = 0;
  // The CPU clock is read only while someone observes.
  let cpu: number | undefined;
  const startClock = (): void => {
    began = performance.now();
    if (observer === undefined) return;
    cpu = cpuClock();
  };
  const report = (): void => {
    if (observer === undefined || cpu === undefined) return;
    // The CPU clock is read inside the wall clock's interval, so a slice never reads as more CPU
    // than wall time (the clock itself may allocate, and a GC pause it meets counts in both).
    const cpuMs = cpuClock() - cpu;
    observer(pass.work, used, count, performance.now() - began, cpuMs);
  };
  startClock();
  for (const item of items) {
    const weight = pass.weight?.(item) ?? 1;
    if (count > 0 && (used + weight > budget || performance.now() - began >= timeBudget)) {
      report();
      used = 0;
      count = 0;
      await nextTurn();
      if (pass.stopped?.() === true) return;
      startClock();
    }
    each(item);
    used += weight;
    count++;
  }
  if (count > 0) report();
}

/**
 * A step that is not cut (a new event-stream client's catch-up), run at once and shown to the
 * observer as a slice of its own, so that what it costs is measured with the rest.
 */
export function wholeStep(work: string, run: () => void): void {
  if (observer === undefined) {
    run();
    return;
  }
  const began = performance.now();
  const cpu = cpuClock();
  run();
  const cpuMs = cpuClock() - cpu;
  observer(work, 1, 1, performance.now() - began, cpuMs);
}

/**
 * Runs a periodic pass every `intervalMs`, never two at once: a pass still running when the next is
 * due (a slow machine) makes that one skip, rather than piling passes up.
 */
export class PeriodicPass {
  readonly #run: () => Promise<void>;
  readonly #onError: (err: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(run: () => Promise<void>, onError: (err: unknown) => void) {
    this.#run = run;
    this.#onError = onError;
  }

  start(intervalMs: number): void {
    clearInterval(this.#timer);
    this.#timer = setInterval(() => void this.runOnce(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One pass now, unless one is under way; resolves when it ended. */
  async runOnce(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      await this.#run();
    } catch (err) {
      this.#onError(err);
    } finally {
      this.#running = false;
    }
  }
}
