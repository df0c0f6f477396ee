/**
 * The last stats ticks of every model, so the event stream's snapshot can give a page opened now
 * the last minutes of its charts. Fed by the admin stream's once-a-second tick from numbers it
 * computes anyway; nothing here runs on a request's path. A fixed ring per model: memory stays at
 * `capacity` samples per model however long the gateway runs.
 */
import type { HistorySample } from './api-schemas.js';

class Ring<T> {
  readonly #items: Array<T | undefined>;
  #next = 0;
  #size = 0;

  constructor(capacity: number) {
    this.#items = new Array<T | undefined>(capacity);
  }

  push(item: T): void {
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.#items.length;
    this.#size = Math.min(this.#size + 1, this.#items.length);
  }

  /** Oldest first. */
  toArray(): T[] {
    const out: T[] = [];
    const start = (this.#next - this.#size + this.#items.length) % this.#items.length;
    for (let i = 0; i < this.#size; i++) out.push(this.#items[(start + i) % this.#items.length] as T);
    return out;
  }
}

export class StatsHistory {
  readonly #capacity: number;
  readonly #rings = new Map<string, Ring<HistorySample>>();

  constructor(capacity: number) {
    this.#capacity = Math.max(1, capacity);
  }

  /** One tick: a sample for each model served now; models no longer served are forgotten. */
  record(samples: ReadonlyMap<string, HistorySample>): void {
    this.retain(samples);
    for (const [name, sample] of samples) this.add(name, sample);
  }

  /** One model's sample of a tick (the event stream records a tick model by model, in slices). */
  add(name: string, sample: HistorySample): void {
    let ring = this.#rings.get(name);
    if (ring === undefined) {
      ring = new Ring<HistorySample>(this.#capacity);
      this.#rings.set(name, ring);
    }
    ring.push(sample);
  }

  /** Forgets the models no longer served. */
  retain(served: { has(name: string): boolean }): void {
    for (const name of this.#rings.keys()) if (!served.has(name)) this.#rings.delete(name);
  }

  /** One model's samples, oldest first (empty for a model without any). */
  of(name: string): HistorySample[] {
    return this.#rings.get(name)?.toArray() ?? [];
  }

  /** Per model, its samples oldest first. */
  toJSON(): Record<string, HistorySample[]> {
    const out: Record<string, HistorySample[]> = {};
    for (const [name, ring] of this.#rings) out[name] = ring.toArray();
    return out;
  }
}
