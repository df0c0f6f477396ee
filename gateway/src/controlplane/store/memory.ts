/**
 * The in-process store: one gateway, nothing survives a restart. Same contract as the Redis store
 * (revisions, compare-and-set, change events, a bounded audit trail), so everything above it is
 * store-agnostic.
 */
import { EventEmitter } from 'node:events';
import { controlOf } from '../../policy/stored.js';
import {
  RevisionConflictError,
  seedAuditNote,
  seededRevision,
  type AuditEntry,
  type AuditQuery,
  type PolicyStore,
  type PolicyWrite,
  type SeedEntry,
  type SeedSource,
  type StoreEvents,
  type StoredPolicy,
} from './types.js';

export class MemoryStore extends EventEmitter<StoreEvents> implements PolicyStore {
  readonly kind = 'memory';
  readonly #policies = new Map<string, StoredPolicy>();
  readonly #audit: AuditEntry[] = [];
  readonly #auditMax: number;
  #auditId = 0;

  constructor(options: { auditMaxEntries?: number } = {}) {
    super();
    this.#auditMax = options.auditMaxEntries ?? 10_000;
  }

  async start(seed: SeedSource): Promise<StoredPolicy[]> {
    return this.seed(seed());
  }

  async seed(entries: ReadonlyMap<string, SeedEntry>): Promise<StoredPolicy[]> {
    for (const [model, entry] of entries) {
      const current = this.#policies.get(model);
      const revision = seededRevision(current, entry);
      if (revision === undefined) continue;
      this.#store(
        {
          model,
          revision,
          policy: entry.policy,
          ...controlOf(entry),
          updatedAt: entry.updatedAt ?? new Date().toISOString(),
          updatedBy: entry.actor,
          reason: entry.reason ?? 'config',
          note: entry.note ?? '',
          provisional: entry.provisional,
        },
        { at: new Date().toISOString(), reason: 'config', note: seedAuditNote(entry) },
      );
    }
    return this.load([...entries.keys()]);
  }

  async load(models: readonly string[]): Promise<StoredPolicy[]> {
    return models.flatMap((m) => this.#policies.get(m) ?? []);
  }

  async put(write: PolicyWrite): Promise<StoredPolicy> {
    const current = this.#policies.get(write.model);
    if (write.expectedRevision !== undefined && (current?.revision ?? 0) !== write.expectedRevision) {
      throw new RevisionConflictError(write.model, write.expectedRevision, current);
    }
    return this.#write(write);
  }

  async audit(query: AuditQuery): Promise<AuditEntry[]> {
    const out: AuditEntry[] = [];
    for (let i = this.#audit.length - 1; i >= 0 && out.length < query.limit; i--) {
      const entry = this.#audit[i] as AuditEntry;
      if (query.model === undefined || entry.model === query.model) out.push(entry);
    }
    return out;
  }

  isAvailable(): boolean {
    return true;
  }

  async close(): Promise<void> {
    this.removeAllListeners();
  }

  #write(write: PolicyWrite): StoredPolicy {
    const stored: StoredPolicy = {
      model: write.model,
      revision: (this.#policies.get(write.model)?.revision ?? 0) + 1,
      policy: write.policy,
      ...controlOf(write),
      updatedAt: new Date().toISOString(),
      updatedBy: write.actor,
      reason: write.reason,
      note: write.note ?? '',
      provisional: false,
    };
    return this.#store(stored, { at: stored.updatedAt, reason: write.reason, note: stored.note });
  }

  /** Stores, audits (the audit entry's reason and note may differ from the document's) and announces. */
  #store(stored: StoredPolicy, audited: Pick<AuditEntry, 'at' | 'reason' | 'note'>): StoredPolicy {
    const current = this.#policies.get(stored.model);
    this.#policies.set(stored.model, stored);
    this.#audit.push({
      id: String(++this.#auditId),
      model: stored.model,
      revision: stored.revision,
      at: audited.at,
      actor: stored.updatedBy,
      reason: audited.reason,
      note: audited.note,
      before: current === undefined ? null : { policy: current.policy, ...controlOf(current) },
      after: { policy: stored.policy, ...controlOf(stored) },
    });
    if (this.#audit.length > this.#auditMax) this.#audit.splice(0, this.#audit.length - this.#auditMax);
    this.emit('change', stored);
    return stored;
  }
}
