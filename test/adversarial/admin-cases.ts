/**
 * Invalid admin API requests, generated: a valid body for one write route, made invalid by one to
 * three edits (admin-edits.ts), or replaced whole by something that is not a JSON object. Each
 * case carries the status and the field the refusal must name.
 */
import fc from 'fast-check';
import {
  contentTypeEdit,
  disjoint,
  escapePointer,
  ifMatchEdit,
  noteEdits,
  percentEdits,
  planEdits,
  pollution,
  ruleEdits,
  saltEdits,
  serialize,
  stickyEdits,
  unknownField,
  validNote,
  validPercent,
  validPlan,
  validRule,
  validSalt,
  validSticky,
  versionEdits,
  type Doc,
  type Draft,
  type Edit,
} from './admin-edits.js';

export interface BadRequest {
  readonly method: 'PUT' | 'POST';
  /** Under /api/models/{model}. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly status: 400 | 415;
  /** The refusal's details must name at least one of these exactly... */
  readonly fields: readonly string[];
  /** ...and name nothing outside these (a pointer or anything under it). */
  readonly scopes: readonly string[];
  /** What was done, for the failure reasons. */
  readonly kinds: readonly string[];
}

function scopeOf(claim: string): string {
  if (claim === '#if-match') return '/headers/if-match';
  if (claim === '#content-type') return '/headers/content-type';
  if (claim === '#version') return '/params/version';
  if (claim === '#body') return '';
  return `/${escapePointer(claim)}`;
}

function edited(method: 'PUT' | 'POST', path: string, base: Doc, edits: readonly Edit[]): BadRequest {
  const chosen = disjoint(edits);
  const draft: Draft = { path, headers: { 'content-type': 'application/json' }, body: structuredClone(base) };
  const fields = chosen.map((e) => e.apply(draft));
  return {
    method,
    path: draft.path,
    headers: draft.headers,
    body: serialize(draft.body),
    status: chosen.some((e) => e.status === 415) ? 415 : 400,
    fields,
    scopes: chosen.flatMap((e) => e.claims.map(scopeOf)),
    kinds: chosen.map((e) => e.kind),
  };
}

/**
 * One to three edits drawn from the families (each family equally likely), plus now and then a
 * malformed If-Match (not on the replicas route, which takes no If-Match).
 */
function editsFrom(families: ReadonlyArray<readonly fc.MaybeWeightedArbitrary<Edit>[]>, ifMatch = true): fc.Arbitrary<Edit[]> {
  const one = fc.oneof(...families.map((family) => fc.oneof(...family)));
  const extra = ifMatch ? fc.oneof({ arbitrary: fc.constant(undefined), weight: 7 }, { arbitrary: ifMatchEdit, weight: 1 }) : fc.constant(undefined);
  return fc.tuple(fc.array(one, { minLength: 1, maxLength: 3 }), extra).map(([edits, header]) => (header === undefined ? edits : [...edits, header]));
}

// ---- valid bodies -----------------------------------------------------------------------------

/** A valid policy for a model with pools 1 and 2 (checked by the test against validatePolicy). */
export const validPolicy: fc.Arbitrary<Doc> = fc
  .record({
    versions: fc.constantFrom<[number, number | null]>([1, 2], [2, 1], [1, null], [2, null]),
    explicitNull: fc.boolean(),
    percent: fc.option(validPercent, { nil: undefined }),
    headerRules: fc.option(fc.array(validRule('header'), { maxLength: 4 }), { nil: undefined }),
    cookieRules: fc.option(fc.array(validRule('cookie'), { maxLength: 3 }), { nil: undefined }),
    sticky: fc.option(validSticky, { nil: undefined }),
    salt: fc.option(validSalt, { nil: undefined }),
    plan: fc.option(fc.option(validPlan, { nil: null }), { nil: undefined }),
  })
  .map(({ versions: [stable, canary], explicitNull, percent, plan, ...rest }) => {
    const policy: Doc = { stable };
    if (canary !== null) {
      policy['canary'] = canary;
      if (percent !== undefined) policy['percent'] = percent;
      if (plan !== undefined) policy['plan'] = plan;
    } else if (explicitNull) {
      policy['canary'] = null;
      policy['percent'] = 0;
      policy['plan'] = null;
    }
    for (const [key, value] of Object.entries(rest)) if (value !== undefined) policy[key] = value;
    return policy;
  });

const ROUTING_KEYS = ['headerRules', 'cookieRules', 'sticky', 'salt'];

export const validRules: fc.Arbitrary<Doc> = fc
  .record(
    {
      headerRules: fc.array(validRule('header'), { maxLength: 4 }),
      cookieRules: fc.array(validRule('cookie'), { maxLength: 3 }),
      sticky: validSticky,
      salt: validSalt,
      note: validNote,
    },
    { requiredKeys: [] },
  )
  .filter((body) => ROUTING_KEYS.some((k) => k in body));

const withNote = (body: Doc): fc.Arbitrary<Doc> => fc.option(validNote, { nil: undefined }).map((note) => (note === undefined ? body : { ...body, note }));

export const validPercentBody: fc.Arbitrary<Doc> = validPercent.chain((percent) => withNote({ percent }));
export const validPlanBody: fc.Arbitrary<Doc> = fc.option(validPlan, { nil: null }).chain((plan) => withNote({ plan }));
export const validActionBody: fc.Arbitrary<Doc> = withNote({});
export const validReplicas: fc.Arbitrary<Doc> = fc
  .uniqueArray(fc.integer({ min: 1, max: 65_535 }), { minLength: 1, maxLength: 4 })
  .map((ports) => ({ replicas: ports.map((p) => `http://127.0.0.1:${p}`) }));

export const ACTIONS = ['rollback', 'promote', 'abort', 'pause', 'resume'] as const;

/** Every write route with a valid body for it: the starting point of every case. */
export const validRequest: fc.Arbitrary<{ method: 'PUT' | 'POST'; path: string; body: Doc; route: string }> = fc.oneof(
  validPolicy.map((body) => ({ method: 'PUT' as const, path: '/policy', body, route: 'policy' })),
  validRules.map((body) => ({ method: 'PUT' as const, path: '/rules', body, route: 'rules' })),
  validPercentBody.map((body) => ({ method: 'PUT' as const, path: '/percent', body, route: 'percent' })),
  validPlanBody.map((body) => ({ method: 'PUT' as const, path: '/plan', body, route: 'plan' })),
  fc.tuple(fc.constantFrom(...ACTIONS), validActionBody).map(([action, body]) => ({ method: 'POST' as const, path: `/${action}`, body, route: action })),
  fc.tuple(fc.constantFrom('1', '2'), validReplicas).map(([version, body]) => ({ method: 'PUT' as const, path: `/pools/${version}/replicas`, body, route: 'replicas' })),
);

// ---- invalid bodies, by route ----------------------------------------------------------------

const POLICY_KEYS = ['stable', 'canary', 'percent', 'headerRules', 'cookieRules', 'sticky', 'salt', 'plan'];
const RULES_KEYS = [...ROUTING_KEYS, 'note'];

const nestedPollution = pollution([
  { key: 'headerRules', holder: () => ({ header: 'x-canary' }) },
  { key: 'cookieRules', holder: () => ({ cookie: 'canary' }) },
  { key: 'sticky', holder: () => ({ header: 'x-user-id' }) },
]);

export const invalidPolicy: fc.Arbitrary<BadRequest> = fc
  .tuple(
    validPolicy,
    editsFrom([versionEdits, percentEdits(false, true), ruleEdits('headerRules'), ruleEdits('cookieRules'), stickyEdits, saltEdits, planEdits(true), [unknownField(POLICY_KEYS), nestedPollution]]),
  )
  .map(([base, edits]) => edited('PUT', '/policy', base, edits));

export const invalidRules: fc.Arbitrary<BadRequest> = fc.oneof(
  { arbitrary: fc.tuple(validRules, editsFrom([ruleEdits('headerRules'), ruleEdits('cookieRules'), stickyEdits, saltEdits, noteEdits, [unknownField(RULES_KEYS), nestedPollution]])).map(([base, edits]) => edited('PUT', '/rules', base, edits)), weight: 30 },
  { arbitrary: fc.constant(edited('PUT', '/rules', {}, [{ kind: 'no field at all', claims: ['#body'], apply: () => '' }])), weight: 1 },
);

const REPLICA_BAD = [
  'ftp://127.0.0.1:21',
  'ws://127.0.0.1:8501',
  '//127.0.0.1:8501',
  '127.0.0.1:8501',
  'http://',
  `http://${'a'.repeat(2050)}.example:8501`,
  'http://127.0.0.1:8501/v1/models',
  'http://127.0.0.1:8501/?x=1',
  'http://127.0.0.1:8501/#top',
  'http://user:secret@127.0.0.1:8501',
  'http://exa mple:8501',
  'http://[::1:8501',
  'http://127.0.0.1:99999',
];

const replicaEdits: fc.Arbitrary<Edit>[] = [
  fc.tuple(fc.nat(5), fc.oneof(fc.constantFrom(...REPLICA_BAD), fc.constantFrom<unknown>(8501, null, {}, [], true))).map(([at, bad]) => ({
    kind: 'bad replica URL',
    claims: ['replicas'],
    apply: (d: Draft) => {
      const list = [...(d.body['replicas'] as unknown[])];
      const i = Math.min(at, list.length);
      list.splice(i, 0, bad);
      d.body['replicas'] = list;
      return `/replicas/${i}`;
    },
  })),
  fc.constantFrom('', '/').map((tail) => ({
    kind: 'replica listed twice',
    claims: ['replicas'],
    apply: (d: Draft) => {
      const list = d.body['replicas'] as string[];
      d.body['replicas'] = [...list, `${list[0] as string}${tail}`];
      return `/replicas/${list.length}`;
    },
  })),
  fc.constant({
    kind: 'replicas missing',
    claims: ['replicas'],
    apply: (d: Draft) => {
      delete d.body['replicas'];
      return '/replicas';
    },
  }),
  fc.constantFrom<unknown>('http://127.0.0.1:8501', null, 1, {}).map((v) => ({
    kind: 'replicas not a list',
    claims: ['replicas'],
    apply: (d: Draft) => {
      d.body['replicas'] = v;
      return '/replicas';
    },
  })),
  fc.constant({
    kind: 'over 10,000 replicas',
    claims: ['replicas'],
    apply: (d: Draft) => {
      d.body['replicas'] = Array.from({ length: 10_001 }, (_, i) => `http://10.${(i >> 8) & 255}.${i & 255}.1:8501`);
      return '/replicas';
    },
  }),
  fc.constantFrom('abc', '01', '-1', '1.5', '12345678901234567', '1e3', '%20').map((version) => ({
    kind: 'malformed version in the path',
    claims: ['#version'],
    apply: (d: Draft) => {
      d.path = `/pools/${version}/replicas`;
      return '/params/version';
    },
  })),
  unknownField(['replicas']),
];

/** The other write routes: percent, plan, the five actions, a pool's replicas. */
export const invalidActionBody: fc.Arbitrary<BadRequest> = fc.oneof(
  fc.tuple(validPercentBody, editsFrom([percentEdits(true, false), noteEdits, [unknownField(['percent', 'note'])]])).map(([base, edits]) => edited('PUT', '/percent', base, edits)),
  fc
    .tuple(validPlanBody, editsFrom([planEdits(false), noteEdits, [unknownField(['plan', 'note'])], [fc.constant({ kind: 'plan missing', claims: ['plan'], apply: (d: Draft) => { delete d.body['plan']; return '/plan'; } })]]))
    .map(([base, edits]) => edited('PUT', '/plan', base, edits)),
  fc.tuple(fc.constantFrom(...ACTIONS), validActionBody, editsFrom([noteEdits, [unknownField(['note'])]])).map(([action, base, edits]) => edited('POST', `/${action}`, base, edits)),
  fc.tuple(fc.constantFrom('1', '2'), validReplicas, editsFrom([replicaEdits], false)).map(([version, base, edits]) => edited('PUT', `/pools/${version}/replicas`, base, edits)),
);

// ---- bodies that are not a JSON object ----------------------------------------------------------

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Text that JSON.parse refuses (never empty: an empty body reads as {}). */
const notJson = (text: string): fc.Arbitrary<string> =>
  fc
    .oneof(
      fc.integer({ min: 1, max: text.length - 1 }).map((k) => text.slice(0, k)),
      fc.constant(`${text.slice(0, -1)}${text.length > 2 ? ',' : ''}"x": NaN}`),
      fc.constant(`${text.slice(0, -1)}${text.length > 2 ? ',' : '"x": 1,'}}`),
      fc.constant(`/* note */${text}`),
      fc.constant(`${text}${text}`),
      fc.constant(text.replace(/"/g, "'")),
      fc.constant('{note: "x"}'),
      fc.constant('{"note": "a\u0001b"}'),
      fc.constant('{"percent": 01}'),
      fc.constant('{"percent": .5}'),
      fc.constant('{"stable": 1} trailing'),
      fc.constant('\u00ff\u00fe{'),
    )
    .filter((t) => t !== '' && !isJson(t));

const notAnObject = (text: string): fc.Arbitrary<string> => fc.constantFrom('[]', '42', '-1', 'true', 'false', '"text"', '"{}"', `[${text}]`);

/** Pollution keys at the top of any route's body. */
const topPollution = pollution([]);

export const malformedBody: fc.Arbitrary<BadRequest> = validRequest.chain(({ method, path, body }) => {
  const text = serialize(body);
  const whole = (kind: string, replaced: string): BadRequest => ({
    method,
    path,
    headers: { 'content-type': 'application/json' },
    body: replaced,
    status: 400,
    fields: [''],
    scopes: [''],
    kinds: [kind],
  });
  return fc.oneof(
    notJson(text).map((t) => whole('invalid JSON', t)),
    notAnObject(text).map((t) => whole('JSON but not an object', t)),
    contentTypeEdit.map((e) => edited(method, path, body, [e])),
    ...(path.endsWith('/replicas') ? [] : [ifMatchEdit.map((e) => edited(method, path, body, [e]))]),
    topPollution.map((e) => edited(method, path, body, [e])),
  );
});

/** Everything at once (the Redis run). */
export const anyInvalid: fc.Arbitrary<BadRequest> = fc.oneof(
  { arbitrary: invalidPolicy, weight: 4 },
  { arbitrary: invalidRules, weight: 2 },
  { arbitrary: invalidActionBody, weight: 2 },
  { arbitrary: malformedBody, weight: 2 },
);
