/**
 * Header and cookie rules whose regexes a backtracking engine takes exponential or high-polynomial
 * time on, against adversarial values up to 8 KiB, over real sockets. The gateway runs in a child
 * process: a gateway that stalls on one of these requests is seen stalling (its /healthz stops
 * answering), and the test still ends.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { RULE_VALUE_MAX_LENGTH } from '../../../gateway/src/policy/schema.js';
import { spawnGateway, type GatewayProcess } from '../../helpers/gateway-process.js';
import { waitFor } from '../../helpers/gateway.js';
import { startReplica, type SimulatorHandle } from '../../helpers/simulator.js';
import { versionOfPrediction } from '../../helpers/stack.js';

const MODEL = 'half_plus_two';
/** Generous: the engine answers these in a few ms; a backtracking one needs seconds to centuries. */
const STALL_BOUND_MS = 1_000;
const KiB = 1024;

interface Case {
  readonly header: string;
  readonly regex: string;
  /** A value of `length` characters that the regex matches. */
  readonly matching: (length: number) => string;
  /** A value of `length` characters the regex does not match, found only after backtracking through every split. */
  readonly adversarial: (length: number) => string;
}

const CASES: readonly Case[] = [
  { header: 'x-word', regex: '^(\\w|\\d)*$', matching: (n) => 'a1'.repeat(n / 2), adversarial: (n) => `${'a'.repeat(n - 1)}!` },
  { header: 'x-alt', regex: '^(a|a)*$', matching: (n) => 'a'.repeat(n), adversarial: (n) => `${'a'.repeat(n - 1)}!` },
  { header: 'x-stars', regex: '^.*a.*a.*a.*a.*b$', matching: (n) => `${'a'.repeat(n - 1)}b`, adversarial: (n) => 'a'.repeat(n) },
];
const COOKIE_CASE = CASES[0] as Case;

let gateway: GatewayProcess | undefined;
const sims: SimulatorHandle[] = [];
const agent = new Agent({ connections: 8 });

before(async () => {
  sims.push(await startReplica({ model: MODEL, versions: [1], behaviour: 'half_plus_two' }));
  sims.push(await startReplica({ model: MODEL, versions: [2], behaviour: 'half_plus_three' }));
  gateway = await spawnGateway({
    models: {
      [MODEL]: {
        pools: { '1': { replicas: [sims[0]!.url] }, '2': { replicas: [sims[1]!.url] } },
        // Percent 0: a request goes to the canary only when a rule matches.
        policy: {
          stable: 1,
          canary: 2,
          percent: 0,
          headerRules: CASES.map((c) => ({ header: c.header, regex: c.regex })),
          cookieRules: [{ cookie: 'c', regex: COOKIE_CASE.regex }],
        },
        healthCheck: { intervalMs: 200, timeoutMs: 1_000 },
      },
    },
  });
  await waitFor(async () => (await predict({ 'x-alt': 'a' })).version === 2, 10_000, 'the canary pool healthy');
});

after(async () => {
  await gateway?.stop();
  await agent.close();
  await Promise.all(sims.map((s) => s.close()));
});

/** A prediction, bounded by STALL_BOUND_MS: which version answered and how long it took. */
async function predict(headers: Record<string, string>): Promise<{ version: number; ms: number }> {
  const started = performance.now();
  const res = await request(`${gateway!.rest}/v1/models/${MODEL}:predict`, {
    method: 'POST',
    body: '{"instances": [1.0]}',
    headers: { 'content-type': 'application/json', ...headers },
    dispatcher: agent,
    signal: AbortSignal.timeout(STALL_BOUND_MS),
  });
  const text = await res.body.text();
  assert.equal(res.statusCode, 200, text);
  return { version: versionOfPrediction(text), ms: performance.now() - started };
}

/** Runs `work` while asking the admin port's /healthz every 10 ms; returns the slowest answer, in ms. */
async function whileProbingHealth(work: () => Promise<void>): Promise<number> {
  let slowest = 0;
  let running = true;
  const probe = (async () => {
    while (running) {
      const started = performance.now();
      const res = await request(`${gateway!.admin}/healthz`, { dispatcher: agent, signal: AbortSignal.timeout(STALL_BOUND_MS) });
      await res.body.text();
      assert.equal(res.statusCode, 200);
      slowest = Math.max(slowest, performance.now() - started);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  probe.catch(() => undefined); // awaited below; a failure while `work` runs is not unhandled meanwhile
  try {
    await work();
  } finally {
    running = false;
    await probe;
  }
  return slowest;
}

test('adversarial values of 1 to 8 KiB against the three regexes (header and cookie rules): each answered at once, /healthz too', async () => {
  const slowestHealth = await whileProbingHealth(async () => {
    for (const length of [RULE_VALUE_MAX_LENGTH, 4 * KiB, 8 * KiB]) {
      for (const c of CASES) {
        for (let i = 0; i < 3; i++) {
          const reply = await predict({ [c.header]: c.adversarial(length) });
          assert.equal(reply.version, 1, `${c.regex} on ${length} characters decides nothing: stable serves`);
        }
      }
      const reply = await predict({ cookie: `session=1; c=${COOKIE_CASE.adversarial(length)}` });
      assert.equal(reply.version, 1, `cookie rule on ${length} characters`);
    }
  });
  assert.ok(slowestHealth < STALL_BOUND_MS, `slowest /healthz ${slowestHealth.toFixed(0)} ms`);
});

test(`values up to ${RULE_VALUE_MAX_LENGTH} characters are tested and match; a longer value matches no regex`, async () => {
  for (const c of CASES) {
    assert.equal((await predict({ [c.header]: c.matching(RULE_VALUE_MAX_LENGTH) })).version, 2, c.regex);
    assert.equal((await predict({ [c.header]: c.matching(RULE_VALUE_MAX_LENGTH + 2) })).version, 1, `${c.regex}, over the cap`);
  }
  assert.equal((await predict({ cookie: `c=${COOKIE_CASE.matching(RULE_VALUE_MAX_LENGTH)}` })).version, 2);
  assert.equal((await predict({ cookie: `c=${COOKIE_CASE.matching(RULE_VALUE_MAX_LENGTH + 2)}` })).version, 1);
});
