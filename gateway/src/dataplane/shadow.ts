/**
 * Shadow traffic, the protocol-neutral part: which requests get a copy, the per-model budget of
 * copies in flight, and the live/shadow pair each copy makes. The protocol adapters send the copy
 * (protocols/rest/shadow.ts, protocols/grpc/shadow.ts) and report both answers to the pair; once
 * both are in, and never before the client's answer was sent, the pair goes to the sink (the
 * comparison, analysis/), on a later turn of the event loop.
 *
 * What a copy may cost the live request: one property read when the model has no shadow; with
 * one, a random draw and this bookkeeping. A copy never waits: past the budget, past the gateway's
 * memory budget, with no replica of the shadow version free, or with a body that streamed through
 * (not kept in memory, so there is nothing to copy), it is dropped and counted.
 */
import { performance } from 'node:perf_hooks';
import type { Admission } from './admission.js';
import { randomBucket } from './cohort.js';
import type { VersionPool } from './pool.js';
import type { Replica } from './replica.js';
import type { CompiledModel, Decision } from './snapshot.js';
import type { Protocol } from './stats.js';
import type { ShadowTolerance } from '../policy/schema.js';

/** Why a copy was not sent: over the model's budget, over the gateway's memory budget, no replica free, a streamed body. */
export type ShadowDropReason = 'budget' | 'memory' | 'unavailable' | 'streamed';
export const SHADOW_DROP_REASONS: readonly ShadowDropReason[] = ['budget', 'memory', 'unavailable', 'streamed'];

/** The inference operations a copy is made of (status and metadata say nothing about predictions). */
export type ShadowOperation = 'predict' | 'classify' | 'regress';

/** One model's copies on this gateway, across policy changes (a snapshot swap must not reset the budget). */
export class ShadowLane {
  inFlight = 0;
  sent = 0;
  readonly dropped: Record<ShadowDropReason, number> = { budget: 0, memory: 0, unavailable: 0, streamed: 0 };
}

/** One side's answer, as the pair keeps it. */
export interface ShadowAnswer {
  /** An answer the client would take as a success (HTTP 2xx, gRPC OK). */
  readonly ok: boolean;
  /** HTTP status, or gRPC status code; -1 when no answer came (transport failure, timeout). */
  readonly status: number;
  /** The answer's bytes (a gRPC answer: its message, unframed); null when failed or too large. */
  readonly body: Buffer | null;
  /** Why it failed (transport, timeout, status); null for an answer. */
  readonly error: string | null;
  readonly tooLarge: boolean;
  readonly latencyMs: number;
}

/** A pair with both answers: what the sink gets. */
export interface SettledPair {
  readonly model: string;
  readonly protocol: Protocol;
  readonly operation: ShadowOperation;
  readonly requestId: string;
  readonly liveVersion: number;
  readonly shadowVersion: number;
  readonly tolerance: ShadowTolerance;
  readonly live: ShadowAnswer;
  readonly shadow: ShadowAnswer;
}

export type ShadowSink = (pair: SettledPair) => void;

/**
 * A live request and its copy. The live side's answer bytes are kept (references to the chunks
 * relayed, no copy) up to maxCompareBytes; the shadow side reports its whole answer.
 */
export class ShadowPair {
  readonly protocol: Protocol;
  readonly operation: ShadowOperation;
  readonly requestId: string;
  readonly model: CompiledModel;
  readonly pool: VersionPool;
  readonly replica: Replica;
  readonly maxBytes: number;
  /** When the copy was sent. */
  readonly sentAt = performance.now();
  readonly #shadows: Shadows;
  readonly #lane: ShadowLane;
  readonly #heldBytes: number;
  #chunks: Buffer[] = [];
  #bytes = 0;
  #over = false;
  #live: ShadowAnswer | undefined;
  #liveVersion = 0;
  #shadow: ShadowAnswer | undefined;

  constructor(shadows: Shadows, lane: ShadowLane, model: CompiledModel, replica: Replica, protocol: Protocol, operation: ShadowOperation, requestId: string, heldBytes: number) {
    const shadow = model.shadow as NonNullable<CompiledModel['shadow']>;
    this.#shadows = shadows;
    this.#lane = lane;
    this.model = model;
    this.pool = shadow.pool;
    this.replica = replica;
    this.protocol = protocol;
    this.operation = operation;
    this.requestId = requestId;
    this.maxBytes = shadow.settings.maxCompareBytes;
    this.#heldBytes = heldBytes;
  }

  /** A chunk of the live answer as relayed to the client. */
  captureLive(chunk: Buffer): void {
    if (this.#over) return;
    this.#bytes += chunk.length;
    if (this.#bytes > this.maxBytes) {
      this.#over = true;
      this.#chunks = [];
      return;
    }
    this.#chunks.push(chunk);
  }

  /** The live answer ended (sent whole, or failed: `status` -1 or an error status). */
  liveDone(ok: boolean, status: number, version: number, latencyMs: number, error: string | null = null): void {
    if (this.#live !== undefined) return;
    const complete = ok && !this.#over;
    this.#liveVersion = version;
    this.#live = {
      ok,
      status,
      body: complete ? concat(this.#chunks, this.#bytes) : null,
      error,
      tooLarge: this.#over,
      latencyMs,
    };
    this.#chunks = [];
    this.#settle();
  }

  /** The copy's answer is in: its budget share goes back now, whatever the live side is doing. */
  shadowDone(answer: ShadowAnswer): void {
    if (this.#shadow !== undefined) return;
    this.#shadow = answer;
    this.replica.outstanding--;
    this.#lane.inFlight--;
    this.#shadows.admission.giveBytes(this.#heldBytes);
    this.#settle();
  }

  #settle(): void {
    const live = this.#live;
    const shadow = this.#shadow;
    if (live === undefined || shadow === undefined) return;
    const settings = (this.model.shadow as NonNullable<CompiledModel['shadow']>).settings;
    const settled: SettledPair = {
      model: this.model.name,
      protocol: this.protocol,
      operation: this.operation,
      requestId: this.requestId,
      liveVersion: this.#liveVersion,
      shadowVersion: this.pool.version,
      tolerance: settings.tolerance,
      live,
      shadow,
    };
    // Off the turn that sent the client's answer: the comparison parses both answers.
    setImmediate(this.#shadows.sink, settled);
  }
}

function concat(chunks: readonly Buffer[], bytes: number): Buffer {
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, bytes);
}

export class Shadows {
  readonly admission: Admission;
  readonly sink: ShadowSink;
  readonly #lanes = new Map<string, ShadowLane>();

  constructor(admission: Admission, sink: ShadowSink) {
    this.admission = admission;
    this.sink = sink;
  }

  lane(model: string): ShadowLane {
    let lane = this.#lanes.get(model);
    if (lane === undefined) {
      lane = new ShadowLane();
      this.#lanes.set(model, lane);
    }
    return lane;
  }

  /** This gateway's lane of a model, if it ever had one (the admin API, metrics). */
  peek(model: string): ShadowLane | undefined {
    return this.#lanes.get(model);
  }

  /**
   * Whether this request gets a copy, and if so its pair (the replica picked, the budget taken).
   * `bodyBytes` null: the body streamed through, and is not kept to be copied. Call only when
   * `model.shadow` is set (the caller's check is all a model without a shadow costs).
   */
  begin(model: CompiledModel, decision: Decision, protocol: Protocol, operation: ShadowOperation, requestId: string, bodyBytes: number | null): ShadowPair | undefined {
    const shadow = model.shadow;
    // Pinned requests named their version; requests the shadow answers live are its own answers.
    if (shadow === null || decision.pinned || decision.pool === shadow.pool) return undefined;
    if (randomBucket() >= shadow.buckets) return undefined;
    const lane = this.lane(model.name);
    if (bodyBytes === null) {
      lane.dropped.streamed++;
      return undefined;
    }
    if (lane.inFlight >= shadow.settings.maxInFlight) {
      lane.dropped.budget++;
      return undefined;
    }
    const replica = shadow.pool.pick();
    if (replica === undefined) {
      lane.dropped.unavailable++;
      return undefined;
    }
    if (!this.admission.takeBytes(bodyBytes)) {
      lane.dropped.memory++;
      return undefined;
    }
    lane.inFlight++;
    lane.sent++;
    replica.outstanding++;
    return new ShadowPair(this, lane, model, replica, protocol, operation, requestId, bodyBytes);
  }
}
