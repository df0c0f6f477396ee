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

/** One window of requests: what callgrind counted over it and how long it took (under valgrind). */
export interface Window {
  readonly instructions: number;
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

export function instructionFigures(requests: number, steady: Window, stretched: Window, floorPauseCost: number): InstructionFigures {
  if (requests <= 0) throw new Error('no requests measured');
  const periodicPerSecond = Math.max(0, pauseCostPerSecond(steady, stretched) - floorPauseCost);
  return {
    perRequest: steady.instructions / requests,
    periodicPerSecond,
    perRequestNet: Math.max(0, steady.instructions - periodicPerSecond * steady.seconds) / requests,
  };
}
