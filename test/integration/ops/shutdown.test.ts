/**
 * SIGTERM under steady load: readiness fails first, the REST port stops accepting, every request
 * in flight finishes, and the process exits 0 within the drain timeout.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { spawnNode } from '../../../scripts/lib/processes.js';
import { startSimulator } from '../../../simulator/src/server.js';
import { waitFor } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';

const MAIN = fileURLToPath(new URL('../../../gateway/src/main.js', import.meta.url));

test('SIGTERM under steady load: no request in flight fails, exit 0 within the drain timeout', async () => {
  // Slow replicas, so that many requests are in flight when the signal comes.
  const sims = [await startSimulator({ versions: [1], faults: { latencyMs: 200, jitterMs: 200 } }), await startSimulator({ versions: [1], faults: { latencyMs: 200, jitterMs: 200 } })];
  const dir = mkdtempSync(join(tmpdir(), 'cg-shutdown-'));
  const client = new TestClient(32);
  let running = true;
  let gateway: ChildProcess | undefined;
  try {
    const file = join(dir, 'gateway.yaml');
    writeFileSync(
      file,
      JSON.stringify({
        listeners: { rest: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
        shutdown: { readinessDelayMs: 1_000, drainTimeoutMs: 5_000 },
        models: { half_plus_two: { pools: { '1': { replicas: sims.map((s) => s.url) } }, policy: { stable: 1 } } },
      }),
    );
    const { child, match } = await spawnNode(MAIN, ['--config', file], /REST on [\d.]+:(\d+), admin API on [\d.]+:(\d+)/, {
      env: { PATH: process.env['PATH'], LOG_LEVEL: 'warn', ADMIN_TOKEN: 'shutdown-test-token-0123456789' },
    });
    gateway = child;
    const rest = `http://127.0.0.1:${match[1]}`;
    const admin = `http://127.0.0.1:${match[2]}`;
    const exited = once(child, 'exit') as Promise<[number | null, string | null]>;

    const outcomes: Array<{ startedAt: number; ok: boolean; detail: string }> = [];
    const worker = async (): Promise<void> => {
      while (running) {
        const startedAt = performance.now();
        try {
          const reply = await client.post(`${rest}/v1/models/half_plus_two:predict`, '{"instances": [1.0]}');
          outcomes.push({ startedAt, ok: reply.status === 200, detail: `${reply.status}` });
        } catch (err) {
          outcomes.push({ startedAt, ok: false, detail: String(err) });
          // Refused once the port is closed (or the client closed): this worker is done.
          return;
        }
      }
    };
    const workers = Array.from({ length: 24 }, worker);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const signalledAt = performance.now();
    child.kill('SIGTERM');
    // Readiness fails first (as soon as the signal is handled), during the readiness delay.
    await waitFor(async () => (await client.get(`${admin}/readyz`)).status === 503, 900, '/readyz to fail');
    const [code] = await exited;
    const exitMs = performance.now() - signalledAt;
    running = false;
    await Promise.all(workers);

    assert.equal(code, 0);
    assert.ok(exitMs < 6_000, `exited ${Math.round(exitMs)} ms after SIGTERM (readiness delay 1 s, drain timeout 5 s)`);
    const inFlight = outcomes.filter((o) => o.startedAt < signalledAt);
    assert.ok(inFlight.length > 50, `${inFlight.length} requests before the signal`);
    const failed = inFlight.filter((o) => !o.ok);
    assert.deepEqual(failed.slice(0, 5), [], `${failed.length} in-flight requests failed`);
    // Requests started during the readiness delay were still served.
    const duringDelay = outcomes.filter((o) => o.startedAt > signalledAt && o.startedAt < signalledAt + 250);
    assert.ok(duringDelay.some((o) => o.ok), JSON.stringify(duringDelay.slice(0, 5)));
  } finally {
    running = false;
    if (gateway !== undefined && gateway.exitCode === null && gateway.signalCode === null) gateway.kill('SIGKILL');
    await client.close();
    await Promise.all(sims.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  }
});
