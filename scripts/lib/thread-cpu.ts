/**
 * The time the calling thread spends on a CPU, for timing work on the event loop without counting
 * what V8's helper threads (concurrent marking, compilers) and libuv's pool did meanwhile, which
 * `process.cpuUsage` adds in, nor the time other programs held the CPU. Node 20 has no per-thread
 * clock (`process.threadCpuUsage` came in 23.9). Linux's /proc/thread-self/schedstat has the
 * thread's run time, but it is brought up to date only at a scheduler tick or a switch (every few
 * ms), too coarse for slices of a fraction of a millisecond; its second field, the time the thread
 * waited for a CPU, is exact at every switch back in. So: wall clock minus that wait. What it still
 * counts: the thread's own work, and any time it blocked on its own (page faults, waiting for GC
 * helpers), which holds the event loop just the same.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { processCpuMs, type CpuClock } from '../../gateway/src/runtime/slices.js';

const SCHEDSTAT = '/proc/thread-self/schedstat';

export interface ThreadClock {
  readonly clock: CpuClock;
  readonly kind: 'thread' | 'process';
  /**
   * How many times the thread had been switched in to a CPU, as of the clock's last reading (the
   * third field of schedstat; 0 with the process clock). Between two readings, a switch the wait
   * does not account for is the thread blocking on its own (a lock, a page fault that sleeps).
   */
  readonly switchesIn: () => number;
}

/** Call on the thread to be timed. Where Linux's figure is not available, the process's CPU time. */
export function threadCpuClock(): ThreadClock {
  let fd: number;
  try {
    fd = openSync(SCHEDSTAT, 'r');
  } catch {
    return { clock: processCpuMs, kind: 'process', switchesIn: () => 0 };
  }
  const buffer = Buffer.alloc(128);
  let switchesIn = 0;
  // Kept open: a procfs file read again from offset 0 gives the figures as of that read.
  // Parsed from the bytes: a string and a split per reading were garbage made inside the slices
  // being timed, thousands of times a second.
  const fields = [0, 0, 0];
  const waitedMs = (): number => {
    const n = readSync(fd, buffer, 0, buffer.length, 0);
    let field = 0;
    let digits = 0;
    fields[0] = fields[1] = fields[2] = 0;
    for (let i = 0; i < n && field < 3; i++) {
      const c = buffer[i] as number;
      if (c >= 48 && c <= 57) {
        fields[field] = (fields[field] as number) * 10 + (c - 48);
        digits++;
      } else if (digits > 0) {
        field++;
        digits = 0;
      }
    }
    if (field < 2 || (field === 2 && digits === 0)) return NaN;
    switchesIn = fields[2] as number;
    return (fields[1] as number) / 1e6;
  };
  if (!Number.isFinite(waitedMs())) {
    closeSync(fd);
    return { clock: processCpuMs, kind: 'process', switchesIn: () => 0 };
  }
  return { clock: () => performance.now() - waitedMs(), kind: 'thread', switchesIn: () => switchesIn };
}
