/**
 * A version pool: the replicas serving one version of one model. It keeps the list of replicas
 * that may take traffic (rebuilt only when a health state changes, never per request) and picks one
 * by power of two choices on outstanding requests.
 */
import { operationSuffix, type TfOperation } from '../tfserving/path.js';
import type { Replica } from './replica.js';
import { PoolStats } from './stats.js';

export class VersionPool {
  readonly model: string;
  readonly version: number;
  readonly versionText: string;
  readonly replicas: readonly Replica[];
  /** Upstream paths per operation, built once: the replica is always asked for this exact version. */
  readonly paths: Readonly<Record<TfOperation, string>>;
  #up: Replica[] = [];
  /** Attempts at this pool's replicas over a sliding window: what the admin API and rollback read. */
  readonly stats = new PoolStats();

  constructor(model: string, version: number, replicas: readonly Replica[]) {
    this.model = model;
    this.version = version;
    this.versionText = String(version);
    this.replicas = replicas;
    const base = `/v1/models/${encodeURIComponent(model)}/versions/${this.versionText}`;
    this.paths = {
      status: base,
      metadata: base + operationSuffix('metadata'),
      predict: base + operationSuffix('predict'),
      classify: base + operationSuffix('classify'),
      regress: base + operationSuffix('regress'),
    };
    this.refresh();
  }

  get healthyCount(): number {
    return this.#up.length;
  }

  /** Called by the health checker after it changed a replica's state. */
  refresh(): void {
    this.#up = this.replicas.filter((r) => r.health === 'up');
  }

  /** Power of two choices: two distinct random replicas, the one with fewer requests in flight. */
  pick(exclude?: Replica): Replica | undefined {
    const up = this.#up;
    const n = up.length;
    if (n === 0) return undefined;
    if (n === 1) {
      const only = up[0] as Replica;
      return only === exclude ? undefined : only;
    }
    const i = (Math.random() * n) | 0;
    let j = (Math.random() * (n - 1)) | 0;
    if (j >= i) j++;
    const a = up[i] as Replica;
    const b = up[j] as Replica;
    if (a === exclude) return b;
    if (b === exclude) return a;
    return b.outstanding < a.outstanding ? b : a;
  }
}
