/** What the admin routes work with; built once by the app. */
import type { Logger } from 'pino';
import type { PoolRegistry } from '../../dataplane/pool-registry.js';
import type { SnapshotHolder } from '../../dataplane/snapshot.js';
import type { GatewayEvents } from '../events.js';
import type { PolicyStore } from '../store/types.js';
import type { PolicyWatcher } from '../watcher.js';
import type { ReplicaManager } from '../replicas.js';
import type { HealthCheckSettings } from '../../config/load.js';
import type { Shadows } from '../../dataplane/shadow.js';
import type { ShadowAnalysis } from '../../analysis/shadow-analysis.js';

export interface AdminContext {
  readonly store: PolicyStore;
  readonly watcher: PolicyWatcher;
  readonly snapshots: SnapshotHolder;
  readonly pools: PoolRegistry;
  readonly events: GatewayEvents;
  readonly log: Logger;
  readonly replicas: ReplicaManager;
  /** Shadow copies in flight and dropped, per model (this gateway's). */
  readonly shadows: Shadows;
  /** Live/shadow comparison results, per model (this gateway's). */
  readonly shadowAnalysis: ShadowAnalysis;
  /** Each model's health check settings, for pools created through the API. */
  readonly healthChecks: ReadonlyMap<string, HealthCheckSettings>;
  /** Models that discover their versions on their replicas (`discover`). */
  readonly discovering: ReadonlySet<string>;
}
