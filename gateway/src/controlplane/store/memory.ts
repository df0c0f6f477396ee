/**
 * The in-process store: one gateway, nothing survives a restart. Same contract as the Redis store
 * (revisions, compare-and-set, change notifications), so everything above it is store-agnostic.
 */
import type { PolicyDocument } from '../../policy/schema.js';
import { RevisionConflictError, type PolicyStore, type PolicyWrite, type StoredPolicy } from './types.js';

export class MemoryStore implements PolicyStore {
  readonly #policies = new Map<string, StoredPolicy>();
  readonly #listeners = new Set<(change: StoredPolicy) => void>();

  async seed(initial: ReadonlyMap<string, PolicyDocument>): Promise<StoredPolicy[]> {
    for (const [model, policy] of initial) {
      if (!this.#policies.has(model)) {
        this.#policies.set(model, { model, revision: 1, policy, updatedAt: new Date().toISOString(), updatedBy: 'config', reason: 'config' });
      }
    }
    return [...this.#policies.values()];
  }

  async get(model: string): Promise<StoredPolicy | undefined> {
    return this.#policies.get(model);
  }

  async put(write: PolicyWrite): Promise<StoredPolicy> {
    const current = this.#policies.get(write.model);
    if (write.expectedRevision !== undefined && (current?.revision ?? 0) !== write.expectedRevision) {
      throw new RevisionConflictError(write.model, write.expectedRevision, current);
    }
    const stored: StoredPolicy = {
      model: write.model,
      revision: (current?.revision ?? 0) + 1,
      policy: write.policy,
      updatedAt: new Date().toISOString(),
      updatedBy: write.actor,
      reason: write.reason,
    };
    this.#policies.set(write.model, stored);
    for (const listener of this.#listeners) listener(stored);
    return stored;
  }

  subscribe(listener: (change: StoredPolicy) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}
