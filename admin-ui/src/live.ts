/**
 * Everything the UI shows live, fed by the event stream alone: the `snapshot` on connect (with
 * the last minutes of stats for the charts), the stats tick once a second (numbers per version and
 * per replica, appended to the charts), and for any other event about a model one fresh GET of
 * that model (the rollout and the policy are only in the full view). No timer asks the API anything.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Api, HistorySample, ModelView, RollbackEvent, StatsEvent } from './api';
import { openEventStream, type StreamStatus } from './stream';

export const HISTORY_SECONDS = 300;

/** What a chart draws of one version at one tick. */
export type ChartPoint = HistorySample['versions'][number];

export interface Sample {
  /** The gateway's clock (ms): charts are drawn relative to the newest sample, whatever the browser's clock says. */
  t: number;
  versions: ChartPoint[];
  /** The shadow comparison's agreement at this tick, when the model has shadow results. */
  shadow?: HistorySample['shadow'];
}

export type RollbackNotice = RollbackEvent;

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
    const chartPoints = (versions: StatsEvent['models'][number]['versions']): ChartPoint[] =>
      versions.map(({ version, role, rps, errorRate, p50Ms, p99Ms }) => ({ version, role, rps, errorRate, p50Ms, p99Ms }));

    const onStats = (tick: StatsEvent): void => {
      const t = Date.parse(tick.at);
      for (const m of tick.models) {
        const results = m.shadow?.results;
        append(m.name, {
          t,
          versions: chartPoints(m.versions),
          ...(results == null ? {} : { shadow: { version: results.version, agreementRate: results.agreementRate } }),
        });
        const view = models.get(m.name);
        if (view === undefined) continue;
        if (m.revision > view.revision) refresh(m.name);
        models.set(m.name, {
          ...view,
          state: m.state,
          shadow: m.shadow,
          pools: view.pools.map((pool) => {
            const v = m.versions.find((x) => x.version === pool.version);
            if (v === undefined) return pool;
            const { version: _, role, healthyReplicas, availableReplicas, draining, replicas, requestsByProtocol, ...stats } = v;
            return { ...pool, role, healthyReplicas, availableReplicas, draining, replicas, requestsByProtocol, stats };
          }),
        });
      }
    };

    const stop = openEventStream(
      api.token,
      (message) => {
        switch (message.event) {
          case 'snapshot': {
            const snapshot = message.data;
            models.clear();
            for (const m of snapshot.models) models.set(m.name, m);
            for (const [name, samples] of Object.entries(snapshot.history)) {
              for (const s of samples) append(name, { t: Date.parse(s.at), versions: s.versions, ...(s.shadow === undefined ? {} : { shadow: s.shadow }) });
            }
            state = { ...state, storeAvailable: snapshot.storeAvailable, ready: true };
            break;
          }
          case 'stats':
            onStats(message.data);
            break;
          case 'store':
            state = { ...state, storeAvailable: message.data.available };
            break;
          case 'policy': {
            const { model, by, at, ...rest } = message.data;
            const view = models.get(model);
            if (view !== undefined && rest.revision >= view.revision) models.set(model, { ...view, ...rest, updatedBy: by, updatedAt: at });
            state = { ...state, changes: { ...state.changes, [model]: (state.changes[model] ?? 0) + 1 } };
            refresh(model);
            break;
          }
          case 'rollback':
            state = { ...state, rollbacks: { ...state.rollbacks, [message.data.model]: message.data } };
            refresh(message.data.model);
            break;
          case 'versions':
          case 'health':
          case 'replica':
            // Versions found or gone, health, breaker and ejection changes: the pools are in the full view.
            if (models.has(message.data.model)) refresh(message.data.model);
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
