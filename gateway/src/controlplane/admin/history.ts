/**
 * The last stats ticks of every model, so the event stream's snapshot can give a page opened now
 * the last minutes of its charts. Fed by the admin stream's once-a-second tick from numbers it
 * computes anyway; nothing here runs on a request's path. A fixed ring per model: memory stays at
 * `capacity` samples per model however long the gateway runs.
 *
 * The ring keeps its numbers in typed arrays, written in place, and makes samples only when read.
 * A sample kept as objects (the sample, its versions array, an object per version with its
 * numbers boxed) lived two minutes, so every tick's were copied by one young collection and
 * promoted by the next: 100 models' worth a second, a steady share of what every scavenge copied
 * (docs/performance.md: the control plane and the event loop).
 */
import { PoolRole, type HistorySample } from './api-schemas.js';

/** The roles as the schema lists them; a role is kept as its index here. */
const ROLES: readonly PoolRole[] = PoolRole.anyOf.map((literal) => literal.const);
const ROLE_CODES = new Map<PoolRole, number>(ROLES.map((role, code) => [role, code]));
const ROW_FIELDS = 5;

/*
 * A null number (a latency without requests, an agreement rate without comparisons) is kept as
 * NaN: JSON has no NaN, so no sample read back from JSON carries one.
 */
const toColumn = (value: number | null): number => (value === null ? Number.NaN : value);
const fromColumn = (value: number): number | null => (Number.isNaN(value) ? null : value);

/** A model's ticks: per tick its time and shadow, and per tick and version one row of numbers. */
class ModelRing {
  readonly #capacity: number;
  /** Versions per tick there is room for; grown (and the columns copied) when a tick has more. */
  #width = 0;
  #next = 0;
  #size = 0;
  /** The tick's time: one string per tick, the same for every model. */
  readonly #at: string[];
  readonly #versions: Uint32Array;
  /** NaN: the tick had no shadow. */
  readonly #shadowVersion: Float64Array;
  readonly #agreementRate: Float64Array;
  /** Per tick and version, ROW_FIELDS numbers: version, rps, errorRate, p50Ms, p99Ms. */
  #rows = new Float64Array(0);
  #roles = new Uint8Array(0);

  constructor(capacity: number) {
    this.#capacity = capacity;
    this.#at = new Array<string>(capacity).fill('');
    this.#versions = new Uint32Array(capacity);
    this.#shadowVersion = new Float64Array(capacity);
    this.#agreementRate = new Float64Array(capacity);
  }

  push(sample: HistorySample): void {
    const versions = sample.versions;
    if (versions.length > this.#width) this.#widen(versions.length);
    const tick = this.#next;
    this.#at[tick] = sample.at;
    this.#versions[tick] = versions.length;
    this.#shadowVersion[tick] = sample.shadow === undefined ? Number.NaN : sample.shadow.version;
    this.#agreementRate[tick] = sample.shadow === undefined ? Number.NaN : toColumn(sample.shadow.agreementRate);
    for (let v = 0; v < versions.length; v++) {
      const row = tick * this.#width + v;
      const base = row * ROW_FIELDS;
      const version = versions[v] as HistorySample['versions'][number];
      this.#rows[base] = version.version;
      this.#rows[base + 1] = version.rps;
      this.#rows[base + 2] = version.errorRate;
      this.#rows[base + 3] = toColumn(version.p50Ms);
      this.#rows[base + 4] = toColumn(version.p99Ms);
      this.#roles[row] = ROLE_CODES.get(version.role) as number;
    }
    this.#next = (tick + 1) % this.#capacity;
    this.#size = Math.min(this.#size + 1, this.#capacity);
  }

  /** Oldest first, each sample made anew (later ticks write over the columns, not over these). */
  toArray(): HistorySample[] {
    const out: HistorySample[] = [];
    const start = (this.#next - this.#size + this.#capacity) % this.#capacity;
    for (let i = 0; i < this.#size; i++) out.push(this.#sample((start + i) % this.#capacity));
    return out;
  }

  #sample(tick: number): HistorySample {
    const versions: HistorySample['versions'] = [];
    for (let v = 0; v < (this.#versions[tick] as number); v++) {
      const row = tick * this.#width + v;
      const base = row * ROW_FIELDS;
      versions.push({
        version: this.#rows[base] as number,
        role: ROLES[this.#roles[row] as number] as PoolRole,
        rps: this.#rows[base + 1] as number,
        errorRate: this.#rows[base + 2] as number,
        p50Ms: fromColumn(this.#rows[base + 3] as number),
        p99Ms: fromColumn(this.#rows[base + 4] as number),
      });
    }
    const shadowVersion = this.#shadowVersion[tick] as number;
    const at = this.#at[tick] as string;
    if (Number.isNaN(shadowVersion)) return { at, versions };
    return { at, versions, shadow: { version: shadowVersion, agreementRate: fromColumn(this.#agreementRate[tick] as number) } };
  }

  /** Room for `width` versions per tick, the ticks kept where they were. */
  #widen(width: number): void {
    const rows = new Float64Array(this.#capacity * width * ROW_FIELDS);
    const roles = new Uint8Array(this.#capacity * width);
    const from = this.#width;
    for (let tick = 0; tick < this.#capacity; tick++) {
      rows.set(this.#rows.subarray(tick * from * ROW_FIELDS, (tick + 1) * from * ROW_FIELDS), tick * width * ROW_FIELDS);
      roles.set(this.#roles.subarray(tick * from, (tick + 1) * from), tick * width);
    }
    this.#rows = rows;
    this.#roles = roles;
    this.#width = width;
  }
}

export class StatsHistory {
  readonly #capacity: number;
  readonly #rings = new Map<string, ModelRing>();

  constructor(capacity: number) {
    this.#capacity = Math.max(1, capacity);
  }

  /** One tick: a sample for each model served now; models no longer served are forgotten. */
  record(samples: ReadonlyMap<string, HistorySample>): void {
    this.retain(samples);
    for (const [name, sample] of samples) this.add(name, sample);
  }

  /** One model's sample of a tick (the event stream records a tick model by model, in slices); kept as numbers, not as the sample. */
  add(name: string, sample: HistorySample): void {
    let ring = this.#rings.get(name);
    if (ring === undefined) {
      ring = new ModelRing(this.#capacity);
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
