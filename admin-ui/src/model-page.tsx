import { useState } from 'preact/hooks';
import type { Action, Api, ModelView } from './api';
import { AuditLog } from './audit';
import { Charts } from './chart';
import { failure, Feedback, type Outcome } from './feedback';
import { ago, duration, liveShare, ms, percent, poolOf, rate, rps, when } from './format';
import type { Live, RollbackNotice } from './live';
import { StateBadge } from './overview';
import { RulesEditor } from './rules-editor';
import { Disagreements, ShadowPanel } from './shadow-panel';

interface PageProps {
  api: Api;
  live: Live;
  name: string;
  canWrite: boolean;
}

export function ModelPage({ api, live, name, canWrite }: PageProps) {
  const model = live.models.find((m) => m.name === name);
  if (!live.ready) return <p class="muted">Loading…</p>;
  if (model === undefined) {
    return (
      <section>
        <h1 tabIndex={-1}>Unknown model</h1>
        <p>
          This gateway serves no model named <code>{name}</code>. <a href="#/">All models</a>
        </p>
      </section>
    );
  }
  return (
    <>
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="#/">Models</a> / <span aria-current="page">{model.name}</span>
      </nav>
      <div class="model-head">
        <h1 tabIndex={-1}>{model.name}</h1>
        <StateBadge state={model.state} />
        <span class="muted">
          revision {model.revision} · {model.reason} by {model.updatedBy}, <time dateTime={model.updatedAt} title={when(model.updatedAt)}>{ago(model.updatedAt)}</time>
        </span>
      </div>
      {model.rolledBack && <RolledBack notice={live.rollbacks[model.name]} model={model} />}
      <Versions model={model} />
      {/* The canary's controls come first in the document, so on a phone they are near the top;
          on a wide screen the grid puts them in the right-hand column. */}
      <div class="model-grid">
        <div class="col-side">
          <section aria-labelledby="h-canary" class="panel">
            <h2 id="h-canary">Canary</h2>
            {canWrite ? <PercentControl key={model.name} api={api} model={model} /> : <PercentReadOnly model={model} />}
            {canWrite && <Actions api={api} model={model} />}
          </section>
          <RolloutPlan model={model} />
          <NewVersions api={api} model={model} canWrite={canWrite} />
          <ShadowPanel api={api} model={model} canWrite={canWrite} samples={live.history.get(model.name) ?? []} />
        </div>
        <div class="col-main">
          <section aria-labelledby="h-traffic">
            <h2 id="h-traffic">Live traffic</h2>
            <Charts samples={live.history.get(model.name) ?? []} />
          </section>
          <Disagreements model={model} />
          <Replicas model={model} />
          <RulesEditor api={api} model={model} canWrite={canWrite} />
          <AuditLog api={api} model={model.name} changes={live.changes[model.name] ?? 0} />
        </div>
      </div>
    </>
  );
}

function RolledBack({ notice, model }: { notice: RollbackNotice | undefined; model: ModelView }) {
  const mine = notice !== undefined && notice.revision <= model.revision ? notice : undefined;
  return (
    <div class="banner danger" role="alert">
      <strong>Rolled back.</strong> Every unpinned request goes to stable (version {model.policy.stable}) until an operator changes the routing
      again.{' '}
      {mine !== undefined ? (
        <>
          By {mine.by}, {ago(mine.at)}
          {mine.note === '' ? '.' : `: “${mine.note}”`}
        </>
      ) : (
        <>
          By {model.updatedBy}, {ago(model.updatedAt)}
          {model.note === '' ? '.' : `: “${model.note}”`}
        </>
      )}
    </div>
  );
}

function Versions({ model }: { model: ModelView }) {
  const share = liveShare(model);
  const cards = (['stable', 'canary'] as const).map((role) => ({ role, pool: poolOf(model, role) }));
  return (
    <section aria-labelledby="h-versions">
      <h2 id="h-versions" class="visually-hidden">
        Versions
      </h2>
      <div class="cards">
        {cards.map(({ role, pool }) => (
          <div key={role} class={`card role-${role}`}>
            <div class="card-title">
              {role} {pool === undefined ? <span class="muted">none</span> : <span class="version">version {pool.version}</span>}
            </div>
            {pool !== undefined && (
              <dl class="figures">
                <div>
                  <dt>traffic</dt>
                  <dd>{share === null ? '—' : rate(role === 'canary' ? share : 1 - share)}</dd>
                </div>
                <div>
                  <dt>requests</dt>
                  <dd>{rps(pool.stats.rps)}</dd>
                </div>
                <div>
                  <dt>errors</dt>
                  <dd class={pool.stats.errorRate > 0.01 ? 'danger-text' : ''}>{rate(pool.stats.errorRate)}</dd>
                </div>
                <div>
                  <dt>p99</dt>
                  <dd>{ms(pool.stats.p99Ms)}</dd>
                </div>
                <div>
                  <dt title="requests answered since the gateway started, by protocol">REST · gRPC</dt>
                  <dd>
                    {pool.requestsByProtocol.rest} · {pool.requestsByProtocol.grpc}
                  </dd>
                </div>
                <div>
                  <dt>healthy</dt>
                  <dd>
                    {pool.healthyReplicas}/{pool.replicas.length}
                  </dd>
                </div>
                {pool.availableReplicas !== pool.healthyReplicas && (
                  <div>
                    <dt title="healthy, breaker not open, not ejected">available</dt>
                    <dd class="danger-text">
                      {pool.availableReplicas}/{pool.replicas.length}
                    </dd>
                  </div>
                )}
              </dl>
            )}
            {pool?.draining === true && (
              <p class="draining" role="status">
                Draining: requests bound for this canary go to stable.
              </p>
            )}
          </div>
        ))}
      </div>
    </section>
  );
}

function PercentReadOnly({ model }: { model: ModelView }) {
  return (
    <p>
      {model.policy.canary === null ? (
        'No canary.'
      ) : (
        <>
          Version {model.policy.canary} gets <strong>{percent(model.policy.percent)}</strong> of unpinned traffic.
        </>
      )}
    </p>
  );
}

function PercentControl({ api, model }: { api: Api; model: ModelView }) {
  const current = model.policy.percent;
  // null: follow the policy as it changes; a number: the operator is choosing one.
  const [draft, setDraft] = useState<number | null>(null);
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const value = draft ?? current;
  const noCanary = model.policy.canary === null;

  const choose = (raw: string): void => {
    const n = Number(raw);
    if (raw !== '' && Number.isFinite(n)) {
      setDraft(n);
      setOutcome(null);
    }
  };
  const confirm = async (): Promise<void> => {
    setBusy(true);
    try {
      const view = await api.setPercent(model.name, { percent: value, ...(note.trim() === '' ? {} : { note: note.trim() }) }, model.revision);
      setOutcome({ ok: true, text: `The canary now gets ${percent(view.policy.percent)} (revision ${view.revision}).` });
      setDraft(null);
      setNote('');
    } catch (err) {
      setOutcome(failure(err));
      setDraft(null);
    } finally {
      setBusy(false);
    }
  };

  if (noCanary) return <p>No canary: this model has only its stable version {model.policy.stable}.</p>;
  return (
    <div class="percent">
      <label for="percent-range">Share of unpinned traffic for version {model.policy.canary}</label>
      <div class="percent-row">
        <input
          id="percent-range"
          type="range"
          min={0}
          max={100}
          step={1}
          value={value}
          disabled={busy}
          aria-valuetext={percent(value)}
          onInput={(e) => choose(e.currentTarget.value)}
        />
        <input
          type="number"
          class="percent-number"
          aria-label="Canary percentage"
          min={0}
          max={100}
          step={0.01}
          value={value}
          disabled={busy}
          onInput={(e) => choose(e.currentTarget.value)}
        />
        <span aria-hidden="true">%</span>
      </div>
      {draft !== null && draft !== current && (
        <div class="confirm" role="group" aria-labelledby="percent-question">
          <p id="percent-question">
            Change the canary's share from <strong>{percent(current)}</strong> to <strong>{percent(draft)}</strong>?
          </p>
          <label for="percent-note">Note for the audit trail (optional)</label>
          <input id="percent-note" type="text" value={note} maxLength={1000} onInput={(e) => setNote(e.currentTarget.value)} />
          <div class="buttons">
            <button type="button" class="primary" disabled={busy} onClick={confirm}>
              Confirm {percent(draft)}
            </button>
            <button type="button" disabled={busy} onClick={() => setDraft(null)}>
              Cancel
            </button>
          </div>
        </div>
      )}
      <Feedback outcome={outcome} />
    </div>
  );
}

function Actions({ api, model }: { api: Api; model: ModelView }) {
  const [busy, setBusy] = useState(false);
  const [confirmPromote, setConfirmPromote] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const canary = model.policy.canary;

  const act = async (action: Action, done: (view: ModelView) => string, ifMatch?: number): Promise<void> => {
    setBusy(true);
    setConfirmPromote(false);
    try {
      const view = await api.act(model.name, action, {}, ifMatch);
      setOutcome({ ok: true, text: done(view) });
    } catch (err) {
      setOutcome(failure(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="actions">
      <h3>Actions</h3>
      <div class="buttons">
        {/* One click, no confirmation: in an incident, sending everyone to stable is never the dangerous choice. */}
        <button type="button" class="danger" disabled={busy || canary === null || model.rolledBack} onClick={() => act('rollback', (v) => `Rolled back (revision ${v.revision}).`)}>
          Roll back
        </button>
        <button type="button" disabled={busy || canary === null} onClick={() => setConfirmPromote(true)} aria-expanded={confirmPromote}>
          Promote…
        </button>
        <button type="button" disabled={busy || model.paused} onClick={() => act('pause', () => 'Automation paused.')}>
          Pause
        </button>
        <button type="button" disabled={busy || !model.paused} onClick={() => act('resume', () => 'Automation resumed.')}>
          Resume
        </button>
      </div>
      {confirmPromote && canary !== null && (
        <div class="confirm" role="group" aria-labelledby="promote-question">
          <p id="promote-question">
            Make version <strong>{canary}</strong> the stable version? Version {model.policy.stable} stops getting unpinned traffic and there is no
            canary afterwards.
          </p>
          <div class="buttons">
            <button type="button" class="primary" disabled={busy} onClick={() => act('promote', (v) => `Version ${v.policy.stable} is stable now.`, model.revision)}>
              Confirm promotion
            </button>
            <button type="button" onClick={() => setConfirmPromote(false)}>
              Cancel
            </button>
          </div>
        </div>
      )}
      <p class="hint">Pause and resume hold or release automation (rollout steps); routing is unchanged.</p>
      <Feedback outcome={outcome} />
    </div>
  );
}

function RolloutPlan({ model }: { model: ModelView }) {
  const plan = model.policy.plan;
  const rollout = model.rollout;
  return (
    <section aria-labelledby="h-plan" class="panel">
      <h2 id="h-plan">Rollout plan</h2>
      {plan === null ? (
        <p class="muted">No plan: the canary's share changes only when an operator sets it.</p>
      ) : (
        <>
          <ol class="steps">
            {plan.steps.map((step, i) => {
              const status = rollout === null ? '' : i < rollout.step ? 'done' : i === rollout.step ? 'current' : '';
              return (
                <li key={i} class={status} aria-current={status === 'current' ? 'step' : undefined}>
                  {percent(step)}
                  {status !== '' && <span class="visually-hidden"> ({status})</span>}
                </li>
              );
            })}
            <li>promote</li>
          </ol>
          {plan.shadow !== undefined && (
            <p>
              {model.policy.percent === 0 && rollout?.step === 0 && model.policy.shadow?.version === model.policy.canary ? <strong>Shadow stage now: </strong> : 'Starts with a shadow stage: '}
              version {model.policy.canary} gets copies only, until {plan.shadow.minRequests.toLocaleString()} compared answers agree at least{' '}
              {rate(plan.shadow.minAgreement)} of the time (else a rollback).
            </p>
          )}
          <p>
            {rollout === null
              ? 'Not rolling out now.'
              : `Step ${rollout.step + 1} of ${plan.steps.length}, since ${ago(rollout.since)}${model.paused ? ' (paused)' : ''}.`}{' '}
            Each step waits at least {duration(plan.minDwellSeconds)} and {plan.minRequests.toLocaleString()} canary requests, then steps up while
            the canary stays as good as stable.
          </p>
        </>
      )}
    </section>
  );
}

/** Versions found on the replicas, the candidate onNewVersion rolls out, and the rejected ones with why. */
function NewVersions({ api, model, canWrite }: { api: Api; model: ModelView; canWrite: boolean }) {
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const { versions, policy } = model;
  if (!versions.discovery && versions.candidate === null && versions.rejected.length === 0) return null;
  const clear = async (version: number): Promise<void> => {
    setBusy(true);
    try {
      await api.clearRejected(model.name, version, model.revision);
      setOutcome({ ok: true, text: `Version ${version} may be tried again.` });
    } catch (err) {
      setOutcome(failure(err));
    } finally {
      setBusy(false);
    }
  };
  const role = (v: number): string => (v === policy.stable ? ' (stable)' : v === policy.canary ? ' (canary)' : '');
  return (
    <section aria-labelledby="h-new-versions" class="panel">
      <h2 id="h-new-versions">New versions</h2>
      {versions.discovery && (
        <p>
          Found on the replicas:{' '}
          <span data-testid="discovered">{versions.discovered.length === 0 ? 'none yet' : versions.discovered.map((v) => `${v}${role(v)}`).join(', ')}</span>
        </p>
      )}
      <p class={policy.onNewVersion === null ? 'muted' : ''}>
        {policy.onNewVersion === null
          ? 'Automatic rollout is off: a new version waits for an operator.'
          : `Automatic rollout is on: a version newer than stable becomes the candidate and is rolled out by the plan (${
              policy.onNewVersion.plan.shadow === undefined ? '' : 'shadow stage, then '
            }${policy.onNewVersion.plan.steps.map(percent).join(', ')}, promote).`}
      </p>
      {versions.candidate !== null && (
        <p data-testid="candidate">
          <strong>Candidate: version {versions.candidate.version}</strong>,{' '}
          {versions.candidate.stage === 'shadow'
            ? 'in its shadow stage (copies only, compared with the live answers)'
            : model.rollout === null
              ? 'rolling out'
              : `step ${model.rollout.step + 1} of ${model.rollout.steps} (${percent(model.rollout.percent)})`}
          .
        </p>
      )}
      {versions.rejected.length > 0 && (
        <>
          <h3>Rejected</h3>
          <ul class="rejected" data-testid="rejected">
            {[...versions.rejected].reverse().map((r) => (
              <li key={r.version}>
                <strong>Version {r.version}</strong>, <time dateTime={r.at} title={when(r.at)}>{ago(r.at)}</time>: {r.note}
                {canWrite && (
                  <>
                    {' '}
                    <button type="button" disabled={busy} onClick={() => void clear(r.version)} aria-label={`Clear the rejection of version ${r.version}`}>
                      Clear
                    </button>
                  </>
                )}
              </li>
            ))}
          </ul>
          <p class="hint">A rejected version is not tried again until it is cleared or a newer version appears.</p>
        </>
      )}
      <Feedback outcome={outcome} />
    </section>
  );
}

function Replicas({ model }: { model: ModelView }) {
  const rows = model.pools.flatMap((pool) => pool.replicas.map((replica) => ({ pool, replica })));
  return (
    <section aria-labelledby="h-replicas">
      <h2 id="h-replicas">Replicas</h2>
      <table class="responsive replicas">
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Replica</th>
            <th scope="col">Health</th>
            <th scope="col">Last check</th>
            <th scope="col">In flight</th>
            <th scope="col">Breaker</th>
            <th scope="col">Ejected</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ pool, replica }) => {
            const ejectedUntil = replica.ejectedUntil === null ? null : new Date(replica.ejectedUntil);
            return (
              <tr key={pool.version + replica.url}>
                <td data-label="Version">
                  v{pool.version} <span class="muted">{pool.role}</span>
                </td>
                <th scope="row" data-label="Replica" class="url">
                  {replica.url}
                </th>
                <td data-label="Health">
                  <span class={`badge health-${replica.health}`}>{replica.health}</span>
                </td>
                <td data-label="Last check">
                  {replica.lastCheck === null ? '—' : `${replica.lastCheck.detail}, ${ago(replica.lastCheck.at)}`}
                </td>
                <td data-label="In flight">{replica.outstanding}</td>
                <td data-label="Breaker">
                  <span class={`badge breaker-${replica.breaker}`}>{replica.breaker}</span>
                </td>
                <td data-label="Ejected">
                  {ejectedUntil !== null && ejectedUntil.getTime() > Date.now() ? (
                    <span class="badge health-down">until {ejectedUntil.toLocaleTimeString()}</span>
                  ) : (
                    'no'
                  )}
                  {replica.ejections > 0 && <span class="muted"> ({replica.ejections}× so far)</span>}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
