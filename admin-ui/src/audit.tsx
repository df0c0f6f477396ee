import { useEffect, useState } from 'preact/hooks';
import type { Api, AuditEntry, Policy } from './api';
import { ago, percent, when } from './format';

const LIMIT = 20;

/** What an audit entry changed, in a few words. */
export function changeOf(entry: AuditEntry): string {
  if (entry.before === null) return 'first stored policy';
  const before = entry.before.policy ?? {};
  const after = entry.after.policy ?? {};
  const parts: string[] = [];
  const fmt = (key: keyof Policy, value: unknown): string =>
    value === null || value === undefined ? 'none' : key === 'percent' ? percent(value as number) : typeof value === 'number' ? `v${value}` : String(value);
  for (const key of ['stable', 'canary', 'percent'] as const) {
    if (before[key] !== after[key]) parts.push(`${key} ${fmt(key, before[key])} → ${fmt(key, after[key])}`);
  }
  const labels: Partial<Record<keyof Policy, string>> = { headerRules: 'header rules', cookieRules: 'cookie rules', sticky: 'sticky key', salt: 'salt', plan: 'rollout plan' };
  for (const [key, label] of Object.entries(labels)) {
    if (JSON.stringify(before[key as keyof Policy] ?? null) !== JSON.stringify(after[key as keyof Policy] ?? null)) parts.push(`${label} changed`);
  }
  if (entry.before['paused'] !== entry.after['paused']) parts.push(entry.after['paused'] === true ? 'paused' : 'resumed');
  if (entry.before['rolledBack'] !== entry.after['rolledBack']) parts.push(entry.after['rolledBack'] === true ? 'rolled back' : 'rollback ended');
  const step = (state: { [flag: string]: unknown }): number | undefined => (state['rollout'] as { step?: number } | null | undefined)?.step;
  if (step(entry.before) !== step(entry.after)) {
    const s = step(entry.after);
    parts.push(s === undefined ? 'rollout ended' : `rollout step ${s + 1}`);
  }
  return parts.length === 0 ? 'no change' : parts.join(', ');
}

export function AuditLog({ api, model, changes }: { api: Api; model: string; changes: number }) {
  const [entries, setEntries] = useState<AuditEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  // Reloaded when the stream reports a change of this model's policy, never on a timer.
  useEffect(() => {
    let current = true;
    api.audit(model, LIMIT).then(
      (r) => {
        if (!current) return;
        setEntries(r.entries);
        setError(null);
      },
      (err: Error) => current && setError(err.message),
    );
    return () => {
      current = false;
    };
  }, [api, model, changes]);

  return (
    <section aria-labelledby="h-audit">
      <h2 id="h-audit">Audit log</h2>
      {error !== null && (
        <p class="error" role="alert">
          The audit trail cannot be read now: {error}
        </p>
      )}
      {entries === null ? (
        error === null && <p class="muted">Loading…</p>
      ) : entries.length === 0 ? (
        <p class="muted">No entry yet.</p>
      ) : (
        <table class="responsive audit">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Who</th>
              <th scope="col">Why</th>
              <th scope="col">Change</th>
              <th scope="col">Note</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.id}>
                <td data-label="When">
                  <time dateTime={e.at} title={when(e.at)}>
                    {ago(e.at)}
                  </time>{' '}
                  <span class="muted">r{e.revision}</span>
                </td>
                <td data-label="Who">{e.actor}</td>
                <td data-label="Why">
                  <span class={`badge reason-${e.reason}`}>{e.reason}</span>
                </td>
                <td data-label="Change">{changeOf(e)}</td>
                <td data-label="Note">{e.note}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
