/**
 * Header and cookie rules and the sticky key. The UI checks nothing itself: it sends the rules and
 * shows each of the API's messages (`details[].path`, a JSON pointer into the body) beside the
 * field it names; messages no field claims are listed above the buttons.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import type { Api, CookieRule, HeaderRule, Issue, ModelView, RulesBody, TargetSide } from './api';
import { failure, Feedback, type Outcome } from './feedback';

type Kind = 'headerRules' | 'cookieRules';
type Match = 'switch' | 'equals' | 'regex';
type Rule = HeaderRule | CookieRule;

interface RowDraft {
  name: string;
  match: Match;
  value: string;
  to: TargetSide;
}

interface Draft {
  headerRules: RowDraft[];
  cookieRules: RowDraft[];
  stickyHeader: string;
  stickyCookie: string;
}

const KEY: Record<Kind, 'header' | 'cookie'> = { headerRules: 'header', cookieRules: 'cookie' };

const nameOf = (rule: Rule): string => ('header' in rule ? rule.header : rule.cookie);

function draftOf(model: ModelView): Draft {
  const rows = (rules: Rule[]): RowDraft[] =>
    rules.map((r) => ({
      name: nameOf(r),
      match: r.equals !== undefined ? 'equals' : r.regex !== undefined ? 'regex' : 'switch',
      value: r.equals ?? r.regex ?? '',
      to: r.to ?? 'canary',
    }));
  const { headerRules, cookieRules, sticky } = model.policy;
  return {
    headerRules: rows(headerRules),
    cookieRules: rows(cookieRules),
    stickyHeader: sticky?.header ?? '',
    stickyCookie: sticky?.cookie ?? '',
  };
}

/** What a row matches and where it sends: the part header and cookie rules share. */
function matchOf(r: RowDraft): Omit<HeaderRule, 'header'> {
  if (r.match === 'switch') return {};
  // `to` defaults to canary: sent only when it says something.
  return { ...(r.match === 'equals' ? { equals: r.value } : { regex: r.value }), ...(r.to === 'stable' ? { to: 'stable' as const } : {}) };
}

function bodyOf(draft: Draft): RulesBody {
  const header = draft.stickyHeader.trim();
  const cookie = draft.stickyCookie.trim();
  return {
    headerRules: draft.headerRules.map((r) => ({ header: r.name.trim(), ...matchOf(r) })),
    cookieRules: draft.cookieRules.map((r) => ({ cookie: r.name.trim(), ...matchOf(r) })),
    sticky: header === '' && cookie === '' ? null : { ...(header === '' ? {} : { header }), ...(cookie === '' ? {} : { cookie }) },
  };
}

export function describeRule(rule: Rule): string {
  const name = nameOf(rule);
  if (rule.equals !== undefined) return `${name} equals “${rule.equals}” → ${rule.to ?? 'canary'}`;
  if (rule.regex !== undefined) return `${name} matches /${rule.regex}/ → ${rule.to ?? 'canary'}`;
  return `${name}: “always” → canary, “never” → stable`;
}

export function RulesEditor({ api, model, canWrite }: { api: Api; model: ModelView; canWrite: boolean }) {
  return (
    <section aria-labelledby="h-rules">
      <h2 id="h-rules">Routing rules</h2>
      <p class="hint">Rules are tried in order before the sticky cohort and the percentage; the first match decides.</p>
      {canWrite ? <Editor key={model.name} api={api} model={model} /> : <RulesText model={model} />}
    </section>
  );
}

function RulesText({ model }: { model: ModelView }) {
  const { headerRules, cookieRules, sticky } = model.policy;
  const list = (rules: Rule[], title: string) => (
    <>
      <h3>{title}</h3>
      {rules.length === 0 ? (
        <p class="muted">none</p>
      ) : (
        <ol class="rules-text">
          {rules.map((r, i) => (
            <li key={i}>
              <code>{describeRule(r)}</code>
            </li>
          ))}
        </ol>
      )}
    </>
  );
  return (
    <>
      {list(headerRules, 'Header rules')}
      {list(cookieRules, 'Cookie rules')}
      <h3>Sticky key</h3>
      <p>
        {sticky === null ? (
          <span class="muted">none: requests without a rule match are split at random</span>
        ) : (
          [sticky.header && `header ${sticky.header}`, sticky.cookie && `cookie ${sticky.cookie}`].filter(Boolean).join(', then ')
        )}
      </p>
    </>
  );
}

function Editor({ api, model }: { api: Api; model: ModelView }) {
  // null: show the policy in force (and follow it); a draft once the operator edits.
  const [draft, setDraft] = useState<Draft | null>(null);
  const [issues, setIssues] = useState<Issue[]>([]);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const [busy, setBusy] = useState(false);
  const shown = draft ?? draftOf(model);

  const edit = (change: (d: Draft) => Draft): void => {
    // From the latest draft, not this render's: two events may come before the next render.
    setDraft((d) => change(d ?? draftOf(model)));
    setOutcome(null);
  };
  const editRow = (kind: Kind, i: number, patch: Partial<RowDraft>): void =>
    edit((d) => ({ ...d, [kind]: d[kind].map((r, j) => (j === i ? { ...r, ...patch } : r)) }));

  const claimed = new Set<string>();
  const at = (path: string): Issue[] => {
    claimed.add(path);
    return issues.filter((i) => i.path === path);
  };

  const save = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    try {
      const view = await api.setRules(model.name, bodyOf(shown), model.revision);
      setDraft(null);
      setIssues([]);
      setOutcome({ ok: true, text: `Rules saved (revision ${view.revision}).` });
    } catch (err) {
      const out = failure(err);
      setIssues(out.details);
      setOutcome({ ...out, text: `Not saved, nothing changed: ${out.text}.`, details: [] });
    } finally {
      setBusy(false);
    }
  };

  const rows = (kind: Kind, title: string) => {
    const noun = KEY[kind];
    return (
      <fieldset class="rules">
        <legend>{title}</legend>
        {shown[kind].length === 0 && <p class="muted">none</p>}
        {shown[kind].map((row, i) => {
          const base = `/${kind}/${i}`;
          const id = `${kind}-${i}`;
          return (
            <div class="rule" key={i} role="group" aria-label={`${title}, rule ${i + 1}`}>
              <Field id={`${id}-name`} label={noun === 'header' ? 'Header' : 'Cookie'} issues={at(`${base}/${noun}`)}>
                {(props) => <input {...props} type="text" value={row.name} onInput={(e) => editRow(kind, i, { name: e.currentTarget.value })} />}
              </Field>
              <Field id={`${id}-match`} label="Match" issues={[]}>
                {(props) => (
                  <select {...props} value={row.match} onChange={(e) => editRow(kind, i, { match: e.currentTarget.value as Match })}>
                    <option value="switch">always / never</option>
                    <option value="equals">equals</option>
                    <option value="regex">regex</option>
                  </select>
                )}
              </Field>
              {row.match !== 'switch' && (
                <>
                  <Field id={`${id}-value`} label={row.match === 'equals' ? 'Value' : 'Regular expression'} issues={at(`${base}/${row.match}`)}>
                    {(props) => <input {...props} type="text" value={row.value} onInput={(e) => editRow(kind, i, { value: e.currentTarget.value })} />}
                  </Field>
                  <Field id={`${id}-to`} label="Sends to" issues={at(`${base}/to`)}>
                    {(props) => (
                      <select {...props} value={row.to} onChange={(e) => editRow(kind, i, { to: e.currentTarget.value as TargetSide })}>
                        <option value="canary">canary</option>
                        <option value="stable">stable</option>
                      </select>
                    )}
                  </Field>
                </>
              )}
              <button
                type="button"
                class="remove"
                aria-label={`Remove ${noun} rule ${i + 1}`}
                onClick={() => edit((d) => ({ ...d, [kind]: d[kind].filter((_, j) => j !== i) }))}
              >
                Remove
              </button>
              <Issues id={`${id}-issues`} issues={at(base)} />
            </div>
          );
        })}
        <Issues id={`${kind}-issues`} issues={at(`/${kind}`)} />
        <button type="button" onClick={() => edit((d) => ({ ...d, [kind]: [...d[kind], { name: '', match: 'switch', value: '', to: 'canary' }] }))}>
          Add {noun} rule
        </button>
      </fieldset>
    );
  };

  const headerRows = rows('headerRules', 'Header rules');
  const cookieRows = rows('cookieRules', 'Cookie rules');
  const sticky = (
    <fieldset class="rules">
      <legend>Sticky key</legend>
      <p class="hint">Requests with the same key stay on the same side; the header is read first, then the cookie.</p>
      <div class="rule">
        <Field id="sticky-header" label="Header" issues={at('/sticky/header')}>
          {(props) => <input {...props} type="text" value={shown.stickyHeader} onInput={(e) => edit((d) => ({ ...d, stickyHeader: e.currentTarget.value }))} />}
        </Field>
        <Field id="sticky-cookie" label="Cookie" issues={at('/sticky/cookie')}>
          {(props) => <input {...props} type="text" value={shown.stickyCookie} onInput={(e) => edit((d) => ({ ...d, stickyCookie: e.currentTarget.value }))} />}
        </Field>
        <Issues id="sticky-issues" issues={at('/sticky')} />
      </div>
    </fieldset>
  );
  const unclaimed = issues.filter((i) => !claimed.has(i.path));

  return (
    <form onSubmit={save} noValidate>
      {headerRows}
      {cookieRows}
      {sticky}
      <Issues id="rules-issues" issues={unclaimed} withPath />
      <div class="buttons">
        <button type="submit" class="primary" disabled={busy || draft === null}>
          Save rules
        </button>
        <button
          type="button"
          disabled={busy || draft === null}
          onClick={() => {
            setDraft(null);
            setIssues([]);
            setOutcome(null);
          }}
        >
          Discard changes
        </button>
      </div>
      <Feedback outcome={outcome} />
    </form>
  );
}

interface FieldProps {
  id: string;
  label: string;
  issues: Issue[];
  children: (props: { id: string; 'aria-invalid': boolean; 'aria-describedby'?: string }) => ComponentChildren;
}

function Field({ id, label, issues, children }: FieldProps) {
  const errorId = `${id}-error`;
  return (
    <div class={`field${issues.length > 0 ? ' invalid' : ''}`}>
      <label for={id}>{label}</label>
      {children({ id, 'aria-invalid': issues.length > 0, ...(issues.length > 0 ? { 'aria-describedby': errorId } : {}) })}
      <Issues id={errorId} issues={issues} />
    </div>
  );
}

function Issues({ id, issues, withPath = false }: { id: string; issues: Issue[]; withPath?: boolean }) {
  if (issues.length === 0) return null;
  return (
    <ul id={id} class="field-error">
      {issues.map((i) => (
        <li key={i.path + i.message}>
          {withPath && <code>{i.path || '/'}</code>} {i.message}
        </li>
      ))}
    </ul>
  );
}
