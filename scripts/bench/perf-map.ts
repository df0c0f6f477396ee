/**
 * Node's perf map (`--perf-basic-prof-only-functions`: `/tmp/perf-<pid>.map`, one line per compiled
 * function, `start size name` in hex) read the way it is written: V8 appends a line when it makes
 * code and never when the code dies, so once dead code's memory is reused the map holds two
 * entries for one address, and only the later one is right. perf resolves such an address to the
 * earlier one: in one profile Ajv's `optimizeNames`, compiled at start-up, was charged 0.3 µs per
 * proxied request that undici's `writeH1`, compiled later at the same address, spent.
 */

export class PerfMap {
  // Disjoint ranges sorted by start.
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];
  readonly #names: string[] = [];

  /** Entries that a later entry overlapped, dropped as dead code. */
  readonly superseded: number = 0;

  constructor(text: string) {
    const entries: { start: number; end: number; name: string }[] = [];
    for (const line of text.split('\n')) {
      const first = line.indexOf(' ');
      const second = line.indexOf(' ', first + 1);
      if (first <= 0 || second <= first) continue;
      // User-space addresses are below 2^47: exact as numbers.
      const start = Number.parseInt(line.slice(0, first), 16);
      const size = Number.parseInt(line.slice(first + 1, second), 16);
      if (!Number.isFinite(start) || !(size > 0)) continue;
      entries.push({ start, end: start + size, name: line.slice(second + 1) });
    }
    let superseded = 0;
    // Latest first. An entry is kept only if no later entry overlaps it, kept or not: once code
    // was made over part of it, the code it names was dead, all of it.
    const later = new Ranges();
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i] as { start: number; end: number; name: string };
      const overlapped = later.overlaps(e.start, e.end);
      later.add(e.start, e.end);
      if (overlapped) {
        superseded++;
        continue;
      }
      const at = firstEndingAfter(this.#ends, e.start);
      this.#starts.splice(at, 0, e.start);
      this.#ends.splice(at, 0, e.end);
      this.#names.splice(at, 0, e.name);
    }
    this.superseded = superseded;
  }

  /** The function whose code holds `address`, if the map names one. */
  lookup(address: number): string | undefined {
    const at = firstEndingAfter(this.#ends, address);
    return at < this.#starts.length && (this.#starts[at] as number) <= address ? this.#names[at] : undefined;
  }
}

/** Index of the first of disjoint sorted ranges whose end is past `address` (their ends are sorted too). */
function firstEndingAfter(ends: readonly number[], address: number): number {
  let lo = 0;
  let hi = ends.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((ends[mid] as number) <= address) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A union of ranges, kept merged: disjoint, sorted. */
class Ranges {
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];

  overlaps(start: number, end: number): boolean {
    const at = firstEndingAfter(this.#ends, start);
    return at < this.#starts.length && (this.#starts[at] as number) < end;
  }

  add(start: number, end: number): void {
    // The ranges that overlap or touch [start, end) become one.
    const from = firstEndingAfter(this.#ends, start - 1);
    let to = from;
    let s = start;
    let e = end;
    while (to < this.#starts.length && (this.#starts[to] as number) <= end) {
      s = Math.min(s, this.#starts[to] as number);
      e = Math.max(e, this.#ends[to] as number);
      to++;
    }
    this.#starts.splice(from, to - from, s);
    this.#ends.splice(from, to - from, e);
  }
}
