/**
 * Header rules whose regexes a backtracking engine stalls on (exponential or high-polynomial time),
 * in a gateway at its DEFAULT limits, against clients that send the values that trigger it, up to
 * 8 KiB. Like default-limits.test.ts: the gateway is a child process, each request is measured by
 * the gateway's event-loop delay (the max since the previous scrape of /metrics) and by the
 * slowest status request another client sends meanwhile; the figures go to docs/reliability.md.
 * The test asserts behaviour with generous bounds; the recorded target is the strict one.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { recordScenario } from '../../scripts/lib/reliability-records.js';
import { spawnGateway, type GatewayProcess } from '../helpers/gateway-process.js';
import { waitFor } from '../helpers/gateway.js';
import { TestClient } from '../helpers/http.js';
import { startReplica, type SimulatorHandle } from '../helpers/simulator.js';
import { versionOfPrediction } from '../helpers/stack.js';

const SUITE = 'default-limits';
const MODEL = 'half_plus_two';
const KiB = 1024;
/** What the test asserts: a request that stalls the gateway for a second or more is a failure. */
const STALL_BOUND_MS = 1_000;
/** The recorded target. */
const LOOP_TARGET_MS = 50;
const STATUS_TARGET_MS = 100;
const LENGTHS = [1 * KiB, 4 * KiB, 8 * KiB];
const REQUESTS_PER_LENGTH = 10;

interface Rule {
  readonly header: string;
  readonly regex: string;
  /** What V8's RegExp does with it. */
  readonly why: string;
  /** A value the regex does not match, of `length` characters, that makes a backtracking engine try every split. */
  readonly adversarial: (length: number) => string;
}

const RULES: readonly Rule[] = [
  { header: 'x-word', regex: '^(\\w|\\d)*$', why: 'exponential: 27 characters took 4.5 s', adversarial: (n) => `${'a'.repeat(n - 1)}!` },
  { header: 'x-alt', regex: '^(a|a)*$', why: 'exponential', adversarial: (n) => `${'a'.repeat(n - 1)}!` },
  { header: 'x-stars', regex: '^.*a.*a.*a.*a.*b$', why: 'polynomial of degree 5', adversarial: (n) => 'a'.repeat(n) },
];

let gateway: GatewayProcess | undefined;
const sims: SimulatorHandle[] = [];
const client = new TestClient(8);

before(async () => {
  sims.push(await startReplica({ model: MODEL, versions: [1], behaviour: 'half_plus_two' }));
  sims.push(await startReplica({ model: MODEL, versions: [2], behaviour: 'half_plus_three' }));
  // Only what a deployment must say: the models and their policy. Every limit is the default.
  gateway = await spawnGateway({
    models: {
      [MODEL]: {
        pools: { '1': { replicas: [sims[0]!.url] }, '2': { replicas: [sims[1]!.url] } },
        policy: { stable: 1, canary: 2, percent: 0, headerRules: RULES.map((r) => ({ header: r.header, regex: r.regex })) },
      },
    },
  });
  await waitFor(async () => versionOf(await predict({ 'x-alt': 'aaa' })) === 2, 20_000, 'the canary pool healthy');
});

after(async () => {
  await gateway?.stop();
  await client.close();
  await Promise.all(sims.map((s) => s.close()));
});

function predict(headers: Record<string, string>): Promise<{ status: number; text: string }> {
  return client.post(`${gateway!.rest}/v1/models/${MODEL}:predict`, '{"instances": [1.0]}', headers);
}

function versionOf(reply: { status: number; text: string }): number | undefined {
  return reply.status === 200 ? versionOfPrediction(reply.text) : undefined;
}

/** The gateway's largest event-loop delay since the previous call, in ms (the gauge resets when scraped). */
async function eventLoopMaxMs(): Promise<number> {
  const text = (await client.get(`${gateway!.admin}/metrics`)).text;
  const match = /^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text);
  assert.ok(match, 'nodejs_eventloop_lag_max_seconds on /metrics');
  return Number(match[1]) * 1000;
}

/** Runs `send` while another client asks for the model's status every 10 ms; resolves with the slowest status request. */
async function withStatusProbe<T>(send: () => Promise<T>): Promise<{ result: T; slowestStatusMs: number }> {
  let slowest = 0;
  let running = true;
  const probe = (async () => {
    while (running) {
      const started = performance.now();
      assert.equal((await client.get(`${gateway!.rest}/v1/models/${MODEL}`)).status, 200);
      slowest = Math.max(slowest, performance.now() - started);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  probe.catch(() => undefined); // awaited below
  try {
    return { result: await send(), slowestStatusMs: slowest };
  } finally {
    running = false;
    await probe;
  }
}

for (const rule of RULES) {
  test(`header rule ${rule.regex}: values of 1, 4 and 8 KiB that make a backtracking engine stall are answered at once`, async () => {
    const started = performance.now();
    const failures: string[] = [];
    const answers: Record<string, number> = {};
    const worst = new Map<number, { loop: number; status: number; request: number }>();
    let requests = 0;
    await eventLoopMaxMs();
    for (const length of LENGTHS) {
      const value = rule.adversarial(length);
      for (let i = 0; i < REQUESTS_PER_LENGTH; i++) {
        await eventLoopMaxMs();
        const { result, slowestStatusMs } = await withStatusProbe(async () => {
          const sent = performance.now();
          const answer = await predict({ [rule.header]: value });
          return { reply: answer, requestMs: performance.now() - sent };
        });
        const { reply, requestMs } = result;
        const loop = await eventLoopMaxMs();
        requests++;
        const version = versionOf(reply);
        const what = version === 1 ? '200 from stable (no rule matched)' : `${reply.status} ${version === undefined ? reply.text.slice(0, 80) : `from version ${version}`}`;
        answers[what] = (answers[what] ?? 0) + 1;
        if (version !== 1) failures.push(`${length} characters: ${what}`);
        if (loop >= STALL_BOUND_MS || slowestStatusMs >= STALL_BOUND_MS || requestMs >= STALL_BOUND_MS) {
          failures.push(`${length} characters: event loop held ${loop.toFixed(0)} ms, status request ${slowestStatusMs.toFixed(0)} ms, request ${requestMs.toFixed(0)} ms`);
        }
        const w = worst.get(length) ?? { loop: 0, status: 0, request: 0 };
        worst.set(length, { loop: Math.max(w.loop, loop), status: Math.max(w.status, slowestStatusMs), request: Math.max(w.request, requestMs) });
      }
    }
    const figures = [...worst]
      .map(([length, w]) => `${length / KiB} KiB: event loop max ${w.loop.toFixed(1)} ms, status ${w.status.toFixed(1)} ms, request ${w.request.toFixed(1)} ms`)
      .join('; ');
    const met = failures.length === 0 && [...worst.values()].every((w) => w.loop < LOOP_TARGET_MS && w.status < STATUS_TARGET_MS);
    recordScenario({
      suite: SUITE,
      scenario: `header rule regex ${rule.regex}`,
      load: `${requests} requests, one at a time, each with a status request every 10 ms beside it`,
      fault: `a value the regex does not match, of 1, 4 and 8 KiB, that a backtracking engine (V8's RegExp) tries every split of (${rule.why})`,
      requests,
      failures: failures.length,
      reasons: Object.fromEntries(failures.map((f) => [f, 1])),
      answers,
      target: `answered by stable (no rule matched); event loop max delay < ${LOOP_TARGET_MS} ms and the status request < ${STATUS_TARGET_MS} ms`,
      met,
      notes: `${figures}. The regex runs on RE2 (re2js, linear time) over values up to 1 KiB; longer values match no regex and are not tested`,
      durationMs: Math.round(performance.now() - started),
    });
    assert.deepEqual(failures, []);
  });
}
