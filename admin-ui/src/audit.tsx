import { useEffect, useState } from 'preact/hooks';
import type { Api, AuditEntry } from './api';
import { ago, percent, when } from './format';

const LIMIT = 20;

/** What an audit entry changed, in a few words. */
export function changeOf(entry: AuditEntry): string {
  if (entry.before === null) return 'first stored policy';
  const { before, after } = entry;
  const parts: string[] = [];
  const fmt = (key: 'stable' | 'canary' | 'percent', value: number | null | undefined): string =>
    value === null || value === undefined ? 'none' : key === 'percent' ? percent(value) : `v${value}`;
  for (const key of ['stable', 'canary', 'percent'] as const) {
    if (before.policy[key] !== after.policy[key]) parts.push(`${key} ${fmt(key, before.policy[key])} → ${fmt(key, after.policy[key])}`);
  }
  const labels = { headerRules: 'header rules', cookieRules: 'cookie rules', sticky: 'sticky key', salt: 'salt', plan: 'rollout plan', onNewVersion: 'automatic rollout' } as const;
  for (const [key, label] of Object.entries(labels) as Array<[keyof typeof labels, string]>) {
    if (JSON.stringify(before.policy[key] ?? null) !== JSON.stringify(after.policy[key] ?? null)) parts.push(`${label} changed`);
  }
  const shadowOf = (policy: typeof before.policy): string => (policy.shadow == null ? 'none' : `v${policy.shadow.version} at ${percent(policy.shadow.percent)}`);
  if (JSON.stringify(before.policy.shadow ?? null) !== JSON.stringify(after.policy.shadow ?? null)) parts.push(`shadow ${shadowOf(before.policy)} → ${shadowOf(after.policy)}`);
  if (before.paused !== after.paused) parts.push(after.paused ? 'paused' : 'resumed');
  if (before.rolledBack !== after.rolledBack) parts.push(after.rolledBack ? 'rolled back' : 'rollback ended');
  if (before.rollout?.step !== after.rollout?.step) parts.push(after.rollout === null ? 'rollout ended' : `rollout step ${after.rollout.step + 1}`);
  parts.push(...versionChanges(before.versions, after.versions));
  return parts.length === 0 ? 'no change' : parts.join(', ');
}

/** Versions found or gone, a candidate started or ended, rejections added or cleared (older entries have no versions). */
function versionChanges(before: AuditEntry['after']['versions'], after: AuditEntry['after']['versions']): string[] {
  const parts: string[] = [];
  const was = new Set(before?.discovered ?? []);
  const now = new Set(after?.discovered ?? []);
  const found = [...now].filter((v) => !was.has(v));
  const gone = [...was].filter((v) => !now.has(v));
  if (found.length > 0) parts.push(`found ${found.map((v) => `v${v}`).join(', ')}`);
  if (gone.length > 0) parts.push(`gone ${gone.map((v) => `v${v}`).join(', ')}`);
  const candidate = (v: number | null | undefined): string => (v === null || v === undefined ? 'none' : `v${v}`);
  if ((before?.candidate ?? null) !== (after?.candidate ?? null)) parts.push(`candidate ${candidate(before?.candidate)} → ${candidate(after?.candidate)}`);
  const rejectedBefore = new Set((before?.rejected ?? []).map((r) => r.version));
  const rejectedAfter = new Set((after?.rejected ?? []).map((r) => r.version));
  for (const v of rejectedAfter) if (!rejectedBefore.has(v)) parts.push(`v${v} rejected`);
  for (const v of rejectedBefore) if (!rejectedAfter.has(v)) parts.push(`v${v} rejection cleared`);
  return parts;
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
