/**
 * fast-check arbitraries for the admin API fuzzing (admin-api.test.ts): valid values of each
 * field of a policy or action body, and edits that make a valid body invalid. Every edit knows the
 * JSON pointer the gateway's refusal must name, so a 400 that names the wrong field (or none) is
 * caught, not only a 200.
 *
 * Values that would be valid by accident are kept out by construction: a "wrong type" for a
 * string field is drawn from non-strings only, an "out of range" number from outside the range.
 */
import fc from 'fast-check';

/** A request body (or part of one) being built; JSON.stringify'd when sent. */
export type Doc = Record<string, unknown>;

/** What an edit may change: the body, and for a few edits the path or a header. */
export interface Draft {
  path: string;
  headers: Record<string, string>;
  body: Doc;
}

export interface Edit {
  /** Short label, used in the failure reasons ("header name with an illegal character"). */
  readonly kind: string;
  /**
   * Top-level body keys the edit may change (`#if-match`, `#content-type`, `#version`, `#body` for
   * a header, the path or the whole body): two edits of one case never share one, so neither
   * undoes the other, and every field the refusal names must lie under a claimed one.
   */
  readonly claims: readonly string[];
  /** Changes the draft; returns the JSON pointer the refusal must name. */
  readonly apply: (draft: Draft) => string;
  /** 415 for a body that is not JSON at all; 400 otherwise. */
  readonly status?: 415;
}

/** Every route's body fields: offered as unknown fields to the routes that do not take them. */
const KNOWN_TOP = ['stable', 'canary', 'percent', 'headerRules', 'cookieRules', 'sticky', 'salt', 'plan', 'note', 'replicas'];
/** Keys a JSON body must not carry (prototype pollution): covered by their own edits. */
const DANGEROUS = ['__proto__', 'constructor', 'prototype'];

export function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Sets `key` as an own, enumerable data property, even `__proto__`, so JSON.stringify writes it. */
export function setOwn(target: Doc, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Number literals JSON.stringify cannot write (1e400 parses to Infinity) travel as this marker
 * and are spliced into the text by `serialize`.
 */
const RAW = '\u0000raw:';
export const rawNumber = (literal: string): string => `${RAW}${literal}`;

export function serialize(body: unknown): string {
  return JSON.stringify(body).replace(/"\\u0000raw:([^"]*)"/g, '$1');
}

// ---- values ---------------------------------------------------------------------------------

const letters = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'.split(''));
const safeKey = fc.string({ unit: letters, minLength: 1, maxLength: 8 }).filter((k) => !DANGEROUS.includes(k));

/** Any JSON value, nested a little, with no key that a secure parser refuses. */
export const garbage: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 3 },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ maxLength: 16 }),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(safeKey, tie('value'), { maxKeys: 3, noNullPrototype: true }),
  ),
})).value;

const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInteger = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v);
/** Garbage of any type but the ones `accepted` allows. */
const wrongType = (accepted: (v: unknown) => boolean): fc.Arbitrary<unknown> =>
  fc.oneof(garbage.filter((v) => !accepted(v)), fc.constantFrom<unknown>('1', '50', 'NaN', 'Infinity', '', true, [], [1], {}).filter((v) => !accepted(v)));

/** RFC 9110 token characters: what a header or cookie name may hold. */
const TCHARS = "!#$%&'*+.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-".split('');
export const validName = fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 24 });
const ILLEGAL_NAME_CHARS = [' ', '\t', ':', '(', ')', ',', '/', ';', '<', '=', '>', '?', '@', '[', '\\', ']', '{', '}', '"', 'é', '日', '\u0000', '\n', '\u007f'];
/** A name with at least one character a header name cannot hold, or empty. */
const illegalName = fc.oneof(
  fc.constant(''),
  fc.tuple(fc.string({ unit: fc.constantFrom(...TCHARS), maxLength: 8 }), fc.constantFrom(...ILLEGAL_NAME_CHARS), fc.string({ unit: fc.constantFrom(...TCHARS), maxLength: 8 })).map(([a, c, b]) => a + c + b),
);
/** A string of `min`..`min + 300` characters (the field's maximum + 1 and beyond). */
const longer = (min: number, unit = 'a'): fc.Arbitrary<string> => fc.integer({ min, max: min + 300 }).map((n) => unit.repeat(n));

const VALID_REGEXES = ['^beta-app/', '^v[0-9]+$', 'internal', '(?:a|b)c', '^x-.*$', '[0-9a-f]{8}', '\\d+'];
/**
 * Patterns the gateway refuses (checked once by the test): not RE2 syntax (JavaScript's lookaround
 * and backreferences among them), or compiling to more instructions than a policy may have.
 */
export const INVALID_REGEXES = [
  '(', ')', '[', '*', '+a', '?', 'a{2,1}', '\\', '(?<', '(?<a>x)(?<a>y)', '[z-a]', 'a**', '\\k<b>(?<a>c)', '(?',
  '(?=a)', '(?!a)b', '(?<=a)b', '(?<!a)b', '(a)\\1', '\\u00e9', 'x{1000}'.repeat(5),
];

const side = fc.constantFrom('canary', 'stable');

/** A valid header rule (nameField 'header') or cookie rule ('cookie'). */
export function validRule(nameField: 'header' | 'cookie'): fc.Arbitrary<Doc> {
  return fc.oneof(
    validName.map((name) => ({ [nameField]: name })),
    fc.record({ name: validName, equals: fc.string({ maxLength: 40 }), to: fc.option(side, { nil: undefined }) }).map(({ name, equals, to }) =>
      to === undefined ? { [nameField]: name, equals } : { [nameField]: name, equals, to },
    ),
    fc.record({ name: validName, regex: fc.constantFrom(...VALID_REGEXES), to: fc.option(side, { nil: undefined }) }).map(({ name, regex, to }) =>
      to === undefined ? { [nameField]: name, regex } : { [nameField]: name, regex, to },
    ),
  );
}

export const validSticky: fc.Arbitrary<Doc | null> = fc.oneof(
  fc.constant(null),
  validName.map((header) => ({ header })),
  validName.map((cookie) => ({ cookie })),
  fc.record({ header: validName, cookie: validName }),
);

export const validSalt = fc.string({ minLength: 1, maxLength: 64 });

/** Increasing canary percentages, multiples of 0.01, as a plan's steps. */
export const validPlan: fc.Arbitrary<Doc> = fc.record({
  steps: fc.uniqueArray(fc.integer({ min: 1, max: 10_000 }), { minLength: 1, maxLength: 20 }).map((s) => s.sort((a, b) => a - b).map((n) => n / 100)),
  minDwellSeconds: fc.integer({ min: 0, max: 7 * 24 * 3600 }),
  minRequests: fc.integer({ min: 0, max: 1_000_000_000 }),
});

export const validPercent = fc.integer({ min: 0, max: 10_000 }).map((n) => n / 100);
export const validNote = fc.string({ maxLength: 60 });

/** Percentages in range that the split (10,000 buckets) cannot express. */
const offGridPercent = fc.oneof(
  fc.integer({ min: 1, max: 99_999 }).filter((n) => n % 10 !== 0).map((n) => n / 1000),
  fc.double({ min: 0.001, max: 99.999, noNaN: true }).filter((p) => Math.abs(p * 100 - Math.round(p * 100)) > 1e-6),
);

// ---- edits ----------------------------------------------------------------------------------

const edit = (kind: string, claims: readonly string[], apply: (draft: Draft) => string, status?: 415): Edit =>
  status === undefined ? { kind, claims, apply } : { kind, claims, apply, status };

/** `body[key] = value`, returning the pointer of key. */
const put = (key: string, value: unknown) => (d: Draft): string => {
  setOwn(d.body, key, value);
  return `/${escapePointer(key)}`;
};

/** A field replaced by a value of the wrong type or out of range, or removed when required. */
function fieldEdits(key: string, accepted: (v: unknown) => boolean, outOfRange: readonly unknown[], required: boolean): fc.Arbitrary<Edit>[] {
  const edits: fc.Arbitrary<Edit>[] = [wrongType(accepted).map((v) => edit(`${key} of the wrong type`, [key], put(key, v)))];
  if (outOfRange.length > 0) edits.push(fc.constantFrom(...outOfRange).map((v) => edit(`${key} out of range`, [key], put(key, v))));
  if (required) {
    edits.push(
      fc.constant(
        edit(`${key} missing`, [key], (d) => {
          delete d.body[key];
          return `/${key}`;
        }),
      ),
    );
  }
  return edits;
}

/** A key the body does not know, with any value. */
export function unknownField(known: readonly string[]): fc.Arbitrary<Edit> {
  const name = fc
    .oneof(fc.string({ maxLength: 12 }), fc.constantFrom(...KNOWN_TOP, 'version', 'model', 'revision', 'Percent', 'STABLE', 'stable ', 'headerrules', 'a/b', '~1', '', 'toString'))
    .filter((k) => !known.includes(k) && !DANGEROUS.includes(k));
  return fc.tuple(name, garbage).map(([key, value]) => edit('unknown field', [key], put(key, value)));
}

/** `__proto__` or `constructor.prototype` inside the body, at the top or in a nested object. */
export function pollution(nested: ReadonlyArray<{ key: string; holder: () => Doc }>): fc.Arbitrary<Edit> {
  const payload = { polluted: true, isAdmin: true };
  const top = [
    edit('__proto__ key', ['__proto__'], put('__proto__', payload)),
    edit('constructor.prototype key', ['constructor'], (d) => {
      setOwn(d.body, 'constructor', { prototype: payload });
      return '/constructor/prototype';
    }),
  ];
  const inner = nested.flatMap(({ key, holder }) => [
    edit('nested __proto__ key', [key], (d) => {
      const target = holder();
      setOwn(target, '__proto__', payload);
      setOwn(d.body, key, key === 'headerRules' || key === 'cookieRules' ? [target] : target);
      return key === 'headerRules' || key === 'cookieRules' ? `/${key}/0/__proto__` : `/${key}/__proto__`;
    }),
  ]);
  return fc.constantFrom(...top, ...inner);
}

/** A bad rule inserted among the valid ones of `key`. */
function badRule(key: 'headerRules' | 'cookieRules'): fc.Arbitrary<Edit> {
  const name = key === 'headerRules' ? 'header' : 'cookie';
  const other = key === 'headerRules' ? 'cookie' : 'header';
  type Bad = { kind: string; rule: unknown; suffix: string };
  const bad: fc.Arbitrary<Bad> = fc.oneof(
    fc.record({ equals: fc.string({ maxLength: 8 }), to: side }).map((rule) => ({ kind: 'rule without a name', rule, suffix: `/${name}` })),
    illegalName.map((n) => ({ kind: 'name with an illegal character', rule: { [name]: n }, suffix: `/${name}` })),
    longer(257, 'x').map((n) => ({ kind: 'name too long', rule: { [name]: n }, suffix: `/${name}` })),
    wrongType((v) => typeof v === 'string').map((n) => ({ kind: 'name of the wrong type', rule: { [name]: n }, suffix: `/${name}` })),
    fc.tuple(validName, longer(1025)).map(([n, equals]) => ({ kind: 'equals too long', rule: { [name]: n, equals }, suffix: '/equals' })),
    fc.tuple(validName, wrongType((v) => typeof v === 'string')).map(([n, equals]) => ({ kind: 'equals of the wrong type', rule: { [name]: n, equals }, suffix: '/equals' })),
    validName.map((n) => ({ kind: 'empty regex', rule: { [name]: n, regex: '' }, suffix: '/regex' })),
    fc.tuple(validName, longer(257)).map(([n, regex]) => ({ kind: 'regex too long', rule: { [name]: n, regex }, suffix: '/regex' })),
    fc.tuple(validName, fc.constantFrom(...INVALID_REGEXES)).map(([n, regex]) => ({ kind: 'invalid regex', rule: { [name]: n, regex }, suffix: '/regex' })),
    fc.tuple(validName, fc.oneof(wrongType((v) => v === 'canary' || v === 'stable'), fc.constantFrom('Canary', 'both', '', 'STABLE', 'canary '))).map(([n, to]) => ({
      kind: 'unknown target side',
      rule: { [name]: n, equals: 'x', to },
      suffix: '/to',
    })),
    fc.tuple(validName, side).map(([n, to]) => ({ kind: 'target without equals or regex', rule: { [name]: n, to }, suffix: '/to' })),
    fc.tuple(validName, fc.constantFrom(...VALID_REGEXES)).map(([n, regex]) => ({ kind: 'both equals and regex', rule: { [name]: n, equals: 'x', regex }, suffix: '' })),
    fc.tuple(validName, unknownField(['header', 'cookie', 'equals', 'regex', 'to'])).map(([n, e]) => {
      const rule: Doc = { [name]: n };
      const suffix = e.apply({ path: '', headers: {}, body: rule });
      return { kind: 'unknown rule field', rule, suffix };
    }),
    wrongType(isObject).map((rule) => ({ kind: 'rule not an object', rule, suffix: '' })),
    validName.map((n) => ({ kind: `${other} rule among ${key}`, rule: { [other]: n }, suffix: `/${name}` })),
    validName.map((n) => ({ kind: 'constructor.prototype in a rule', rule: { [name]: n, constructor: { prototype: { polluted: true } } }, suffix: '/constructor/prototype' })),
  );
  return fc.tuple(fc.nat(8), bad).map(([at, { kind, rule, suffix }]) =>
    edit(kind, [key], (d) => {
      const current = d.body[key];
      const rules = Array.isArray(current) ? [...(current as unknown[])] : [];
      const i = Math.min(at, rules.length);
      rules.splice(i, 0, rule);
      d.body[key] = rules;
      return `/${key}/${i}${suffix}`;
    }),
  );
}

/** A bad rule among good ones is what most of a rule set's edits are; the whole list's own faults are rarer. */
export function ruleEdits(key: 'headerRules' | 'cookieRules'): fc.MaybeWeightedArbitrary<Edit>[] {
  const name = key === 'headerRules' ? 'header' : 'cookie';
  const limit = key === 'headerRules' ? 10_000 : 1_000;
  return [
    { arbitrary: badRule(key), weight: 6 },
    wrongType(Array.isArray).map((v) => edit(`${key} not a list`, [key], put(key, v))),
    fc.integer({ min: limit + 1, max: limit + 50 }).map((n) => edit(`${key} over ${limit}`, [key], put(key, Array.from({ length: n }, (_, i) => ({ [name]: `n${i}` }))))),
  ];
}

export const stickyEdits: fc.Arbitrary<Edit>[] = [
  fc.constant(edit('sticky without header or cookie', ['sticky'], put('sticky', {}))),
  wrongType((v) => v === null || isObject(v)).map((v) => edit('sticky of the wrong type', ['sticky'], put('sticky', v))),
  fc.tuple(fc.constantFrom('header', 'cookie'), illegalName).map(([field, n]) =>
    edit('sticky name with an illegal character', ['sticky'], (d) => {
      put('sticky', { [field]: n })(d);
      return `/sticky/${field}`;
    }),
  ),
  longer(257, 'k').map((n) =>
    edit('sticky name too long', ['sticky'], (d) => {
      put('sticky', { header: n })(d);
      return '/sticky/header';
    }),
  ),
  unknownField(['header', 'cookie']).map((e) =>
    edit('unknown sticky field', ['sticky'], (d) => {
      const sticky: Doc = { header: 'x-user-id' };
      const field = e.apply({ path: '', headers: {}, body: sticky });
      d.body['sticky'] = sticky;
      return `/sticky${field}`;
    }),
  ),
];

export const saltEdits: fc.Arbitrary<Edit>[] = [
  fc.constant(edit('empty salt', ['salt'], put('salt', ''))),
  longer(257, 's').map((s) => edit('salt too long', ['salt'], put('salt', s))),
  ...fieldEdits('salt', (v) => typeof v === 'string', [], false),
];

export const noteEdits: fc.Arbitrary<Edit>[] = [
  longer(1001, 'n').map((s) => edit('note too long', ['note'], put('note', s))),
  ...fieldEdits('note', (v) => typeof v === 'string', [], false),
];

const PERCENT_OUT = [-0.01, -1, 100.01, 101, 1e9, -1e9, rawNumber('1e400'), rawNumber('-1e400'), Number.MAX_VALUE];
/** `required`: the percent route needs it; the policy route defaults it. */
export function percentEdits(required: boolean, forPolicy: boolean): fc.Arbitrary<Edit>[] {
  // In a policy, a plan's first step replaces the percentage: the plan goes with an off-grid one.
  const claims = forPolicy ? ['percent', 'plan'] : ['percent'];
  const offGrid = offGridPercent.map((p) =>
    edit('percent not a multiple of 0.01', claims, (d) => {
      delete d.body['plan'];
      return put('percent', p)(d);
    }),
  );
  return [...fieldEdits('percent', (v) => typeof v === 'number', PERCENT_OUT, required), offGrid];
}

const VERSION_OUT = [-1, 1.5, 2 ** 53, 1e300, rawNumber('1e400')];
/** Integers with no pool behind them (the fixtures serve versions 1 and 2). */
const unknownVersion = fc.oneof(fc.constant(0), fc.integer({ min: 3, max: 1_000_000 }));

export const versionEdits: fc.Arbitrary<Edit>[] = [
  ...fieldEdits('stable', isInteger, VERSION_OUT, true),
  ...fieldEdits('canary', (v) => v === null || isInteger(v), VERSION_OUT, false),
  unknownVersion.map((v) => edit('stable version without a pool', ['stable'], put('stable', v))),
  unknownVersion.map((v) => edit('canary version without a pool', ['canary'], put('canary', v))),
  fc.constant(
    edit('canary equal to stable', ['stable', 'canary'], (d) => {
      d.body['stable'] = 1;
      d.body['canary'] = 1;
      return '/canary';
    }),
  ),
  fc.integer({ min: 1, max: 10_000 }).map((n) =>
    edit('percent without a canary', ['canary', 'percent', 'plan'], (d) => {
      d.body['canary'] = null;
      d.body['percent'] = n / 100;
      delete d.body['plan'];
      return '/percent';
    }),
  ),
];

/** Removes `key` from `target`; returns its pointer (relative to `target`). */
function drop(target: Doc, key: string): string {
  delete target[key];
  return `/${escapePointer(key)}`;
}

/** Sets `key` of `target`; returns its pointer (relative to `target`). */
function set(target: Doc, key: string, value: unknown): string {
  setOwn(target, key, value);
  return `/${escapePointer(key)}`;
}

/** `forPolicy`: edits inside a whole policy, where a plan needs a canary (forced to version 2 or 1). */
export function planEdits(forPolicy: boolean): fc.Arbitrary<Edit>[] {
  // A plan's first step becomes the percentage, so a plan the schema passes may also be refused
  // at /percent; in a policy it also needs a canary.
  const semanticClaims = forPolicy ? ['plan', 'percent', 'canary'] : ['plan', 'percent'];
  const withPlan = (kind: string, mutate: (plan: Doc) => string, semantic = false) => (plan: Doc) =>
    edit(kind, semantic ? semanticClaims : ['plan'], (d) => {
      const copy: Doc = { ...plan, steps: [...(plan['steps'] as number[])] };
      const field = mutate(copy);
      d.body['plan'] = copy;
      if (semantic && forPolicy && (d.body['canary'] === null || d.body['canary'] === undefined)) d.body['canary'] = d.body['stable'] === 2 ? 1 : 2;
      return `/plan${field}`;
    });
  const stepOutOfRange = fc.constantFrom<unknown>(0, -5, 100.01, 250, '5', null, rawNumber('1e400'));
  const edits: fc.Arbitrary<Edit>[] = [
    wrongType((v) => v === null || isObject(v)).map((v) => edit('plan of the wrong type', ['plan'], put('plan', v))),
    validPlan.map(withPlan('plan without steps', (p) => drop(p, 'steps'))),
    validPlan.map(withPlan('plan with no step', (p) => set(p, 'steps', []))),
    fc.tuple(validPlan, wrongType(Array.isArray)).map(([plan, v]) => withPlan('steps not a list', (p) => set(p, 'steps', v))(plan)),
    validPlan.map(withPlan('plan with 21 steps', (p) => set(p, 'steps', Array.from({ length: 21 }, (_, i) => i + 1)))),
    fc.tuple(validPlan, fc.nat(19), stepOutOfRange).map(([plan, at, v]) =>
      withPlan('step out of range', (p) => {
        const steps = p['steps'] as unknown[];
        const i = Math.min(at, steps.length - 1);
        steps[i] = v;
        return `/steps/${i}`;
      })(plan),
    ),
    ...(['minDwellSeconds', 'minRequests'] as const).flatMap((field) => [
      validPlan.map(withPlan(`plan without ${field}`, (p) => drop(p, field))),
      fc.tuple(validPlan, fc.constantFrom<unknown>(-1, 0.5, field === 'minDwellSeconds' ? 7 * 24 * 3600 + 1 : 1_000_000_001, '60', null, true, [])).map(([plan, v]) =>
        withPlan(`${field} out of range`, (p) => set(p, field, v))(plan),
      ),
    ]),
    fc.tuple(validPlan, unknownField(['steps', 'minDwellSeconds', 'minRequests'])).map(([plan, e]) =>
      withPlan('unknown plan field', (p) => e.apply({ path: '', headers: {}, body: p }))(plan),
    ),
    validPlan
      .filter((p) => (p['steps'] as number[]).length >= 2)
      .chain((plan) => fc.tuple(fc.constant(plan), fc.integer({ min: 1, max: (plan['steps'] as number[]).length - 1 })))
      .map(([plan, i]) =>
        withPlan('steps not increasing', (p) => {
          const steps = p['steps'] as number[];
          steps[i] = steps[i - 1] as number;
          return `/steps/${i}`;
        }, true)(plan),
      ),
    fc.tuple(validPlan, offGridPercent.filter((p) => p > 0)).map(([plan, step]) =>
      withPlan('step not a multiple of 0.01', (p) => {
        p['steps'] = [step];
        return '/steps/0';
      }, true)(plan),
    ),
  ];
  if (forPolicy) {
    edits.push(
      validPlan.map((plan) =>
        edit('plan without a canary', ['plan', 'canary', 'percent'], (d) => {
          d.body['plan'] = plan;
          d.body['canary'] = null;
          return '/plan';
        }),
      ),
    );
  }
  return edits;
}

// ---- edits outside the body -----------------------------------------------------------------

export const ifMatchEdit: fc.Arbitrary<Edit> = fc
  .constantFrom('abc', '1.5', '-1', 'W/"1"', '*', '1 2', '0x1', '1234567890123456', '"1""', '1e3', '+1')
  .map((v) =>
    edit('malformed If-Match', ['#if-match'], (d) => {
      d.headers['if-match'] = v;
      return '/headers/if-match';
    }),
  );

/** Not JSON's media type (or none at all): the body is never parsed. */
export const contentTypeEdit: fc.Arbitrary<Edit> = fc
  .constantFrom('', 'text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data; boundary=x', 'application/octet-stream', 'text/json', 'application/jsonp')
  .map((type) =>
    edit(
      type === '' ? 'no content-type' : `content-type ${type.split(';')[0]}`,
      ['#content-type'],
      (d) => {
        if (type === '') delete d.headers['content-type'];
        else d.headers['content-type'] = type;
        return '/headers/content-type';
      },
      415,
    ),
  );

/** Picks edits with disjoint claims, in order (later ones that overlap are dropped). */
export function disjoint(edits: readonly Edit[]): Edit[] {
  const taken = new Set<string>();
  return edits.filter((e) => {
    if (e.claims.some((c) => taken.has(c))) return false;
    for (const c of e.claims) taken.add(c);
    return true;
  });
}
