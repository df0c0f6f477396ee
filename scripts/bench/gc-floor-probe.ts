#!/usr/bin/env node
/**
 * The control-plane bench's GC floor: a bare Node process, run with the gateway's node flags, that
 * holds an old generation of the gateway's size and allocates at the gateway's rate but keeps
 * nothing. Its scavenges cost what V8 charges on this machine for a heap of that size and that
 * many collections a second; what the gateway's cost beyond that is its own (what its collections
 * copy, its roots). On these VMs a scavenge has a fixed cost near 1 ms (docs/performance.md), so
 * the report sets the gateway's pauses against this process's, measured in the same run.
 *
 *   node gc-floor-probe.js --old-mib 47
 *
 * Prints `gc floor ready` once its old generation is built. Then, on an IPC message
 * `{ measure: seconds, mibPerS }`, allocates that many MiB a second of objects it drops at once,
 * in steps of STEP_MS, and answers with a GcFigures message. Exits when its parent goes away.
 */
import { parseArgs } from 'node:util';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { GcWatch, type GcFigures } from './gc-watch.js';

/** How often the floor allocates: the gateway's allocations come in many small turns too. */
const STEP_MS = 2;
const MIB = 1024 * 1024;

interface Garbage {
  readonly a: number;
  readonly b: number;
  readonly c: Garbage | null;
  readonly d: string;
}

/**
 * What the floor keeps: the old generation it holds for the whole run, and the last object made
 * (written so V8 cannot leave the allocations out).
 */
const kept: { old: unknown[]; last: Garbage | null } = { old: [], last: null };

function allocate(count: number): void {
  for (let i = 0; i < count; i++) kept.last = { a: i, b: count, c: null, d: 'x' };
}

/** Each step makes the objects due by then: timers run late, and the rate is kept anyway. */
function allocateFor(gc: GcWatch, seconds: number, perMs: number): Promise<GcFigures> {
  gc.restart();
  const from = performance.now();
  let made = 0;
  const ticker = setInterval(() => {
    const due = Math.floor((performance.now() - from) * perMs) - made;
    if (due <= 0) return;
    allocate(due);
    made += due;
  }, STEP_MS);
  return new Promise((resolve) =>
    setTimeout(() => {
      clearInterval(ticker);
      resolve(gc.figures());
    }, seconds * 1000),
  );
}

const newSpaceUsed = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_used_size ?? 0;

/** Bytes one Garbage takes in the young generation (a batch between two readings that no scavenge fell between). */
function bytesPerObject(): number {
  const batch = 10_000;
  for (let attempt = 0; attempt < 20; attempt++) {
    const before = newSpaceUsed();
    allocate(batch);
    const grown = newSpaceUsed() - before;
    if (grown > 0) return grown / batch;
  }
  throw new Error('could not size an allocation: a scavenge fell in every attempt');
}

const oldSpaceUsed = (): number => getHeapSpaceStatistics().reduce((n, s) => (s.space_name === 'old_space' ? n + s.space_used_size : n), 0);

/**
 * Small objects linked to each other until the old generation holds `mib` MiB, made old by full
 * collections (an object's size there is not its size young, so it is built, measured and topped up).
 */
function buildOldGeneration(mib: number, objectBytes: number): unknown[] {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const held: unknown[] = [];
  gc();
  for (let round = 0; round < 4 && oldSpaceUsed() < mib * MIB * 0.98; round++) {
    const missing = mib * MIB - oldSpaceUsed();
    let previous: Garbage | null = null;
    for (let made = 0; made < missing / objectBytes; made++) {
      previous = { a: made, b: 0, c: previous, d: 'old' };
      // Chains of 1,000, so no one chain is deep enough to matter to the marker.
      if (made % 1000 === 999) {
        held.push(previous);
        previous = null;
      }
    }
    held.push(previous);
    gc();
  }
  return held;
}

function main(): void {
  const { values } = parseArgs({ options: { 'old-mib': { type: 'string', default: '40' } } });
  const oldMiB = Number(values['old-mib']);
  if (!Number.isFinite(oldMiB) || oldMiB < 0 || oldMiB > 4096) throw new Error('--old-mib must be a number from 0 to 4096');
  const objectBytes = bytesPerObject();
  kept.old = buildOldGeneration(oldMiB, objectBytes);
  const gc = new GcWatch();
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message: { measure?: number; mibPerS?: number }) => {
    const { measure: seconds, mibPerS } = message;
    if (typeof seconds !== 'number' || typeof mibPerS !== 'number') return;
    void allocateFor(gc, seconds, (mibPerS * MIB) / 1000 / objectBytes).then((figures) => process.send?.({ gc: figures }));
  });
  process.stdout.write('gc floor ready\n');
}

try {
  main();
} catch (err: unknown) {
  process.stderr.write(`gc floor: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
