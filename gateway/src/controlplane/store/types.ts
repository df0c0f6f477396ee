/**
 * What every policy store offers. A model's stored state is its policy plus control flags, under a
 * revision that only grows. Writes are compare-and-set on that revision; every accepted write is
 * announced (`change`, to every gateway sharing the store) and appended to the audit trail.
 */
import type { EventEmitter } from 'node:events';
import type { PolicyDocument } from '../../policy/schema.js';

export { CHANGE_REASONS, type ChangeReason, type StoredPolicy } from '../../policy/stored.js';
import type { ChangeReason, ControlState, StoredPolicy } from '../../policy/stored.js';

/** The policy and its control flags: what a write sets, a seed stores and the audit shows. */
export interface AuditedState extends ControlState {
  readonly policy: PolicyDocument;
}

export interface PolicyWrite extends AuditedState {
  readonly model: string;
  /** Refuse the write unless the stored revision is this one. Undefined: write over whatever is stored. */
  readonly expectedRevision: number | undefined;
  readonly actor: string;
  readonly reason: ChangeReason;
  /** Free text kept in the audit trail (e.g. why a rollback happened). */
  readonly note?: string;
}

export interface AuditEntry {
  /** Store-assigned, increasing (a Redis stream id, or a counter in memory). */
  readonly id: string;
  readonly model: string;
  readonly revision: number;
  readonly at: string;
  readonly actor: string;
  readonly reason: ChangeReason;
  readonly note: string;
  readonly before: AuditedState | null;
  readonly after: AuditedState;
}

export interface AuditQuery {
  /** Only this model's entries; all models when undefined. */
  readonly model?: string;
  /** Newest first, at most this many. */
  readonly limit: number;
}

export class RevisionConflictError extends Error {
  readonly current: StoredPolicy | undefined;
  constructor(model: string, expected: number, current: StoredPolicy | undefined) {
    super(`policy of ${model} is at revision ${current?.revision ?? 0}, not ${expected}`);
    this.name = 'RevisionConflictError';
    this.current = current;
  }
}

/**
 * The store cannot be reached. Usually nothing was sent, so nothing was written; but a write that
 * was sent and got no answer in time (Redis stalled, the link cut after the script ran) may still
 * have been applied: `maybeApplied` says so, and the change message then follows when it does.
 */
export class StoreUnavailableError extends Error {
  readonly maybeApplied: boolean;
  constructor(detail: string, maybeApplied = false) {
    super(`policy store unavailable: ${detail}`);
    this.name = 'StoreUnavailableError';
    this.maybeApplied = maybeApplied;
  }
}

export interface StoreEvents {
  /** A policy changed (written by any gateway sharing the store, this one included). */
  change: [StoredPolicy];
  /** The store became reachable (again); what was missed must be reloaded. */
  available: [];
  /** The store became unreachable; `detail` says why. */
  unavailable: [string];
}

/**
 * What a gateway asks the store to hold for a model: a configuration file's policy (`provisional`),
 * or a state it took from the store earlier and puts back (a restore: the store lost it).
 */
export interface SeedEntry extends AuditedState {
  /** At least 1: the revision to store it under, so revisions keep growing after a data loss. */
  readonly revision: number;
  /** The author the stored document names. */
  readonly actor: string;
  /** A configuration file's policy, not a state the cluster reached (see StoredPolicy.provisional). */
  readonly provisional: boolean;
  /**
   * A restore keeps the document as it was written (when, why, the note), so that one revision
   * always names one document on every gateway. A seed from a file leaves them out: now, 'config', ''.
   */
  readonly updatedAt?: string;
  readonly reason?: ChangeReason;
  readonly note?: string;
}

/** Called at every (re)connection: the gateway's view of what each model's policy should be. */
export type SeedSource = () => ReadonlyMap<string, SeedEntry>;

/**
 * The seed rule, the same in every store (RedisStore runs it in Lua): the revision `entry` is
 * stored under, or undefined when what is stored stays.
 *  - Nothing stored: the entry, under its revision.
 *  - A provisional entry never replaces anything: a file only fills a gap.
 *  - A restore replaces a provisional policy, one revision above it at least (so the gateways that
 *    adopted the provisional one see a newer revision and take the restore).
 *  - A restore replaces a policy of a lower revision, never one of the same or a higher revision:
 *    of two gateways putting back what they last saw, the one that saw more wins, whatever the
 *    order, and a revision never goes down.
 */
export function seededRevision(stored: { readonly revision: number; readonly provisional: boolean } | undefined, entry: SeedEntry): number | undefined {
  if (stored === undefined) return entry.revision;
  if (entry.provisional) return undefined;
  if (stored.provisional) return Math.max(entry.revision, stored.revision + 1);
  return entry.revision > stored.revision ? entry.revision : undefined;
}

/** The audit note of a seed: says which kind it was, the stored document keeps its own note. */
export function seedAuditNote(entry: SeedEntry): string {
  return entry.provisional
    ? 'provisional: the configuration file of a gateway that had not reached the store'
    : `restored by a gateway after the store lost it (revision ${entry.revision} when that gateway last read it)`;
}

export interface PolicyStore extends EventEmitter<StoreEvents> {
  readonly kind: 'memory' | 'redis';
  /**
   * Connects (bounded in time) and stores what `seed()` names by the seed rule (see `seed`).
   * Returns the stored policies of those models. Throws StoreUnavailableError when the backend
   * cannot be reached; the store then keeps reconnecting in the background with backoff, and each
   * time it gets through it seeds again (calling `seed()` anew: Redis may have come back empty)
   * before it emits `available`.
   */
  start(seed: SeedSource): Promise<StoredPolicy[]>;
  /**
   * Stores each entry where the seed rule (`seededRevision`) says so, each model atomically (several
   * gateways may race), and returns what is stored for those models afterwards. Throws
   * StoreUnavailableError.
   */
  seed(entries: ReadonlyMap<string, SeedEntry>): Promise<StoredPolicy[]>;
  /** What is stored for these models now (for a resync). Throws StoreUnavailableError. */
  load(models: readonly string[]): Promise<StoredPolicy[]>;
  /** Throws RevisionConflictError (nothing written) or StoreUnavailableError (nothing written). */
  put(write: PolicyWrite): Promise<StoredPolicy>;
  /** Throws StoreUnavailableError. */
  audit(query: AuditQuery): Promise<AuditEntry[]>;
  isAvailable(): boolean;
  close(): Promise<void>;
}
