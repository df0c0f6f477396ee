/**
 * Everything the UI shows live, fed by the event stream alone: the `snapshot` on connect (with
 * the last minutes of stats for the charts), the stats tick once a second (numbers per version and
 * per replica, appended to the charts), and for any other event about a model one fresh GET of
 * that model (the rollout and the policy are only in the full view). No timer asks the API anything.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Api, HistorySample, ModelView, Policy, Replica, Snapshot } from './api';
import { openEventStream, type StreamStatus } from './stream';

export const HISTORY_SECONDS = 300;

/** What a chart draws of one version at one tick. */
export interface ChartPoint {
  version: number;
  role: 'stable' | 'canary' | 'idle';
  rps: number;
  errorRate: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface VersionTick extends ChartPoint {
  healthyReplicas: number;
  availableReplicas?: number;
  draining?: boolean;
  /** Newer gateways: every replica's live state (in flight, last check, breaker, ejection). */
  replicas?: Replica[];
}

export interface Sample {
  /** The gateway's clock (ms): charts are drawn relative to the newest sample, whatever the browser's clock says. */
  t: number;
  versions: ChartPoint[];
}

export interface RollbackNotice {
  revision: number;
  version: number | null;
  by: string;
  note: string;
  at: string;
}

export interface Live {
  models: ModelView[];
  history: ReadonlyMap<string, Sample[]>;
  status: StreamStatus;
  storeAvailable: boolean;
  /** The latest rollback event per model (its note is not in the model view). */
  rollbacks: Readonly<Record<string, RollbackNotice>>;
  /** Counts the policy changes seen per model, so the audit trail reloads when one happens. */
  changes: Readonly<Record<string, number>>;
  /** The snapshot has arrived. */
  ready: boolean;
}

interface StatsTick {
  at: string;
  models: Array<{ name: string; revision: number; state: string; versions: VersionTick[] }>;
}

interface PolicyEvent {
  model: string;
  revision: number;
  reason: string;
  by: string;
  at: string;
  paused: boolean;
  rolledBack: boolean;
  policy: Policy;
}

export function useLive(api: Api, onUnauthorized: () => void): Live {
  const [live, setLive] = useState<Live>({
    models: [],
    history: new Map(),
    status: { state: 'connecting' },
    storeAvailable: true,
    rollbacks: {},
    changes: {},
    ready: false,
  });

  useEffect(() => {
    const models = new Map<string, ModelView>();
    const history = new Map<string, Sample[]>();
    let state: Omit<Live, 'models' | 'history'> = { status: { state: 'connecting' }, storeAvailable: true, rollbacks: {}, changes: {}, ready: false };
    const publish = (): void =>
      setLive({ ...state, history, models: [...models.values()].sort((a, b) => a.name.localeCompare(b.name)) });

    // One GET per model at a time; events arriving meanwhile ask for one more after it.
    const loading = new Set<string>();
    const pending = new Set<string>();
    const refresh = (name: string): void => {
      if (loading.has(name)) {
        pending.add(name);
        return;
      }
      loading.add(name);
      api
        .model(name)
        .then((view) => {
          models.set(name, view);
          publish();
        })
        .catch(() => {}) // the stream's next snapshot or event brings it back
        .finally(() => {
          loading.delete(name);
          if (pending.delete(name)) refresh(name);
        });
    };

    const append = (name: string, sample: Sample): void => {
      const samples = history.get(name) ?? [];
      // A tick already in the snapshot's history (or from before a reconnect) is not drawn twice.
      if (samples.length > 0 && (samples[samples.length - 1] as Sample).t >= sample.t) return;
      samples.push(sample);
      while (samples.length > 0 && (samples[0] as Sample).t < sample.t - HISTORY_SECONDS * 1000) samples.shift();
      history.set(name, samples);
    };
    const chartPoints = (versions: HistorySample['versions']): ChartPoint[] =>
      versions.map(({ version, role, rps, errorRate, p50Ms, p99Ms }) => ({ version, role, rps, errorRate, p50Ms, p99Ms }));

    const onStats = (tick: StatsTick): void => {
      const t = Date.parse(tick.at);
      for (const m of tick.models) {
        append(m.name, { t, versions: chartPoints(m.versions) });
        const view = models.get(m.name);
        if (view === undefined) continue;
        if (m.revision > view.revision) refresh(m.name);
        models.set(m.name, {
          ...view,
          state: m.state,
          pools: view.pools.map((pool) => {
            const v = m.versions.find((x) => x.version === pool.version);
            if (v === undefined) return pool;
            const { version: _, role, healthyReplicas, availableReplicas, draining, replicas, ...stats } = v;
            return {
              ...pool,
              role,
              healthyReplicas,
              ...(availableReplicas === undefined ? {} : { availableReplicas }),
              ...(draining === undefined ? {} : { draining }),
              ...(replicas === undefined ? {} : { replicas }),
              stats: { ...pool.stats, ...stats },
            };
          }),
        });
      }
    };

    const stop = openEventStream(
      api.token,
      ({ event, data }) => {
        const about = (data as { model?: unknown }).model;
        const model = typeof about === 'string' ? about : undefined;
        switch (event) {
          case 'snapshot': {
            const snapshot = data as Snapshot;
            models.clear();
            for (const m of snapshot.models) models.set(m.name, m);
            for (const [name, samples] of Object.entries(snapshot.history ?? {})) {
              for (const s of samples) append(name, { t: Date.parse(s.at), versions: chartPoints(s.versions) });
            }
            state = { ...state, storeAvailable: snapshot.storeAvailable, ready: true };
            break;
          }
          case 'stats':
            onStats(data as StatsTick);
            break;
          case 'store':
            state = { ...state, storeAvailable: (data as { available: boolean }).available };
            break;
          case 'policy': {
            const p = data as PolicyEvent;
            const view = models.get(p.model);
            if (view !== undefined && p.revision >= view.revision) {
              const { model: _, by, at, ...rest } = p;
              models.set(p.model, { ...view, ...rest, updatedBy: by, updatedAt: at });
            }
            state = { ...state, changes: { ...state.changes, [p.model]: (state.changes[p.model] ?? 0) + 1 } };
            refresh(p.model);
            break;
          }
          case 'rollback':
            state = { ...state, rollbacks: { ...state.rollbacks, [model as string]: data as RollbackNotice } };
            refresh(model as string);
            break;
          default:
            // health, and whatever else a newer gateway reports about a model (breakers, ejections).
            if (model !== undefined && models.has(model)) refresh(model);
        }
        publish();
      },
      (status) => {
        if (status.state === 'unauthorized') onUnauthorized();
        state = { ...state, status };
        publish();
      },
    );
    return stop;
  }, [api]);

  return live;
}
