import { ApiError, type Issue } from './api';

export type Failure = { ok: false; text: string; details: Issue[] };
export type Outcome = { ok: true; text: string } | Failure | null;

export function failure(err: unknown): Failure {
  if (!(err instanceof ApiError)) return { ok: false, text: String(err), details: [] };
  if (err.status === 409 && err.details.some((d) => d.path === '/headers/if-match')) {
    return { ok: false, text: `The policy changed while you were looking (${err.message}): nothing was written. Review the current state and try again.`, details: [] };
  }
  return { ok: false, text: err.message, details: err.details };
}

export function Feedback({ outcome }: { outcome: Outcome }) {
  if (outcome === null) return null;
  if (outcome.ok) return <p class="ok-text" role="status">{outcome.text}</p>;
  return (
    <div class="error" role="alert">
      <p>{outcome.text}</p>
      {outcome.details.length > 0 && (
        <ul>
          {outcome.details.map((d) => (
            <li key={d.path + d.message}>
              <code>{d.path || '/'}</code> {d.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
