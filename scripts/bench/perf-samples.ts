/**
 * Reading `perf script -F ip,sym,dso` of a `perf record -e cpu-clock -g` run: where a process's CPU
 * time went, by sample. This VM offers no hardware counters, so neither cycles nor cache misses
 * can be counted; a software clock sampling every thread at a fixed rate still shows what an
 * instruction count cannot: the kernel's share, and code that runs slower per instruction than
 * the floor's (megamorphic property lookups, whose stub cache a larger program shares with more
 * shapes).
 */
import type { PerfMap } from './perf-map.js';

/** One sample: its frames from the leaf outwards, each a symbol and the object it is in. */
export interface Sample {
  readonly frames: readonly { readonly sym: string; readonly dso: string }[];
}

/** Where a sample's leaf ran, the coarse classes a comparison is read in. */
export type SampleClass = 'kernel' | 'javascript' | 'megamorphic IC' | 'other IC and builtins' | 'GC' | 'node and V8 C++' | 'libc and others';

export const SAMPLE_CLASSES: readonly SampleClass[] = ['kernel', 'javascript', 'megamorphic IC', 'other IC and builtins', 'GC', 'node and V8 C++', 'libc and others'];

// `perf script` frame lines: address, symbol (may hold spaces and "+0x.." offsets), "(dso)".
const FRAME = /^\s*([0-9a-f]+)\s+(.*?)\s+\(([^()]*)\)\s*$/;

/**
 * The samples of `perf script -F ip,sym,dso` output (callchains on: frames, then a blank line).
 * `jit`: the process's perf map, read here rather than by perf so that an address whose code was
 * replaced names the later function (perf-map.ts).
 */
export function parsePerfScript(text: string, jit?: PerfMap): Sample[] {
  const samples: Sample[] = [];
  let frames: { sym: string; dso: string }[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (frames.length > 0) samples.push({ frames });
      frames = [];
      continue;
    }
    const m = FRAME.exec(line);
    if (m === null) continue;
    const dso = m[3] as string;
    const sym = jit !== undefined && dso.startsWith('/tmp/perf-') ? (jit.lookup(Number.parseInt(m[1] as string, 16)) ?? '[unknown]') : (m[2] as string).replace(/\+0x[0-9a-f]+$/, '');
    frames.push({ sym, dso });
  }
  if (frames.length > 0) samples.push({ frames });
  return samples;
}

export function classify(frame: { readonly sym: string; readonly dso: string }): SampleClass {
  const { sym, dso } = frame;
  if (dso.includes('kernel')) return 'kernel';
  if (sym.startsWith('JS:') || sym.startsWith('RegExp:') || dso.startsWith('[JIT]') || dso.startsWith('/tmp/perf-')) {
    return 'javascript';
  }
  if (sym.startsWith('Builtins_')) return /Megamorphic/.test(sym) ? 'megamorphic IC' : 'other IC and builtins';
  if (/Scaveng|MarkCompact|Marking|Sweeper|Heap::|Evacuat|GCTracer|ConcurrentMark|MemoryAllocator/.test(sym)) return 'GC';
  if (/\/node$|^node$|libnode/.test(dso)) return 'node and V8 C++';
  return 'libc and others';
}

export interface SampleSummary {
  readonly samples: number;
  /** Microseconds of CPU per request, each class (and in all). */
  readonly usPerRequest: Readonly<Record<SampleClass | 'total', number>>;
  /** Leaf symbols, microseconds per request each. */
  readonly bySymbol: ReadonlyMap<string, number>;
  /** For the megamorphic lookups: the first non-builtin frame above them, microseconds per request each. */
  readonly megamorphicCallers: ReadonlyMap<string, number>;
}

/** `hz`: perf record's sampling frequency (each sample stands for 1/hz s of one thread's CPU). */
export function summarize(samples: readonly Sample[], hz: number, requests: number): SampleSummary {
  if (!(hz > 0) || !(requests > 0)) throw new Error('summarize: hz and requests must be positive');
  const us = 1e6 / hz / requests;
  const classes = Object.fromEntries([...SAMPLE_CLASSES, 'total'].map((c) => [c, 0])) as Record<SampleClass | 'total', number>;
  const bySymbol = new Map<string, number>();
  const callers = new Map<string, number>();
  for (const s of samples) {
    const leaf = s.frames[0];
    if (leaf === undefined) continue;
    const cls = classify(leaf);
    classes[cls] += us;
    classes.total += us;
    bySymbol.set(leaf.sym, (bySymbol.get(leaf.sym) ?? 0) + us);
    if (cls === 'megamorphic IC') {
      const caller = s.frames.find((f) => !f.sym.startsWith('Builtins_'))?.sym ?? '(unknown)';
      callers.set(caller, (callers.get(caller) ?? 0) + us);
    }
  }
  return { samples: samples.length, usPerRequest: classes, bySymbol, megamorphicCallers: callers };
}

/** Keys of two maps by how much more `b` has than `a`, largest first (the rest dropped after `top`). */
export function largestGains(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>, top: number): { key: string; a: number; b: number }[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys]
    .map((key) => ({ key, a: a.get(key) ?? 0, b: b.get(key) ?? 0 }))
    .sort((x, y) => y.b - y.a - (x.b - x.a))
    .slice(0, top);
}
