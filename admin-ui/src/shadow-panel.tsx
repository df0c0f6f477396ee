/**
 * The model's shadow: set it (version, share) or stop it, this gateway's comparison results as they
 * come with each stats tick (agreement, differences, the shadow's errors and p99, copies dropped),
 * and the last disagreements with both answers side by side.
 */
import { useState } from 'preact/hooks';
import type { Api, ModelView } from './api';
import { failure, Feedback, type Outcome } from './feedback';
import { AgreementChart } from './chart';
import { ms, percent, rate } from './format';
import type { Sample } from './live';

export function ShadowPanel({ api, model, canWrite, samples }: { api: Api; model: ModelView; canWrite: boolean; samples: Sample[] }) {
  const shadow = model.policy.shadow;
  const view = model.shadow;
  const results = view?.results ?? null;
  const dropped = view === null ? 0 : view.dropped.budget + view.dropped.memory + view.dropped.unavailable + view.dropped.streamed;
  return (
    <section aria-labelledby="h-shadow" class="panel">
      <h2 id="h-shadow">Shadow</h2>
      {shadow === null ? (
        <p class="muted">No shadow: no version gets copies of live requests.</p>
      ) : (
        <p>
          Version <strong>{shadow.version}</strong> gets a copy of <strong>{percent(shadow.percent)}</strong> of unpinned inference requests; its answers
          are compared with the live ones (tolerance {shadow.tolerance?.abs} + {shadow.tolerance?.rel} × |live|) and never reach a client.
        </p>
      )}
      {results !== null && (
        <dl class="figures" aria-label={`Comparison with version ${results.version}`}>
          <div>
            <dt>agreement</dt>
            <dd class={results.agreementRate !== null && results.agreementRate < 0.99 ? 'danger-text' : ''}>
              {results.agreementRate === null ? '—' : rate(results.agreementRate)}
            </dd>
          </div>
          <div>
            <dt>compared</dt>
            <dd>{results.compared}</dd>
          </div>
          <div>
            <dt title="mean absolute difference of the numbers compared">mean diff</dt>
            <dd>{results.meanAbsDiff === null ? '—' : results.meanAbsDiff.toPrecision(3)}</dd>
          </div>
          <div>
            <dt>max diff</dt>
            <dd>{results.maxAbsDiff === null ? '—' : results.maxAbsDiff.toPrecision(3)}</dd>
          </div>
          <div>
            <dt>shadow errors</dt>
            <dd class={(results.errorRate ?? 0) > 0 ? 'danger-text' : ''}>{results.errorRate === null ? '—' : rate(results.errorRate)}</dd>
          </div>
          <div>
            <dt>shadow p99</dt>
            <dd>{ms(results.p99Ms)}</dd>
          </div>
          <div>
            <dt title="copies not sent: over the budget, over memory, no replica free, streamed bodies">dropped</dt>
            <dd>{dropped}</dd>
          </div>
        </dl>
      )}
      <AgreementChart samples={samples} />
      {canWrite && <ShadowControl key={`${model.name}:${model.revision}`} api={api} model={model} />}
    </section>
  );
}

function ShadowControl({ api, model }: { api: Api; model: ModelView }) {
  const current = model.policy.shadow;
  const candidates = model.pools.map((p) => p.version).filter((v) => v !== model.policy.stable);
  const [version, setVersion] = useState<number | undefined>(current?.version ?? model.policy.canary ?? candidates[0]);
  const [share, setShare] = useState<string>(String(current?.percent ?? 10));
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  if (candidates.length === 0) return <p class="hint">A shadow needs a version with a pool other than stable.</p>;

  const write = async (shadow: { version: number; percent: number } | null): Promise<void> => {
    setBusy(true);
    try {
      const view = await api.setShadow(model.name, { shadow: shadow === null ? null : { ...current, ...shadow } }, model.revision);
      setOutcome({ ok: true, text: view.policy.shadow === null ? `Shadow stopped (revision ${view.revision}).` : `Version ${view.policy.shadow.version} is the shadow (revision ${view.revision}).` });
    } catch (err) {
      setOutcome(failure(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      class="shadow-form"
      onSubmit={(e) => {
        e.preventDefault();
        if (version !== undefined) void write({ version, percent: Number(share) });
      }}
    >
      <label for="shadow-version">Shadow version</label>
      <select id="shadow-version" value={version} disabled={busy} onChange={(e) => setVersion(Number(e.currentTarget.value))}>
        {candidates.map((v) => (
          <option key={v} value={v}>
            {v}
            {v === model.policy.canary ? ' (canary)' : ''}
          </option>
        ))}
      </select>
      <label for="shadow-percent">Share of unpinned requests copied (%)</label>
      <input id="shadow-percent" type="number" min={0} max={100} step={0.01} value={share} disabled={busy} onInput={(e) => setShare(e.currentTarget.value)} />
      <div class="buttons">
        <button type="submit" class="primary" disabled={busy || version === undefined}>
          {current === null ? 'Start shadow' : 'Update shadow'}
        </button>
        {current !== null && (
          <button type="button" disabled={busy} onClick={() => void write(null)}>
            Stop shadow
          </button>
        )}
      </div>
      <Feedback outcome={outcome} />
    </form>
  );
}

/** The last disagreements, both answers side by side. */
export function Disagreements({ model }: { model: ModelView }) {
  const results = model.shadow?.results;
  if (results === undefined || results === null || results.disagreements.length === 0) return null;
  return (
    <section aria-labelledby="h-disagreements">
      <h2 id="h-disagreements">Shadow disagreements</h2>
      <p class="hint">
        The last {results.disagreements.length} live answers version {results.version} disagreed with, newest first.
      </p>
      {results.disagreements.map((d) => (
        <article key={d.requestId + d.at} class="disagreement">
          <p>
            <code>{d.detail}</code> · {d.protocol} {d.operation} · request <code>{d.requestId}</code>
          </p>
          <div class="side-by-side">
            <figure>
              <figcaption>live (version {d.liveVersion})</figcaption>
              <pre>{d.live}</pre>
            </figure>
            <figure>
              <figcaption>shadow (version {results.version})</figcaption>
              <pre>{d.shadow}</pre>
            </figure>
          </div>
        </article>
      ))}
    </section>
  );
}
