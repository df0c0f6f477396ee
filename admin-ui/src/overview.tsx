import type { ModelState, ModelView, Pool } from './api';
import { liveShare, ms, percent, poolOf, rate, rps, stateLabel } from './format';
import type { Live } from './live';

export function StateBadge({ state }: { state: ModelState }) {
  return <span class={`badge state-${state}`}>{stateLabel(state)}</span>;
}

function VersionCell({ pool, version }: { pool: Pool | undefined; version: number | null }) {
  if (version === null) return <span class="muted">none</span>;
  const replicas = pool?.replicas.length ?? 0;
  return (
    <>
      <span class="version">v{version}</span>{' '}
      <span class={pool !== undefined && pool.healthyReplicas < replicas ? 'warn-text' : 'muted'}>
        {pool?.healthyReplicas ?? 0}/{replicas} healthy
      </span>
    </>
  );
}

function PerVersion({ model, show }: { model: ModelView; show: (pool: Pool) => string }) {
  const stable = poolOf(model, 'stable');
  const canary = poolOf(model, 'canary');
  return (
    <>
      <span title="stable">{stable === undefined ? '—' : show(stable)}</span>
      {canary !== undefined && (
        <>
          {' / '}
          <span class="canary-text" title="canary">
            {show(canary)}
          </span>
        </>
      )}
    </>
  );
}

export function Overview({ live }: { live: Live }) {
  if (!live.ready) return <p class="muted">Loading models…</p>;
  return (
    <section>
      <h1 tabIndex={-1}>Models</h1>
      <p class="muted">
        Live numbers over the last 10 s, stable / <span class="canary-text">canary</span>. Open a model for its charts, replicas, rules and audit log.
      </p>
      <table class="models responsive">
        <thead>
          <tr>
            <th scope="col">Model</th>
            <th scope="col">State</th>
            <th scope="col">Stable</th>
            <th scope="col">Canary</th>
            <th scope="col">Canary share (set / live)</th>
            <th scope="col">Requests</th>
            <th scope="col">Error rate</th>
            <th scope="col">p99</th>
          </tr>
        </thead>
        <tbody>
          {live.models.map((model) => {
            const share = liveShare(model);
            return (
              <tr key={model.name} data-model={model.name}>
                <th scope="row" data-label="Model">
                  <a href={`#/models/${encodeURIComponent(model.name)}`}>{model.name}</a>
                </th>
                <td data-label="State">
                  <StateBadge state={model.state} />
                </td>
                <td data-label="Stable">
                  <VersionCell pool={poolOf(model, 'stable')} version={model.policy.stable} />
                </td>
                <td data-label="Canary">
                  <VersionCell pool={poolOf(model, 'canary')} version={model.policy.canary} />
                </td>
                <td data-label="Canary share (set / live)" class="share">
                  {model.policy.canary === null ? '—' : `${percent(model.policy.percent)} / ${share === null ? '—' : rate(share)}`}
                </td>
                <td data-label="Requests">
                  <PerVersion model={model} show={(p) => rps(p.stats.rps)} />
                </td>
                <td data-label="Error rate">
                  <PerVersion model={model} show={(p) => rate(p.stats.errorRate)} />
                </td>
                <td data-label="p99">
                  <PerVersion model={model} show={(p) => ms(p.stats.p99Ms)} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {live.models.length === 0 && <p>This gateway serves no model.</p>}
    </section>
  );
}
