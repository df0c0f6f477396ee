/**
 * The policy document: how one model's traffic is split between its stable and canary versions.
 * One schema gives the config file's `policy`, the admin API's body, the defaults of the fields a
 * policy may leave out and the TypeScript types, as written and as filled in; the same with every
 * field required is the document as stored and shown. Shape checks live here; checks that need
 * the model's pools live in validate.ts.
 */
import Type, { type Static } from 'typebox';
import { Defaulted, type Filled } from '../schema-defaults.js';

/** RFC 9110 token: what a header or cookie name may contain. */
const TOKEN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";

/**
 * Longest header or cookie value a rule tests, in characters (node decodes header bytes one per
 * character): a longer value matches no regex, and no `equals` either, which is at most this long.
 */
export const RULE_VALUE_MAX_LENGTH = 1024;

/**
 * RE2 instructions (re2js's programSize) all the regexes of one policy may compile to, header and
 * cookie rules together: what bounds the cost of checking a policy and of one request's rules
 * (policy/rule-regex.ts).
 */
export const POLICY_REGEX_INSTRUCTIONS = 4096;

/**
 * 4096 as "4,096". Not toLocaleString: the first locale-aware call makes ICU read its number
 * formatting data, about 5 MB of the node binary paged in and kept for the life of the process.
 */
function withThousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+$)/g, ',');
}

export const TargetSide = Type.Union([Type.Literal('canary'), Type.Literal('stable')], {
  description: 'Which side of the policy a matching request goes to.',
});

const matchFields = {
  equals: Type.Optional(
    Type.String({ maxLength: RULE_VALUE_MAX_LENGTH, description: 'Exact value that sends the request to `to`.' }),
  ),
  regex: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 256,
      description:
        'Regular expression in RE2 syntax (linear-time: no lookaround or backreferences) tested against the value; a match sends the request to `to`. ' +
        `A value longer than ${withThousands(RULE_VALUE_MAX_LENGTH)} characters never matches. ` +
        `A policy's regexes compile to at most ${withThousands(POLICY_REGEX_INSTRUCTIONS)} RE2 instructions in all.`,
    }),
  ),
  to: Type.Optional(Type.With(TargetSide, { description: 'Which side of the policy a match sends the request to; `canary` when left out.' })),
};

export const HeaderRule = Type.Object(
  {
    header: Type.String({ pattern: TOKEN, maxLength: 256, description: 'Request header name (case-insensitive).' }),
    ...matchFields,
  },
  {
    additionalProperties: false,
    description:
      'Without `equals`/`regex`: the value `always` forces the canary, `never` forces stable, anything else decides nothing.',
  },
);

export const CookieRule = Type.Object(
  {
    cookie: Type.String({ pattern: TOKEN, maxLength: 256, description: 'Cookie name (case-sensitive).' }),
    ...matchFields,
  },
  { additionalProperties: false, description: 'Same semantics as a header rule, on a cookie value.' },
);

export const StickyKey = Type.Object(
  {
    header: Type.Optional(Type.String({ pattern: TOKEN, maxLength: 256, description: 'Request header holding the cohort key, e.g. a user id.' })),
    cookie: Type.Optional(Type.String({ pattern: TOKEN, maxLength: 256, description: 'Cookie holding the cohort key, read when the header is absent.' })),
  },
  {
    additionalProperties: false,
    description: 'Where the cohort key comes from: the header first, then the cookie.',
  },
);

export const Version = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

/** How close a shadow's number must be to the live one: |shadow - live| <= abs + rel x |live| (numpy's isclose). */
export const ShadowTolerance = Type.Object(
  {
    abs: Defaulted(Type.Number({ minimum: 0, maximum: 1e12, description: 'Absolute tolerance.' }), 1e-6),
    rel: Defaulted(Type.Number({ minimum: 0, maximum: 1e6, description: "Relative tolerance, a fraction of the live value's magnitude." }), 1e-3),
  },
  { additionalProperties: false, description: 'When a shadow number agrees with the live one: |shadow - live| <= abs + rel x |live|; NaN agrees with NaN only.' },
);

/**
 * A rollout's first stage: the candidate (the canary) gets copies of live requests and no live
 * traffic, until its answers have been compared often enough. Passing starts the steps; failing
 * (agreement below the minimum, or shadow errors above the analysis's maxErrorRate) rolls back.
 */
export const ShadowGate = Type.Object(
  {
    minRequests: Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'Live/shadow pairs compared (on the gateway that judges) before the stage is judged.' }),
    minAgreement: Type.Number({ minimum: 0, maximum: 1, description: 'Least share of compared pairs that agree for the stage to pass.' }),
    percent: Defaulted(Type.Number({ exclusiveMinimum: 0, maximum: 100, description: 'Share of unpinned inference requests copied during the stage.' }), 100),
    tolerance: Defaulted(ShadowTolerance, {}),
  },
  { additionalProperties: false, description: 'A shadow stage before the steps: no live traffic reaches the canary until it passes.' },
);

export const RolloutPlan = Type.Object(
  {
    steps: Type.Array(Type.Number({ exclusiveMinimum: 0, maximum: 100 }), {
      minItems: 1,
      maxItems: 20,
      description: 'Canary percentages, increasing; after the last one has dwelt, the canary is promoted.',
    }),
    minDwellSeconds: Type.Integer({ minimum: 0, maximum: 7 * 24 * 3600, description: 'Least time at each step.' }),
    minRequests: Type.Integer({ minimum: 0, maximum: 1_000_000_000, description: 'Least canary requests at each step (seen by the gateway that steps up).' }),
    shadow: Type.Optional(ShadowGate),
  },
  { additionalProperties: false, description: 'Progressive rollout: the controller steps the canary up by itself while the analysis passes.' },
);

/** Most shadow requests a model may have in flight at once; the setting's ceiling. */
export const SHADOW_MAX_IN_FLIGHT = 10_000;

export const Shadow = Type.Object(
  {
    version: Type.With(Version, { description: 'Version that gets the copies (a pool must serve it, other than stable); usually the canary.' }),
    percent: Type.Number({
      minimum: 0,
      maximum: 100,
      description: 'Share of unpinned inference requests also sent to the shadow, in steps of 0.01. Requests the shadow version itself answers live are not copied.',
    }),
    maxInFlight: Defaulted(
      Type.Integer({
        minimum: 1,
        maximum: SHADOW_MAX_IN_FLIGHT,
        description: "Shadow requests of this model in flight at once, on this gateway; a copy past it is dropped (and counted), never queued.",
      }),
      32,
    ),
    maxCompareBytes: Defaulted(
      Type.Integer({
        minimum: 1024,
        maximum: 16 * 1024 * 1024,
        description: 'Largest answer (live or shadow) kept for the comparison; a pair with a larger one is counted as not compared.',
      }),
      1024 * 1024,
    ),
    tolerance: Defaulted(ShadowTolerance, {}),
  },
  {
    additionalProperties: false,
    description:
      "Shadow traffic: a copy of a share of the unpinned inference requests (whose bodies the gateway buffered) also goes to this version; its answers are compared with the live ones and never reach a client.",
  },
);

/**
 * Hands-free hot update: a version found on the replicas (`discover`) newer than stable becomes the
 * candidate, i.e. the canary, and this plan rolls it out (usually a shadow stage first). A candidate
 * whose rollout fails is rejected and not tried again until an operator clears it or a newer one appears.
 */
export const OnNewVersion = Type.Object(
  {
    plan: Type.With(RolloutPlan, { description: 'The plan each new version is rolled out by.' }),
  },
  { additionalProperties: false, description: 'Roll out versions discovered on the replicas by themselves (needs the model\'s `discover`).' },
);

export const Policy = Type.Object(
  {
    stable: Type.With(Version, { description: 'Version that serves unpinned traffic not sent to the canary; a pool must serve it.' }),
    canary: Defaulted(
      Type.Union([Version, Type.Null()], { description: 'Version under test (a pool must serve it, other than stable), or null for none.' }),
      null,
    ),
    percent: Defaulted(
      Type.Number({
        minimum: 0,
        maximum: 100,
        description: 'Share of unpinned traffic for the canary, in steps of 0.01 (10,000 cohort buckets).',
      }),
      0,
    ),
    headerRules: Defaulted(
      Type.Array(HeaderRule, { maxItems: 10000, description: 'Header rules, tested in order before cookie rules, sticky cohorts and the split.' }),
      [],
    ),
    cookieRules: Defaulted(Type.Array(CookieRule, { maxItems: 1000, description: 'Cookie rules, tested in order after the header rules.' }), []),
    sticky: Defaulted(Type.Union([StickyKey, Type.Null()]), null),
    // No `default`: the model's name stands in, which the schema cannot know (validate.ts fills it).
    salt: Type.Optional(
      Type.String({ minLength: 1, maxLength: 256, description: 'Cohort hash salt; defaults to the model name.' }),
    ),
    plan: Defaulted(Type.Union([RolloutPlan, Type.Null()]), null),
    shadow: Defaulted(Type.Union([Shadow, Type.Null()], { description: 'Shadow traffic to a version, or null for none.' }), null),
    onNewVersion: Defaulted(Type.Union([OnNewVersion, Type.Null()], { description: 'Automatic rollout of discovered versions, or null (off).' }), null),
  },
  { additionalProperties: false },
);

export type HeaderRule = Static<typeof HeaderRule>;
export type CookieRule = Static<typeof CookieRule>;
export type StickyKey = Static<typeof StickyKey>;
export type PolicyInput = Static<typeof Policy>;
export type TargetSide = Static<typeof TargetSide>;
export type RolloutPlan = Static<typeof RolloutPlan>;
export type ShadowGate = Filled<typeof ShadowGate>;
export type ShadowInput = Static<typeof Shadow>;
export type OnNewVersion = Static<typeof OnNewVersion>;
/** A shadow with every default filled in: what the stored policy holds. */
export type ShadowDocument = Filled<typeof Shadow>;
export type ShadowTolerance = Filled<typeof ShadowTolerance>;

/** A policy with every optional field filled in: what the store keeps, the snapshot compiles and the admin API shows. */
export const PolicyDocument = Type.Required(Policy, { additionalProperties: false, description: 'A policy with every field filled in.' });

/**
 * The same as a type, the salt included (its default, the model's name, is filled in code), and
 * the shadow's own defaults (Filled does not reach inside a union; validate.ts fills them).
 */
export type PolicyDocument = Filled<typeof Policy> & { readonly salt: string; readonly shadow: ShadowDocument | null };
