/**
 * Reading what callgrind counted: the instructions of one dump (one part of the run, one thread),
 * and the figures per request drawn from them. Instruction counts repeat to within about 1% from
 * process to process, where CPU time on a shared 2-core machine varies by up to 20%.
 */

/** The instruction total of a callgrind output file (its `totals:` line, else its `summary:` line). */
export function callgrindTotal(text: string): number {
  const match = /^totals:\s+(\d+)/m.exec(text) ?? /^summary:\s+(\d+)/m.exec(text);
  if (match === null) throw new Error('no totals or summary line: not a callgrind output file');
  return Number(match[1]);
}

/** V8's entry to every scavenge and every atomic pause of a full collection. */
const COLLECT_GARBAGE = 'v8::internal::Heap::CollectGarbage(';

/**
 * The instructions of a dump spent in garbage collection: every call to V8's Heap::CollectGarbage,
 * callees included (its calls' inclusive costs). Whether a window of 1,000 requests holds two
 * scavenges or six, or a full collection's pause, moves a per-request figure by up to 15% from one
 * process to the next; without them it repeats to within 1%, so a change of a few thousand
 * instructions per request shows. (Incremental marking's steps outside that pause are left in.)
 */
export function callgrindGcInstructions(text: string): number {
  // Names are written once with their id ("cfn=(12) name"), then by id alone.
  const names = new Map<string, string>();
  const lines = text.split('\n');
  let gc = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const named = /^c?fn=\((\d+)\)(?: (.*))?$/.exec(line);
    if (named === null) continue;
    const [, id, name] = named as unknown as [string, string, string | undefined];
    if (name !== undefined) names.set(id, name);
    if (!line.startsWith('cfn=') || !(names.get(id) ?? '').startsWith(COLLECT_GARBAGE)) continue;
    // A call: "calls=<count> <target>", then "<position> <inclusive cost>".
    if (!(lines[i + 1] ?? '').startsWith('calls=')) continue;
    gc += Number((lines[i + 2] ?? '').trim().split(/\s+/)[1] ?? 0);
    i += 2;
  }
  return gc;
}

/** One window of requests: what callgrind counted over it, how much of it was garbage collection, and how long it took (under valgrind). */
export interface Window {
  readonly instructions: number;
  readonly gcInstructions: number;
  readonly seconds: number;
}

export interface InstructionFigures {
  /** Instructions per request, requests back to back, the process's periodic work included. */
  readonly perRequest: number;
  /** The process's periodic work (health checks, ticks) beyond the floor's: instructions per second. */
  readonly periodicPerSecond: number;
  /**
   * Per request with that periodic work taken out. Under valgrind a request takes about 50 times as
   * long, so the periodic work per request is that many times what it is at full speed.
   */
  readonly perRequestNet: number;
  /** The same without garbage collection (its instructions, and its share of the periodic work's, taken out). */
  readonly perRequestNetWithoutGc: number;
  /** Garbage collection per request in the back-to-back window. */
  readonly gcPerRequest: number;
}

/**
 * What each second of pauses between the requests cost: the same requests once back to back
 * (`steady`) and once with pauses (`stretched`). Pausing costs any Node process something (the
 * loop going idle and waking, timers); what it costs a process more than it costs the Node floor
 * is that process's periodic work. (An idle spell would not do: V8's memory reducer runs full
 * collections once a process goes idle.)
 */
export function pauseCostPerSecond(steady: Window, stretched: Window): number {
  if (stretched.seconds <= steady.seconds) throw new Error('the stretched window was not longer than the steady one');
  return (stretched.instructions - steady.instructions) / (stretched.seconds - steady.seconds);
}

export function instructionFigures(requests: number, steady: Window, stretched: Window, floorPauseCost: PauseCost): InstructionFigures {
  if (requests <= 0) throw new Error('no requests measured');
  const periodicPerSecond = Math.max(0, pauseCostPerSecond(steady, stretched) - floorPauseCost.all);
  const withoutGc = (w: Window): Window => ({ instructions: w.instructions - w.gcInstructions, gcInstructions: 0, seconds: w.seconds });
  const periodicWithoutGc = Math.max(0, pauseCostPerSecond(withoutGc(steady), withoutGc(stretched)) - floorPauseCost.withoutGc);
  return {
    perRequest: steady.instructions / requests,
    periodicPerSecond,
    perRequestNet: Math.max(0, steady.instructions - periodicPerSecond * steady.seconds) / requests,
    perRequestNetWithoutGc: Math.max(0, steady.instructions - steady.gcInstructions - periodicWithoutGc * steady.seconds) / requests,
    gcPerRequest: steady.gcInstructions / requests,
  };
}

/** What a second of pauses cost the floor, with and without garbage collection. */
export interface PauseCost {
  readonly all: number;
  readonly withoutGc: number;
}

export function floorPauseCost(steady: Window, stretched: Window): PauseCost {
  return {
    all: pauseCostPerSecond(steady, stretched),
    withoutGc: pauseCostPerSecond(
      { instructions: steady.instructions - steady.gcInstructions, gcInstructions: 0, seconds: steady.seconds },
      { instructions: stretched.instructions - stretched.gcInstructions, gcInstructions: 0, seconds: stretched.seconds },
    ),
  };
}
