/**
 * The stats clock: once a second every pool's stats window and every replica's breaker window move
 * on, then the `tick` event tells the watchers (the admin event stream). With a hundred models and
 * pools of hundreds of replicas that is tens of thousands of small steps: they run in slices
 * (runtime/slices.ts), so a proxied request never waits behind the whole of them.
 */
import type { PoolRegistry } from '../dataplane/pool-registry.js';
import { VersionPool } from '../dataplane/pool.js';
import type { Replica } from '../dataplane/replica.js';
import { inSlices, PeriodicPass } from '../runtime/slices.js';
import type { GatewayEvents } from './events.js';

/** Units per slice: a breaker window is one unit (a few stores); a stats window clears a histogram row, POOL_UNITS. */
export const CLOCK_UNITS_PER_SLICE = 128;
const POOL_UNITS = 16;

const weight = (unit: VersionPool | Replica): number => (unit instanceof VersionPool ? POOL_UNITS : 1);
const step = (unit: VersionPool | Replica): void => {
  if (unit instanceof VersionPool) unit.stats.tick();
  else unit.breaker.rotate();
};

export class StatsClock {
  readonly #pools: PoolRegistry;
  readonly #events: GatewayEvents;
  readonly #periodic: PeriodicPass;
  #stopped = false;

  constructor(pools: PoolRegistry, events: GatewayEvents, onError: (err: unknown) => void) {
    this.#pools = pools;
    this.#events = events;
    this.#periodic = new PeriodicPass(() => this.second(), onError);
  }

  start(intervalMs = 1000): void {
    this.#stopped = false;
    this.#periodic.start(intervalMs);
  }

  stop(): void {
    this.#stopped = true;
    this.#periodic.stop();
  }

  /** One second's move, in slices, then the `tick` event. */
  async second(): Promise<void> {
    await inSlices({ work: 'stats-clock', budget: CLOCK_UNITS_PER_SLICE, weight, stopped: () => this.#stopped }, this.#pools.secondUnits(), step);
    if (!this.#stopped) this.#events.emit('tick');
  }
}
