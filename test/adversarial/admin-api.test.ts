/**
 * Admin API fuzzing: generated invalid policies, rule sets and action bodies (fast-check, fixed
 * seeds), each sent to a real gateway. Every one must be refused (400, or 415 for a body that is
 * not JSON) with `details` naming the field that was broken, and leave everything as it was: the
 * model's revision, policy, flags and pools, the audit trail, and the store read directly (Redis
 * too). ADMIN_FUZZ_SEED=<n> replays or explores another seed.
 */
import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import fc from 'fast-check';
import { compileRuleRegex } from '../../gateway/src/policy/rule-regex.js';
import { validatePolicy } from '../../gateway/src/policy/validate.js';
import { recordScenario } from '../../scripts/lib/reliability-records.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { anyInvalid, invalidActionBody, invalidPolicy, invalidRules, malformedBody, validPolicy, validRequest, type BadRequest } from './admin-cases.js';
import { INVALID_REGEXES, serialize } from './admin-edits.js';
import { OPERATOR, startAdminTarget, type AdminTarget } from './admin-fixture.js';
import { runProperty, type Tally } from './admin-run.js';

const SEED = Number(process.env['ADMIN_FUZZ_SEED'] ?? 20_260_801);
const TARGET = 'every request refused: 400 (415 for a non-JSON media type) naming the broken field; revision, policy, flags, pools, audit trail and store unchanged';

let memory: AdminTarget;

before(async () => {
  memory = await startAdminTarget({ type: 'memory' });
});
after(async () => {
  await memory?.close();
});

interface Fuzz {
  readonly scenario: string;
  readonly arbitrary: fc.Arbitrary<BadRequest>;
  readonly seed: number;
  readonly runs: number;
  readonly load: string;
  readonly fault: string;
}

/** Runs one property against `target`, records the scenario, and returns the tally for asserting. */
async function fuzz(t: TestContext, target: AdminTarget, spec: Fuzz): Promise<Tally> {
  const startedAt = Date.now();
  const tally = await runProperty(target, spec.arbitrary, spec.seed, spec.runs);
  t.diagnostic(`seed ${spec.seed}: ${tally.requests} cases, ${tally.kinds.size} kinds, ${tally.failures} failures`);
  const answers = Object.entries(tally.statuses)
    .map(([status, n]) => `${status} x${n}`)
    .join(', ');
  recordScenario({
    suite: 'admin-api',
    scenario: spec.scenario,
    load: spec.load,
    fault: spec.fault,
    requests: tally.requests,
    failures: tally.failures,
    reasons: tally.reasons,
    target: TARGET,
    met: tally.failures === 0,
    notes: `fast-check seed ${spec.seed} (base seed ADMIN_FUZZ_SEED=${SEED}); ${tally.kinds.size} kinds of edit; answers: ${answers}`,
    durationMs: Date.now() - startedAt,
  });
  return tally;
}

const failuresOf = (tally: Tally, seed: number): string => `${tally.failures} of ${tally.requests} failed (seed ${seed}):\n${tally.examples.join('\n')}`;

test('the generators start from valid bodies, and the gateway refuses their invalid regexes', () => {
  fc.assert(
    fc.property(validPolicy, (policy) => validatePolicy(policy, { model: 'm', versions: new Set([1, 2]) }).ok),
    { seed: SEED, numRuns: 500 },
  );
  for (const pattern of INVALID_REGEXES) assert.equal(compileRuleRegex(pattern).ok, false, pattern);
});

test('invalid policies (memory store): 1,000 generated PUT /policy bodies, all refused naming the field', async (t) => {
  const tally = await fuzz(t, memory, {
    scenario: 'invalid policies (memory store)',
    arbitrary: invalidPolicy,
    seed: SEED,
    runs: 1000,
    load: '1,000 generated requests, one at a time; state read after each',
    fault: 'PUT /policy: a valid policy with 1-3 edits (wrong types, out-of-range and off-grid numbers, unknown versions, stable = canary, bad rules and regexes, illegal header names, oversized strings and lists, unknown and __proto__ keys), sometimes a malformed If-Match',
  });
  assert.equal(tally.failures, 0, failuresOf(tally, SEED));
});

test('invalid rule sets: 300 generated PUT /rules bodies, all refused naming the field', async (t) => {
  const tally = await fuzz(t, memory, {
    scenario: 'invalid rule sets',
    arbitrary: invalidRules,
    seed: SEED + 1,
    runs: 300,
    load: '300 generated requests, one at a time; state read after each',
    fault: 'PUT /rules: header and cookie rules, sticky key, salt and note with 1-3 edits, or no field at all',
  });
  assert.equal(tally.failures, 0, failuresOf(tally, SEED + 1));
});

test('invalid action bodies: 300 generated percent, plan, action and replica bodies, all refused naming the field', async (t) => {
  const tally = await fuzz(t, memory, {
    scenario: 'invalid action bodies',
    arbitrary: invalidActionBody,
    seed: SEED + 2,
    runs: 300,
    load: '300 generated requests, one at a time; state read after each',
    fault: 'PUT /percent, PUT /plan, POST rollback/promote/abort/pause/resume, PUT /pools/{version}/replicas: bad values, missing and unknown fields, bad replica URLs, malformed versions',
  });
  assert.equal(tally.failures, 0, failuresOf(tally, SEED + 2));
});

test('malformed bodies: 300 requests whose body is not a JSON object, or not JSON, or pollutes prototypes', async (t) => {
  const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort();
  const tally = await fuzz(t, memory, {
    scenario: 'malformed bodies',
    arbitrary: malformedBody,
    seed: SEED + 3,
    runs: 300,
    load: '300 generated requests over every write route, one at a time; state read after each',
    fault: 'invalid JSON text (truncated, NaN, comments, single quotes...), JSON that is not an object, a non-JSON content type or none, __proto__ / constructor.prototype keys, a malformed If-Match',
  });
  assert.equal(tally.failures, 0, failuresOf(tally, SEED + 3));
  // The gateway runs in this process: a polluted prototype would show here.
  assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), prototypeKeys);
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
});

test('invalid policies (Redis store): 200 generated requests of every kind, Redis unchanged', async (t) => {
  let redis: RedisServer | undefined;
  let target: AdminTarget | undefined;
  try {
    redis = await startRedis();
    target = await startAdminTarget({ type: 'redis', url: redis.url });
    // The direct read must see the model's hash, or "unchanged" would hold vacuously.
    const raw = (await target.observe()).raw;
    assert.ok(raw !== undefined && raw.revision === '1' && raw.doc !== null && raw.auditLength === 1, JSON.stringify(raw));
    const tally = await fuzz(t, target, {
      scenario: 'invalid policies (Redis store)',
      arbitrary: anyInvalid,
      seed: SEED + 4,
      runs: 200,
      load: '200 generated requests, one at a time; Redis hash and audit stream read after each',
      fault: 'all of the above (policies, rule sets, action bodies, malformed bodies) against a gateway on the Redis store',
    });
    assert.equal(tally.failures, 0, failuresOf(tally, SEED + 4));
  } finally {
    await target?.close();
    await redis?.stop();
  }
});

test('control: the valid bodies the cases start from are accepted (200) on every route', async () => {
  // Without this, a route that refused everything would pass every property above.
  const requests = fc.sample(validRequest, { seed: SEED + 5, numRuns: 60 });
  const routes = new Set<string>();
  for (const r of requests) {
    await memory.restore();
    const reply = await memory.send({ method: r.method, path: r.path, headers: { authorization: OPERATOR, 'content-type': 'application/json' }, body: serialize(r.body) });
    assert.equal(reply.status, 200, `${r.method} ${r.path} ${serialize(r.body)}: ${reply.text}`);
    routes.add(r.route);
  }
  await memory.restore();
  assert.ok(routes.size >= 8, `routes exercised: ${[...routes].join(', ')}`);
});
