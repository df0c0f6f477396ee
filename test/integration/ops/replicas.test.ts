/**
 * Replicas that come and go without a restart and without a failed request: through the admin
 * API, through the configuration file (change or SIGHUP), and through DNS (a name that resolves
 * to several addresses is several replicas, and is resolved again). New replicas take traffic only
 * after their first good health check; removed ones finish their requests first.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { resolveConfig } from '../../../gateway/src/config/load.js';
import { spawnNode, stopChild } from '../../../scripts/lib/processes.js';
import { startSimulator, type SimulatorHandle } from '../../../simulator/src/server.js';
import { startDnsServer } from '../../helpers/dns-server.js';
import { startTestGateway, TEST_TOKEN, VIEWER_TOKEN, waitFor } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';
import { steadyLoad } from '../../helpers/load.js';
import { freePort } from '../../helpers/redis.js';
import { MODEL, startStack } from '../../helpers/stack.js';

const MAIN = fileURLToPath(new URL('../../../gateway/src/main.js', import.meta.url));
const auth = { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': 'application/json' };

interface View {
  pools: Array<{ version: number; replicas: Array<{ url: string; health: string }> }>;
}

test('adding and removing replicas through the admin API under steady load: no failed request, no traffic before the first good check', async () => {
  const stack = await startStack({ stableReplicas: 2, canaryReplicas: 0, policy: { stable: 1 } });
  const client = new TestClient(16);
  const extra = await startSimulator({ model: MODEL, versions: [1], versionStates: { '1': 'LOADING' } });
  const load = steadyLoad(client, [stack.predictUrl], 6);
  const setReplicas = (urls: string[]) =>
    client.send('PUT', `${stack.gw.admin}/api/models/${MODEL}/pools/1/replicas`, JSON.stringify({ replicas: urls }), auth);
  const pool1 = async () => (await client.get(`${stack.gw.admin}/api/models/${MODEL}`, auth)).json<View>().pools.find((p) => p.version === 1)!;
  try {
    await waitFor(() => load.outcome.ok > 200, 10_000, 'traffic');
    const added = await setReplicas([...stack.stable.map((s) => s.url), extra.url]);
    assert.equal(added.status, 200, added.text);
    assert.deepEqual((await pool1()).replicas.map((r) => [r.url, r.health]).sort(), [
      ...stack.stable.map((s) => [s.url, 'up']),
      [extra.url, 'down'],
    ].sort());
    const before = load.outcome.ok;
    await waitFor(() => load.outcome.ok > before + 300, 10_000, 'traffic while the new replica loads');
    assert.equal(extra.counters().byOperation.predict, 0, 'no traffic before its first good check');
    extra.setVersionState(1, 'AVAILABLE');
    await waitFor(() => extra.counters().byOperation.predict > 50, 10_000, 'traffic to the new replica once AVAILABLE');

    // Remove one of the first two: it finishes what it has, and gets nothing more.
    const leaving = stack.stable[0]!;
    assert.equal((await setReplicas([stack.stable[1]!.url, extra.url])).status, 200);
    const atRemoval = leaving.counters().byOperation.predict;
    const after = load.outcome.ok;
    await waitFor(() => load.outcome.ok > after + 300, 10_000, 'traffic after the removal');
    assert.ok(leaving.counters().byOperation.predict <= atRemoval + 6, 'at most the requests already in flight');
    const invalid = await setReplicas(['ftp://x:1']);
    assert.equal(invalid.status, 400);
    assert.equal((await setReplicas([])).status, 409, 'the stable pool cannot be emptied');
  } finally {
    const result = await load.stop();
    await client.close();
    await stack.close();
    await extra.close();
    assert.deepEqual(result.failures.slice(0, 3), [], `${result.failures.length} failed`);
  }
});

test('replacing every replica of a pool at once (a rolling update of a one-pod pool) fails no request', async () => {
  const stack = await startStack({ stableReplicas: 1, canaryReplicas: 0, policy: { stable: 1 } });
  const client = new TestClient(16);
  // The replacement takes 100 ms to answer anything, its first health check included: the old
  // replica must go on serving meanwhile, or the pool has nothing to route to.
  const replacement = await startSimulator({ model: MODEL, versions: [1], faults: { latencyMs: 100, scope: 'all' } });
  const load = steadyLoad(client, [stack.predictUrl], 6);
  try {
    await waitFor(() => load.outcome.ok > 200, 10_000, 'traffic');
    const old = stack.stable[0]!;
    const replaced = await client.send('PUT', `${stack.gw.admin}/api/models/${MODEL}/pools/1/replicas`, JSON.stringify({ replicas: [replacement.url] }), auth);
    assert.equal(replaced.status, 200, replaced.text);
    const view = replaced.json<View>().pools.find((p) => p.version === 1)!;
    assert.deepEqual(view.replicas.map((r) => [r.url, r.health]), [[replacement.url, 'up']], 'the answer shows the new replica alone, checked');
    replacement.clearFaults();
    const atSwap = old.counters().byOperation.predict;
    await waitFor(() => replacement.counters().byOperation.predict > 100, 10_000, 'traffic to the replacement');
    assert.ok(old.counters().byOperation.predict <= atSwap + 6, 'the old replica gets nothing new once replaced');
  } finally {
    const result = await load.stop();
    await client.close();
    await stack.close();
    await replacement.close();
    assert.deepEqual(result.failures.slice(0, 3), [], `${result.failures.length} failed`);
  }
});

test('the configuration file: a change (and SIGHUP) adds and removes replicas in a running gateway', async () => {
  const sims: SimulatorHandle[] = [];
  for (let i = 0; i < 3; i++) sims.push(await startSimulator({ model: MODEL, versions: [1] }));
  const dir = mkdtempSync(join(tmpdir(), 'cg-reload-'));
  const file = join(dir, 'gateway.json');
  const write = (urls: string[]) =>
    writeFileSync(
      file,
      JSON.stringify({
        listeners: { rest: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
        healthCheck: { intervalMs: 200, timeoutMs: 150 },
        models: { [MODEL]: { pools: { '1': { replicas: urls } }, policy: { stable: 1 } } },
      }),
    );
  write([sims[0]!.url]);
  const { child, match } = await spawnNode(MAIN, ['--config', file], /REST on [\d.]+:(\d+), admin API on [\d.]+:(\d+)/, {
    env: { PATH: process.env['PATH'], LOG_LEVEL: 'warn', ADMIN_TOKEN: TEST_TOKEN },
  });
  const admin = `http://127.0.0.1:${match[2]}`;
  const client = new TestClient(16);
  const load = steadyLoad(client, [`http://127.0.0.1:${match[1]}/v1/models/${MODEL}:predict`], 4);
  const urls = async () =>
    (await client.get(`${admin}/api/models/${MODEL}`, auth)).json<View>().pools[0]!.replicas.map((r) => r.url).sort();
  try {
    write([sims[0]!.url, sims[1]!.url]);
    await waitFor(async () => (await urls()).length === 2, 5_000, 'the file change applied');
    await waitFor(() => sims[1]!.counters().byOperation.predict > 20, 5_000, 'traffic to the added replica');
    // Written without a change event reaching the gateway (a lost event), then SIGHUP.
    write([sims[1]!.url, sims[2]!.url]);
    child.kill('SIGHUP');
    await waitFor(async () => JSON.stringify(await urls()) === JSON.stringify([sims[1]!.url, sims[2]!.url].sort()), 5_000, 'SIGHUP applied');
    // A broken file changes nothing.
    writeFileSync(file, '{ "models": ');
    child.kill('SIGHUP');
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.deepEqual(await urls(), [sims[1]!.url, sims[2]!.url].sort());
  } finally {
    const result = await load.stop();
    await client.close();
    await stopChild(child);
    await Promise.all(sims.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(result.failures.slice(0, 3), [], `${result.failures.length} failed`);
  }
});

test('a DNS name with several addresses is several replicas, resolved again as the records change', async () => {
  const port = await freePort();
  const v4 = await startSimulator({ model: MODEL, versions: [1], host: '127.0.0.1', port });
  const v6 = await startSimulator({ model: MODEL, versions: [1], host: '::1', port });
  const dns = await startDnsServer({ 'tfserving-v1.models.test': ['127.0.0.1', '::1'] });
  const gw = await startTestGateway({
    dns: { servers: [`127.0.0.1:${dns.port}`], refreshMs: 300 },
    models: {
      [MODEL]: {
        pools: { '1': { replicas: [`http://tfserving-v1.models.test:${port}`] } },
        policy: { stable: 1 },
        healthCheck: { intervalMs: 200, timeoutMs: 150 },
      },
    },
  });
  const client = new TestClient(8);
  const load = steadyLoad(client, [`${gw.rest}/v1/models/${MODEL}:predict`], 4);
  const urls = async () => (await client.get(`${gw.admin}/api/models/${MODEL}`, auth)).json<View>().pools[0]!.replicas.map((r) => r.url).sort();
  try {
    assert.deepEqual(await urls(), [`http://127.0.0.1:${port}`, `http://[::1]:${port}`]);
    await waitFor(() => v4.counters().byOperation.predict > 20 && v6.counters().byOperation.predict > 20, 10_000, 'traffic to both addresses');
    dns.records.set('tfserving-v1.models.test', ['127.0.0.1']);
    await waitFor(async () => (await urls()).length === 1, 5_000, 'the address gone from DNS removed');
    const v6Count = v6.counters().byOperation.predict;
    const okNow = load.outcome.ok;
    await waitFor(() => load.outcome.ok > okNow + 200, 10_000, 'traffic after the change');
    assert.ok(v6.counters().byOperation.predict <= v6Count + 4, 'the removed address takes no new request');
  } finally {
    const result = await load.stop();
    await client.close();
    await gw.close();
    await dns.close();
    await v4.close();
    await v6.close();
    assert.deepEqual(result.failures.slice(0, 3), [], `${result.failures.length} failed`);
  }
});

test('a reload applies replica changes and names the settings it cannot apply without a restart', async () => {
  const sims = [await startSimulator({ model: MODEL, versions: [1] }), await startSimulator({ model: MODEL, versions: [1] })];
  const document = (urls: string[], healthCheck: Record<string, number>, listener: Record<string, unknown> = { host: '127.0.0.1', port: 0 }) => ({
    listeners: { rest: listener, grpc: listener, admin: listener },
    admin: {
      tokens: [
        { name: 'test-operator', token: TEST_TOKEN, role: 'operator' },
        { name: 'test-viewer', token: VIEWER_TOKEN, role: 'viewer' },
      ],
    },
    models: { [MODEL]: { pools: { '1': { replicas: urls } }, policy: { stable: 1 }, healthCheck } },
  });
  const gw = await startTestGateway(document([sims[0]!.url], { intervalMs: 200, timeoutMs: 150 }));
  const client = new TestClient(1);
  try {
    // The same settings written in another order are the same settings.
    const reordered = document([sims[0]!.url, sims[1]!.url], { timeoutMs: 150, intervalMs: 200 }, { port: 0, host: '127.0.0.1' });
    const unchanged = await gw.gateway.reload(resolveConfig(reordered, 'test', {}));
    assert.deepEqual(unchanged, [], 'a replica change alone applies whole');
    const refused = await gw.gateway.reload(resolveConfig(document([sims[1]!.url], { intervalMs: 500, timeoutMs: 150 }), 'test', {}));
    assert.equal(refused.length, 1, JSON.stringify(refused));
    assert.match(refused[0]!, /need a restart to apply: .*models\.half_plus_two\.healthCheck/);
    assert.doesNotMatch(refused[0]!, /resilience/);
    const view = (await client.get(`${gw.admin}/api/models/${MODEL}`, auth)).json<View>();
    assert.deepEqual(view.pools[0]!.replicas.map((r) => r.url), [sims[1]!.url], 'the replica change applied all the same');
  } finally {
    await client.close();
    await gw.close();
    await Promise.all(sims.map((s) => s.close()));
  }
});
