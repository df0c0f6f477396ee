/**
 * Chaos under load: keyless, keyed and pinned traffic (REST, and gRPC keyless and pinned) through two gateway processes sharing a
 * persistent Redis, while replicas are killed, restarted and frozen, Redis is killed for 10 s, the
 * policy changes 100 times and a gateway is stopped and started again. The target for every
 * scenario: no failed request, except requests pinned to a version that is down; and after the
 * storm, every gateway routes on the last policy written. Each scenario is recorded for
 * docs/reliability.md before it is asserted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestClient, type Reply } from '../helpers/http.js';
import { recordScenario } from '../../scripts/lib/reliability-records.js';
import { MODEL } from '../helpers/stack.js';
import { BalancedTraffic, type Kind, type Tally } from './balanced-traffic.js';
import { CHAOS_TOKEN, STICKY_HEADER, startChaosStack, type ChaosStack, type GatewayProcess, type ReplicaProcess } from './chaos-stack.js';

const WORKERS_PER_KIND = 2;
const TARGET = 'no failed request; every keyed user stays on one version';
const PINNED_TARGET = 'no failed request, except those pinned to the version that is down';

interface PolicyView {
  readonly revision: number;
  readonly policy: Record<string, unknown>;
  readonly pools: ReadonlyArray<{ version: number; availableReplicas: number; replicas: ReadonlyArray<{ url: string; health: string }> }>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('chaos under load: two gateways, a shared Redis, replicas and processes that fail', () => {
  let stack: ChaosStack;
  let client: TestClient;
  let traffic: BalancedTraffic;
  /** What the last successful policy write answered: the policy every gateway must end on. */
  let lastWritten: PolicyView | undefined;

  const auth = { authorization: `Bearer ${CHAOS_TOKEN}` };
  const modelOn = async (gateway: GatewayProcess): Promise<PolicyView> => {
    const reply = await client.get(`${gateway.admin}/api/models/${MODEL}`, auth);
    assert.equal(reply.status, 200, reply.text);
    return reply.json<PolicyView>();
  };
  const write = (gateway: GatewayProcess, method: 'PUT' | 'POST', action: string, body: unknown): Promise<Reply> =>
    client.send(method, `${gateway.admin}/api/models/${MODEL}/${action}`, JSON.stringify(body), { ...auth, 'content-type': 'application/json' });
  const writeOk = async (gateway: GatewayProcess, action: string, body: unknown): Promise<PolicyView> => {
    const reply = await write(gateway, 'PUT', action, body);
    assert.equal(reply.status, 200, `${action} through ${gateway.name}: ${reply.text}`);
    lastWritten = reply.json<PolicyView>();
    return lastWritten;
  };

  /** Bounded wait until every replica of every pool is available again on both gateways. */
  const allAvailable = async (timeoutMs = 20_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const views = await Promise.all(stack.gateways.map(modelOn));
      if (views.every((v) => v.pools.every((p) => p.availableReplicas === p.replicas.length))) return;
      if (Date.now() > deadline) throw new Error(`replicas not all available after ${timeoutMs} ms: ${JSON.stringify(views.map((v) => v.pools))}`);
      await sleep(100);
    }
  };

  /** Bounded wait until both gateways report the store reachable (their clients reconnect with backoff). */
  const storeReachable = async (timeoutMs = 20_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const sessions = await Promise.all(stack.gateways.map((g) => client.get(`${g.admin}/api/session`, auth)));
      if (sessions.every((r) => r.status === 200 && r.json<{ storeAvailable: boolean }>().storeAvailable)) return;
      if (Date.now() > deadline) throw new Error(`the store was not reachable from both gateways within ${timeoutMs} ms`);
      await sleep(100);
    }
  };

  const killAndRestart = async (replica: ReplicaProcess): Promise<undefined> => {
    await replica.kill();
    await sleep(2_000);
    await replica.start();
    await allAvailable();
    return undefined;
  };

  /** Both gateways route on `expected` (same revision and policy), within a bounded wait. */
  const converged = async (expected: PolicyView, timeoutMs = 10_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const views = await Promise.all(stack.gateways.map(modelOn));
      if (views.every((v) => v.revision === expected.revision)) {
        for (const v of views) assert.deepEqual(v.policy, expected.policy);
        return;
      }
      if (Date.now() > deadline) {
        throw new Error(`gateways on revisions ${views.map((v) => v.revision).join(', ')}, expected ${expected.revision} after ${timeoutMs} ms`);
      }
      await sleep(50);
    }
  };

  /** Runs `fault` under the traffic, records the scenario, then asserts its target. */
  const scenario = async (
    name: string,
    fault: string,
    body: () => Promise<string | undefined>,
    options: { target?: string; excuse?: readonly Kind[]; switchesBecause?: string } = {},
  ): Promise<Tally> => {
    traffic.cut();
    for (const kind of options.excuse ?? []) traffic.excused.add(kind);
    let notes: string | undefined;
    let tally: Tally;
    try {
      notes = await body();
    } finally {
      for (const kind of options.excuse ?? []) traffic.excused.delete(kind);
      tally = traffic.cut();
    }
    const durationMs = Math.round(performance.now() - tally.startedAt);
    // Without a policy change, a user's requests stay with one version whichever gateway answers.
    const sticky = options.switchesBecause !== undefined || tally.cohortSwitches === 0;
    const because = options.switchesBecause === undefined || tally.cohortSwitches === 0 ? '' : ` (${options.switchesBecause})`;
    const stickyNote = `${tally.grpcRequests.toLocaleString('en-US')} of the requests were gRPC calls; keyed users: ${tally.versionOfUser.size}, answers from another version than the user's earlier ones: ${tally.cohortSwitches}${because}`;
    notes = notes === undefined ? stickyNote : `${notes}; ${stickyNote}`;
    const rps = Math.round((tally.requests / durationMs) * 1_000);
    recordScenario({
      suite: 'chaos',
      scenario: name,
      load: `2 gateways behind a readiness-aware balancer; ${traffic.workerCount()} clients (REST keyless, keyed, pinned to 1, pinned to 2: ${WORKERS_PER_KIND} each; gRPC keyless, pinned to 2: ${Math.max(1, Math.floor(WORKERS_PER_KIND / 2))} each); ${rps.toLocaleString('en-US')} req/s`,
      fault,
      requests: tally.requests,
      failures: tally.failures,
      excused: tally.excused,
      reasons: Object.fromEntries(tally.reasons),
      target: options.target ?? TARGET,
      met: tally.failures === 0 && sticky,
      notes,
      durationMs,
    });
    assert.ok(tally.requests > 100, `only ${tally.requests} requests during "${name}"`);
    assert.equal(tally.failures, 0, `${tally.failures} failed during "${name}": ${JSON.stringify(Object.fromEntries(tally.reasons))}`);
    assert.ok(sticky, `${tally.cohortSwitches} keyed requests switched version during "${name}" without a policy change`);
    return tally;
  };

  before(async () => {
    stack = await startChaosStack();
    client = new TestClient(64);
    traffic = new BalancedTraffic(stack.gateways, client);
    await traffic.start(WORKERS_PER_KIND);
    await allAvailable();
  });

  after(async () => {
    await traffic?.stop();
    await client?.close();
    await stack?.close();
  });

  test('steady state', async () => {
    await scenario('steady state', 'none', async () => {
      await sleep(3_000);
      return undefined;
    });
  });

  test('a stable replica is killed (SIGKILL) and restarted', async () => {
    await scenario('stable replica killed and restarted', 'SIGKILL one of 3 version-1 replicas; restart it 2 s later', () => killAndRestart(stack.stable[0]!));
  });

  test('a canary replica is killed (SIGKILL) and restarted', async () => {
    await scenario('canary replica killed and restarted', 'SIGKILL one of 2 version-2 replicas; restart it 2 s later', () => killAndRestart(stack.canary[0]!), { switchesBecause: 'a canary-bound request whose canary attempt fails is answered by stable, by design', target: 'no failed request' });
  });

  test('a replica hangs (SIGSTOP) for 3 s', async () => {
    await scenario('replica frozen', 'SIGSTOP one version-1 replica (port open, no answers) for 3 s, then SIGCONT', async () => {
      stack.stable[1]!.freeze();
      await sleep(3_000);
      stack.stable[1]!.thaw();
      await allAvailable();
      return undefined;
    });
  });

  test('every canary replica is killed: canary traffic drains to stable, pins to version 2 fail', async () => {
    const tally = await scenario(
      'every canary replica killed',
      'SIGKILL both version-2 replicas for 3 s, then restart them',
      async () => {
        await Promise.all(stack.canary.map((r) => r.kill()));
        await sleep(3_000);
        await Promise.all(stack.canary.map((r) => r.start()));
        await allAvailable();
        return 'keyless and keyed requests bound for the canary were answered by stable';
      },
      { target: PINNED_TARGET, excuse: ['pinned to version 2', 'gRPC pinned to version 2'], switchesBecause: 'the canary was down: its cohort was answered by stable' },
    );
    // The fault was real: requests pinned to the dead version did fail, and only those were excused.
    assert.ok(tally.excused > 0, 'no request pinned to version 2 failed while it was down');
    for (const reason of tally.reasons.keys()) assert.match(reason, /^(gRPC )?pinned to version 2: /);
  });

  test('Redis is killed for 10 s: routing goes on, writes are refused, the store heals', async () => {
    const [a, b] = stack.gateways as [GatewayProcess, GatewayProcess];
    await scenario('Redis killed for 10 s', 'SIGKILL redis-server (append-only, fsync always); restart it 10 s later', async () => {
      const before = await writeOk(a, 'percent', { percent: 20, note: 'before the Redis outage' });
      await converged(before);
      await stack.redis.kill();
      await sleep(1_000);
      const refused = await write(b, 'PUT', 'percent', { percent: 70 });
      assert.equal(refused.status, 503, refused.text);
      await sleep(9_000);
      await stack.redis.restart();
      const restartedAt = performance.now();
      await storeReachable();
      const reconnectMs = Math.round(performance.now() - restartedAt);
      // The policy written before the outage survived it: both gateways still agree on it.
      await converged(before);
      const afterwards = await writeOk(b, 'percent', { percent: 25, note: 'after the Redis outage' });
      await converged(afterwards);
      return (
        `a write during the outage got ${refused.status} and changed nothing; both gateways reached Redis again ${reconnectMs} ms after it restarted, ` +
        `still on revision ${before.revision}, and the next write (revision ${afterwards.revision}) came into force on both`
      );
    }, { switchesBecause: 'the policy changed', target: 'no failed request' });
  });

  test('100 policy changes through both gateways: every gateway ends on the last one written', async () => {
    const gateways = stack.gateways;
    await scenario('100 policy changes', '100 writes alternating between the gateways: percent, header rules, sticky key', async () => {
      const first = lastWritten?.revision ?? 0;
      for (let i = 0; i < 100; i++) {
        const gateway = gateways[i % 2]!;
        if (i % 3 === 2) {
          await writeOk(gateway, 'rules', {
            headerRules: [{ header: 'x-canary', equals: `tester-${i}`, to: 'canary' }],
            sticky: { header: STICKY_HEADER },
          });
        } else {
          await writeOk(gateway, 'percent', { percent: (i * 37) % 101, note: `change ${i + 1}` });
        }
        // Spread over a few seconds of traffic, as a busy team of operators and a rollout would.
        await sleep(30);
      }
      const last = lastWritten!;
      assert.equal(last.revision, first + 100, 'every write got its own revision');
      await converged(last);
      return `both gateways on revision ${last.revision} with the last policy written (canary at ${String(last.policy['percent'])}%)`;
    }, { switchesBecause: 'the policy changed', target: 'no failed request' });
  });

  test('a gateway gets SIGTERM and is started again', async () => {
    const a = stack.gateways[0]!;
    await scenario('gateway SIGTERM and restart', 'SIGTERM one gateway (readiness fails, 600 ms later it drains), start it again', async () => {
      const code = await a.terminate();
      assert.equal(code, 0, 'graceful shutdown exits 0');
      await sleep(500);
      await a.start();
      const deadline = Date.now() + 15_000;
      while (traffic.readyCount() < 2) {
        if (Date.now() > deadline) throw new Error('the restarted gateway did not become ready within 15 s');
        await sleep(50);
      }
      await sleep(1_000);
      // A restarted gateway routes on the stored policy, not on its file's.
      await converged(lastWritten!);
      return `exit code ${String(code)}; back in the balancer after a restart, on the stored policy (revision ${lastWritten!.revision})`;
    });
  });
});
