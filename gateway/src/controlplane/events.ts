/**
 * What happens in the control plane, for whoever watches (the admin API's event stream, logs):
 * policies in force, replica health changes, rollbacks, store connectivity and the stats tick.
 */
import { EventEmitter } from 'node:events';
import type { StoredPolicy } from '../policy/stored.js';
import type { ReplicaSignal } from '../dataplane/pool.js';
import type { HealthChange } from './health.js';

export interface RollbackEvent {
  readonly model: string;
  readonly revision: number;
  /** The canary version that lost its traffic. */
  readonly version: number | null;
  readonly by: string;
  readonly note: string;
}

/** Discovery changed a model's versions (every gateway announces the change it applies). */
export interface VersionsChange {
  readonly model: string;
  readonly revision: number;
  readonly added: readonly number[];
  readonly removed: readonly number[];
  readonly by: string;
  readonly note: string;
}

/** A replica's breaker changed state, or it was ejected or readmitted. */
export type ReplicaEvent = { readonly model: string; readonly version: number; readonly replica: string } & ReplicaSignal;

export interface GatewayEventMap {
  /** A policy came into force on this gateway. */
  policy: [StoredPolicy];
  health: [HealthChange];
  replica: [ReplicaEvent];
  rollback: [RollbackEvent];
  versions: [VersionsChange];
  store: [{ readonly available: boolean; readonly detail: string }];
  /** Once a second, after the stats windows moved. */
  tick: [];
}

export class GatewayEvents extends EventEmitter<GatewayEventMap> {
  constructor() {
    super();
    // Every open event stream listens; many operators may watch at once.
    this.setMaxListeners(0);
  }
}
