/**
 * The shadow as part of the policy: set through the admin API (its own action, or the whole
 * policy) and the configuration file, validated with the whole policy (an invalid one refused
 * whole, nothing written), audited like any change, and in force on the data plane at once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, resolveConfig } from '../../../gateway/src/config/load.js';
import { TestClient } from '../../helpers/http.js';
import { AUTH, MODEL, shadowOf, startShadowStack } from '../../helpers/shadow-stack.js';

interface ModelBody {
  revision: number;
  policy: { stable: number; canary: number | null; shadow: { version: number; percent: number; maxInFlight: number; tolerance: { abs: number; rel: number } } | null };
}

test('an invalid shadow is refused whole, with every problem named; a valid one is stored, audited and in force', async (t) => {
  const stack = await startShadowStack({ policy: { stable: 1, canary: 2, percent: 10 } });
  const client = new TestClient(4);
  t.after(async () => {
    await client.close();
    await stack.close();
  });
  const send = (path: string, body: unknown) =>
    client.send('PUT', `${stack.gw.admin}/api/models/${MODEL}/${path}`, JSON.stringify(body), { ...AUTH, 'content-type': 'application/json' });
  const model = async () => (await client.get(`${stack.gw.admin}/api/models/${MODEL}`, AUTH)).json<ModelBody>();
  const before = await model();

  const noPool = await send('shadow', { shadow: { version: 9, percent: 10 } });
  assert.equal(noPool.status, 400);
  assert.deepEqual(noPool.json<{ error: string; details: Array<{ path: string; message: string }> }>(), {
    error: 'invalid policy',
    details: [{ path: '/shadow/version', message: `no pool serves version 9 of ${MODEL} (pools: 1, 2, 3)` }],
  });
  const isStable = await send('shadow', { shadow: { version: 1, percent: 10 } });
  assert.equal(isStable.status, 400);
  assert.match(isStable.text, /must differ from stable/);
  const shape = await send('shadow', { shadow: { version: 2, percent: 150, maxInFlight: 0 } });
  assert.equal(shape.status, 400);
  // The whole policy with a bad shadow and a good change elsewhere: nothing of it is written.
  const whole = await send('policy', { stable: 1, canary: 2, percent: 50, shadow: { version: 2, percent: 0.001 } });
  assert.equal(whole.status, 400);
  assert.match(whole.text, /\/shadow\/percent/);
  const unchanged = await model();
  assert.equal(unchanged.revision, before.revision, 'nothing written');
  assert.equal(unchanged.policy.shadow, null);

  const set = await send('shadow', { shadow: { version: 3, percent: 100, tolerance: { rel: 0.01 } }, note: 'compare v3' });
  assert.equal(set.status, 200, set.text);
  const after = set.json<ModelBody>();
  assert.equal(after.revision, before.revision + 1);
  assert.deepEqual(after.policy.shadow, { version: 3, percent: 100, maxInFlight: 32, maxCompareBytes: 1048576, tolerance: { abs: 1e-6, rel: 0.01 } });
  assert.equal(after.policy.canary, 2, 'the rest of the policy stands');
  const audit = (await client.get(`${stack.gw.admin}/api/audit?model=${MODEL}`, AUTH)).json<{ entries: Array<{ revision: number; actor: string; note: string; before: { policy: { shadow?: unknown } }; after: { policy: { shadow?: { version: number } } } }> }>();
  const entry = audit.entries.find((e) => e.revision === after.revision);
  assert.ok(entry, 'the change is in the audit trail');
  assert.equal(entry.actor, 'test-operator');
  assert.equal(entry.note, 'compare v3');
  assert.equal(entry.after.policy.shadow?.version, 3);
  assert.equal(entry.before.policy.shadow ?? null, null);

  // In force at once: an unpinned request (to stable) is copied to version 3.
  assert.equal((await client.post(stack.predictUrl, JSON.stringify({ instances: [1] }))).status, 200);
  const ok = await waitForCopy(client, stack);
  assert.ok(ok);

  const cleared = await send('shadow', { shadow: null });
  assert.equal(cleared.status, 200);
  assert.equal(cleared.json<ModelBody>().policy.shadow, null);
});

async function waitForCopy(client: TestClient, stack: Awaited<ReturnType<typeof startShadowStack>>): Promise<boolean> {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    // Unpinned requests may go to the canary (10%), which is not the shadow: keep sending until one is copied.
    if (stack.sims.get(3)!.counters().byOperation.predict > 0) return ((await shadowOf(client, stack))?.sent ?? 0) > 0;
    await client.post(stack.predictUrl, JSON.stringify({ instances: [1] }));
  }
  return false;
}

test('the configuration file: a shadow is checked with the policy; an invalid one stops the start, named by its path', () => {
  const file = (shadow: unknown) => ({
    models: { m: { pools: { '1': { replicas: ['http://10.0.0.1:8501'] }, '2': { replicas: ['http://10.0.0.2:8501'] } }, policy: { stable: 1, shadow } } },
  });
  const loaded = resolveConfig(file({ version: 2, percent: 5 }), 'test', {});
  assert.deepEqual(loaded.models[0]?.policy.shadow, { version: 2, percent: 5, maxInFlight: 32, maxCompareBytes: 1048576, tolerance: { abs: 1e-6, rel: 1e-3 } });
  assert.throws(
    () => resolveConfig(file({ version: 7, percent: 5 }), 'test', {}),
    (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.path === '/models/m/policy/shadow/version'),
  );
});
