/**
 * The admin API's wire format: every body it answers or takes and every event of its stream, as
 * TypeBox schemas. The routes validate and serialize with them, the OpenAPI document shows them,
 * the stream types what it sends with them, and the admin UI imports their static types
 * (`import type`: erased, nothing of this reaches its bundle). Hence this module imports nothing
 * but typebox and the other pure schemas: the UI's type-check (DOM, no Node types) compiles it too.
 */
import Type, { type Static } from 'typebox';
import { withoutDefaults } from '../../schema-defaults.js';
import { Policy, PolicyDocument, RolloutPlan, Shadow, type CookieRule, type HeaderRule, type StickyKey, type TargetSide } from '../../policy/schema.js';
import { ChangeReason, RolloutProgress, VersionsState } from '../../policy/stored.js';

// --- errors ---

/** A field by JSON pointer (`/body/...` fields relative to the body, as `/percent`) and what is wrong with it. */
export const Issue = Type.Object({ path: Type.String(), message: Type.String() });

/** The admin API's one error shape. */
export const ErrorBody = Type.Object({ error: Type.String(), details: Type.Array(Issue) });

/** The revision as an entity tag: what If-Match takes back. */
export const ETAG_HEADER = {
  etag: { type: 'string', description: 'The revision of the policy, quoted ("7"): send it back as If-Match to write only on that revision.' },
} as const;

/** A 409 of a model action: a revision conflict says which revision is stored now, as data. */
export const ConflictBody = Type.Object(
  {
    ...ErrorBody.properties,
    currentRevision: Type.Optional(
      Type.Integer({ minimum: 0, description: 'On a revision conflict (If-Match): the revision stored now, also the ETag header. Absent for other conflicts.' }),
    ),
  },
  // Read by @fastify/swagger only: the OpenAPI document lists the header.
  { headers: { etag: { ...ETAG_HEADER.etag, description: 'On a revision conflict: the revision stored now, quoted.' } } },
);

// --- session and audit ---

export const Role = Type.Union([Type.Literal('operator'), Type.Literal('viewer')], {
  description: 'operator: reads and writes; viewer: reads only.',
});

export const Session = Type.Object({
  name: Type.String(),
  role: Role,
  storeAvailable: Type.Boolean(),
  store: Type.Union([Type.Literal('memory'), Type.Literal('redis')]),
});

export const AuditedState = Type.Object({
  // Open, unlike the policy a client sends: an entry is shown as written then, and one of an older
  // gateway may lack fields added since or hold one dropped since (left out of the answer).
  // Without defaults: the serializer would fill what an older gateway never stored.
  policy: withoutDefaults(Type.Object(Policy.properties, { description: 'The policy as written then.' })),
  paused: Type.Boolean(),
  rolledBack: Type.Boolean(),
  rollout: Type.Union([RolloutProgress, Type.Null()]),
  // Absent in entries written before discovery existed.
  versions: Type.Optional(VersionsState),
});

export const AuditEntry = Type.Object({
  id: Type.String(),
  model: Type.String(),
  revision: Type.Integer(),
  at: Type.String(),
  actor: Type.String(),
  reason: ChangeReason,
  note: Type.String(),
  before: Type.Union([AuditedState, Type.Null()], { description: 'null: the first stored policy of the model.' }),
  after: AuditedState,
});

export const AuditList = Type.Object({ entries: Type.Array(AuditEntry) });

// --- models ---

export const ModelState = Type.Union(
  [Type.Literal('steady'), Type.Literal('canary'), Type.Literal('rolling-out'), Type.Literal('paused'), Type.Literal('rolled-back')],
  {
    description:
      'steady: no canary; canary: a canary takes traffic; rolling-out: a plan steps the canary up; paused: automation holds; rolled-back: every unpinned request goes to stable until an operator acts.',
  },
);

export const StatsView = Type.Object({
  windowSeconds: Type.Integer(),
  requests: Type.Integer(),
  errors: Type.Integer(),
  rps: Type.Number(),
  errorRate: Type.Number(),
  p50Ms: Type.Union([Type.Number(), Type.Null()]),
  p99Ms: Type.Union([Type.Number(), Type.Null()]),
});

export const ReplicaHealth = Type.Union([Type.Literal('unknown'), Type.Literal('up'), Type.Literal('down')]);
export const BreakerState = Type.Union([Type.Literal('closed'), Type.Literal('open'), Type.Literal('half-open')]);

export const ReplicaView = Type.Object({
  url: Type.String(),
  health: ReplicaHealth,
  outstanding: Type.Integer(),
  breaker: BreakerState,
  consecutiveFailures: Type.Integer(),
  ejectedUntil: Type.Union([Type.String(), Type.Null()], { description: 'While ejected: when it is readmitted.' }),
  ejections: Type.Integer(),
  lastCheck: Type.Union([Type.Object({ at: Type.String(), ok: Type.Boolean(), detail: Type.String() }), Type.Null()]),
});

export const PoolRole = Type.Union([Type.Literal('stable'), Type.Literal('canary'), Type.Literal('idle')]);

export const RequestsByProtocol = Type.Object(
  { rest: Type.Integer(), grpc: Type.Integer() },
  { description: 'Requests answered by this version since the gateway started, by the protocol they came in by.' },
);

export const PoolView = Type.Object({
  version: Type.Integer(),
  role: PoolRole,
  healthyReplicas: Type.Integer(),
  availableReplicas: Type.Integer({ description: 'Healthy, breaker not open, not ejected.' }),
  draining: Type.Boolean({ description: 'Canary-bound requests go to stable (breakers or error rate).' }),
  stats: StatsView,
  requestsByProtocol: RequestsByProtocol,
  replicas: Type.Array(ReplicaView),
});

export const RolloutView = Type.Object(
  {
    ...RolloutProgress.properties,
    percent: Type.Number({ description: 'The canary percentage of the step in force.' }),
    steps: Type.Integer({ description: 'Steps in the plan.' }),
  },
  { description: 'Where a progressive rollout stands: `step` indexes policy.plan.steps.' },
);

export const ShadowDisagreement = Type.Object({
  at: Type.String(),
  requestId: Type.String(),
  protocol: Type.Union([Type.Literal('rest'), Type.Literal('grpc')]),
  operation: Type.String(),
  liveVersion: Type.Integer({ description: 'The version that answered the client.' }),
  detail: Type.String({ description: 'Where the answers first differ.' }),
  live: Type.String({ description: 'The live answer (REST: its JSON; gRPC: the decoded message), cut at 2,000 characters.' }),
  shadow: Type.String({ description: "The shadow's answer, the same way." }),
});

const Rate = Type.Union([Type.Number(), Type.Null()]);

export const ShadowResultsView = Type.Object(
  {
    version: Type.Integer({ description: 'The shadow version these results are of (they start over when it changes).' }),
    since: Type.String(),
    window: Type.Integer({ description: 'Pairs the rolling figures cover (the last 1,000 compared or failed).' }),
    compared: Type.Integer({ description: 'Pairs compared in the window.' }),
    agreementRate: Type.With(Rate, { description: 'Share of the compared pairs that agreed (null before any).' }),
    meanAbsDiff: Type.With(Rate, { description: 'Mean absolute difference over every number compared in the window.' }),
    maxAbsDiff: Type.With(Rate, { description: 'Largest absolute difference in the window.' }),
    errorRate: Type.With(Rate, { description: "Share of the window's shadow requests that failed (error status, transport failure, timeout) while the live one succeeded." }),
    p99Ms: Type.With(Rate, { description: "The shadow's p99 latency over the window." }),
    totals: Type.Object(
      { agreed: Type.Integer(), disagreed: Type.Integer(), error: Type.Integer(), skipped: Type.Integer() },
      { description: 'Pairs since the shadow version was set; skipped: not compared (the live answer failed or could not be read, an answer over maxCompareBytes).' },
    ),
    disagreements: Type.Array(ShadowDisagreement, { description: 'The last few disagreements, newest first, with both answers.' }),
  },
  { description: "This gateway's comparison of the shadow's answers with the live ones." },
);

export const ShadowView = Type.Object(
  {
    version: Type.Union([Type.Integer(), Type.Null()], { description: 'The shadow version of the policy in force; null once the shadow was removed.' }),
    percent: Type.Number(),
    inFlight: Type.Integer({ description: 'Shadow requests in flight on this gateway.' }),
    maxInFlight: Type.Integer(),
    sent: Type.Integer({ description: 'Shadow requests sent by this gateway since start.' }),
    dropped: Type.Object(
      { budget: Type.Integer(), memory: Type.Integer(), unavailable: Type.Integer(), streamed: Type.Integer() },
      { description: 'Copies not sent, by why: over maxInFlight, over the memory budget, no shadow replica free, a streamed body.' },
    ),
    results: Type.Union([ShadowResultsView, Type.Null()]),
  },
  { description: "Shadow traffic on this gateway: copies sent and dropped, and the comparison's results." },
);

export const CandidateStage = Type.Union([Type.Literal('shadow'), Type.Literal('steps')], {
  description: 'shadow: copies only, compared with the live answers; steps: the plan\'s canary steps (see rollout).',
});

export const VersionsView = Type.Object(
  {
    discovery: Type.Boolean({ description: 'The model discovers its versions on its replicas (`discover`).' }),
    discovered: VersionsState.properties.discovered,
    candidate: Type.Union([Type.Object({ version: Type.Integer(), stage: CandidateStage }), Type.Null()], {
      description: 'The discovered version `onNewVersion` is rolling out, and where it stands; null when none.',
    }),
    rejected: VersionsState.properties.rejected,
  },
  { description: 'Versions found on the replicas, the candidate being rolled out and the rejected ones (as stored, the same on every gateway).' },
);

export const ModelView = Type.Object({
  name: Type.String(),
  revision: Type.Integer(),
  state: ModelState,
  paused: Type.Boolean(),
  rolledBack: Type.Boolean(),
  updatedAt: Type.String(),
  updatedBy: Type.String(),
  reason: ChangeReason,
  note: Type.String({ description: 'The note of the last change.' }),
  rollout: Type.Union([RolloutView, Type.Null()]),
  policy: PolicyDocument,
  pools: Type.Array(PoolView),
  shadow: Type.Union([ShadowView, Type.Null()], { description: 'null: the model has had no shadow on this gateway.' }),
  versions: VersionsView,
});

export const ModelList = Type.Object({ models: Type.Array(ModelView) });

// --- actions (request bodies) ---

const Note = Type.Optional(Type.String({ maxLength: 1000, description: 'Kept in the audit trail.' }));

export const PercentBody = Type.Object({ percent: Type.Number({ minimum: 0, maximum: 100 }), note: Note }, { additionalProperties: false });

export const RulesBody = Type.Object(
  {
    headerRules: Policy.properties.headerRules,
    cookieRules: Policy.properties.cookieRules,
    sticky: Policy.properties.sticky,
    salt: Policy.properties.salt,
    note: Note,
  },
  { additionalProperties: false, minProperties: 1 },
);

export const ShadowBody = Type.Object(
  { shadow: Type.Union([Shadow, Type.Null()], { description: 'The shadow, or null to stop it.' }), note: Note },
  { additionalProperties: false },
);

export const PlanBody = Type.Object({ plan: Type.Union([RolloutPlan, Type.Null()]), note: Note }, { additionalProperties: false });

/** The body of rollback, promote, pause, resume and abort: optional, as is its note. */
export const ActionBody = Type.Optional(Type.Object({ note: Note }, { additionalProperties: false, description: 'Optional.' }));

// --- the event stream (GET /api/events) ---

/** Stats ticks kept per model for the snapshot: two minutes of charts for a page opened now. */
export const HISTORY_TICKS = 120;

export const StatsEvent = Type.Object(
  {
    at: Type.String(),
    windowSeconds: Type.Integer(),
    models: Type.Array(
      Type.Object({
        name: Type.String(),
        revision: Type.Integer(),
        state: ModelState,
        percent: Type.Number(),
        shadow: ModelView.properties.shadow,
        versions: Type.Array(
          Type.Object({
            version: Type.Integer(),
            role: PoolRole,
            healthyReplicas: Type.Integer(),
            availableReplicas: Type.Integer(),
            draining: Type.Boolean(),
            ...StatsView.properties,
            requestsByProtocol: RequestsByProtocol,
            // Live per replica (in flight changes with every request, the last check with every
            // check): a page that showed them from its last GET would show stale numbers as live.
            replicas: Type.Array(ReplicaView),
          }),
        ),
      }),
    ),
  },
  { description: 'The `stats` event, once a second: live numbers per model, version and replica.' },
);

export const HistorySample = Type.Object({
  at: Type.String(),
  versions: Type.Array(
    Type.Object({
      version: Type.Integer(),
      role: PoolRole,
      rps: Type.Number(),
      errorRate: Type.Number(),
      p50Ms: StatsView.properties.p50Ms,
      p99Ms: StatsView.properties.p99Ms,
    }),
  ),
  shadow: Type.Optional(
    Type.Object(
      { version: Type.Integer(), agreementRate: Type.Union([Type.Number(), Type.Null()]) },
      { description: "The shadow comparison's agreement at this tick; absent while the model has no shadow results." },
    ),
  ),
});

export const SnapshotEvent = Type.Object(
  {
    models: Type.Array(ModelView),
    storeAvailable: Type.Boolean(),
    history: Type.Record(Type.String(), Type.Array(HistorySample), {
      description: `Per model, its last stats ticks (up to ${HISTORY_TICKS}, oldest first), so charts start with the last minutes.`,
    }),
  },
  { description: 'The `snapshot` event, first on every connection.' },
);

export const PolicyEvent = Type.Object(
  {
    model: Type.String(),
    revision: Type.Integer(),
    reason: ChangeReason,
    by: Type.String(),
    at: Type.String(),
    paused: Type.Boolean(),
    rolledBack: Type.Boolean(),
    rollout: ModelView.properties.rollout,
    note: Type.String(),
    policy: PolicyDocument,
    versions: ModelView.properties.versions,
  },
  { description: 'The `policy` event: a policy came into force on this gateway.' },
);

export const VersionsEvent = Type.Object(
  {
    model: Type.String(),
    revision: Type.Integer(),
    added: Type.Array(Type.Integer(), { description: 'Versions found on the replicas (they have pools now).' }),
    removed: Type.Array(Type.Integer(), { description: 'Versions gone from the replicas (their pools are removed).' }),
    by: Type.String(),
    note: Type.String(),
    at: Type.String(),
  },
  { description: 'The `versions` event: discovery found versions on the replicas, or found them gone.' },
);

const ReplicaAt = { model: Type.String(), version: Type.Integer(), replica: Type.String(), at: Type.String() };

export const HealthEvent = Type.Object(
  { ...ReplicaAt, from: ReplicaHealth, to: ReplicaHealth, detail: Type.String() },
  { description: "The `health` event: a replica's health changed." },
);

export const ReplicaEvent = Type.Union(
  [
    Type.Object({ ...ReplicaAt, kind: Type.Literal('breaker'), state: BreakerState }),
    Type.Object({
      ...ReplicaAt,
      kind: Type.Literal('ejection'),
      ejected: Type.Boolean(),
      durationMs: Type.Number({ description: 'How long it is out (0 when readmitted).' }),
      times: Type.Integer({ description: 'Ejections of this replica so far.' }),
    }),
  ],
  { description: "The `replica` event: a replica's breaker changed state, or it was ejected or readmitted." },
);

export const RollbackEvent = Type.Object(
  {
    model: Type.String(),
    revision: Type.Integer(),
    version: Type.Union([Type.Integer(), Type.Null()], { description: 'The canary version that lost its traffic.' }),
    by: Type.String(),
    note: Type.String(),
    at: Type.String(),
  },
  { description: 'The `rollback` event: a model was rolled back, by an operator or the controller.' },
);

export const StoreEvent = Type.Object(
  { available: Type.Boolean(), detail: Type.String(), at: Type.String() },
  { description: 'The `store` event: the policy store became reachable or unreachable.' },
);

/** Each event of the stream, by its SSE event name. */
export const StreamEvents = {
  snapshot: SnapshotEvent,
  stats: StatsEvent,
  policy: PolicyEvent,
  health: HealthEvent,
  replica: ReplicaEvent,
  rollback: RollbackEvent,
  store: StoreEvent,
  versions: VersionsEvent,
} as const;

export type Issue = Static<typeof Issue>;
export type ErrorBody = Static<typeof ErrorBody>;
export type ConflictBody = Static<typeof ConflictBody>;
export type Role = Static<typeof Role>;
export type Session = Static<typeof Session>;
export type AuditEntry = Static<typeof AuditEntry>;
export type RequestsByProtocol = Static<typeof RequestsByProtocol>;
export type AuditList = Static<typeof AuditList>;
export type ModelState = Static<typeof ModelState>;
export type StatsView = Static<typeof StatsView>;
export type ReplicaView = Static<typeof ReplicaView>;
export type PoolRole = Static<typeof PoolRole>;
export type PoolView = Static<typeof PoolView>;
export type RolloutView = Static<typeof RolloutView>;
export type ModelView = Static<typeof ModelView>;
export type ModelList = Static<typeof ModelList>;
export type PercentBody = Static<typeof PercentBody>;
export type RulesBody = Static<typeof RulesBody>;
export type PlanBody = Static<typeof PlanBody>;
export type ShadowBody = Static<typeof ShadowBody>;
export type ShadowView = Static<typeof ShadowView>;
export type ShadowResultsView = Static<typeof ShadowResultsView>;
export type ShadowDisagreement = Static<typeof ShadowDisagreement>;
export type ActionBody = Static<typeof ActionBody>;
export type StatsEvent = Static<typeof StatsEvent>;
export type HistorySample = Static<typeof HistorySample>;
export type SnapshotEvent = Static<typeof SnapshotEvent>;
export type PolicyEvent = Static<typeof PolicyEvent>;
export type HealthEvent = Static<typeof HealthEvent>;
export type ReplicaEvent = Static<typeof ReplicaEvent>;
export type RollbackEvent = Static<typeof RollbackEvent>;
export type StoreEvent = Static<typeof StoreEvent>;
export type VersionsEvent = Static<typeof VersionsEvent>;
export type VersionsView = Static<typeof VersionsView>;
export type PolicyView = Static<typeof PolicyDocument>;
export type { HeaderRule, CookieRule, RolloutPlan, StickyKey, TargetSide };

/** The payload of each event, by name. */
export type StreamEventMap = { [K in keyof typeof StreamEvents]: Static<(typeof StreamEvents)[K]> };
/** One event of the stream as a client reads it: its name tells the type of its data. */
export type StreamMessage = { [K in keyof StreamEventMap]: { readonly event: K; readonly data: StreamEventMap[K] } }[keyof StreamEventMap];
