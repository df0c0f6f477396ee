/**
 * What every policy store offers. Writes are compare-and-set on a revision that only grows; every
 * accepted write is announced to subscribers (the watcher) and recorded in the audit trail.
 */
import type { PolicyDocument } from '../../policy/schema.js';

export type ChangeReason = 'config' | 'manual' | 'rollback' | 'promotion';

export interface StoredPolicy {
  readonly model: string;
  readonly revision: number;
  readonly policy: PolicyDocument;
  readonly updatedAt: string;
  readonly updatedBy: string;
  readonly reason: ChangeReason;
}

export interface PolicyWrite {
  readonly model: string;
  readonly policy: PolicyDocument;
  /** Refuse the write unless the stored revision is this one. Undefined: write whatever is stored. */
  readonly expectedRevision: number | undefined;
  readonly actor: string;
  readonly reason: ChangeReason;
}

export class RevisionConflictError extends Error {
  readonly current: StoredPolicy | undefined;
  constructor(model: string, expected: number, current: StoredPolicy | undefined) {
    super(`policy of ${model} is at revision ${current?.revision ?? 0}, not ${expected}`);
    this.name = 'RevisionConflictError';
    this.current = current;
  }
}

export interface PolicyStore {
  /** Stores `initial` for every model that has no policy yet; returns what is stored afterwards. */
  seed(initial: ReadonlyMap<string, PolicyDocument>): Promise<StoredPolicy[]>;
  get(model: string): Promise<StoredPolicy | undefined>;
  put(write: PolicyWrite): Promise<StoredPolicy>;
  subscribe(listener: (change: StoredPolicy) => void): () => void;
  close(): Promise<void>;
}
