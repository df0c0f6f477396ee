/**
 * The demo's hot-update loop as demo/README.md walks through it, run for real: the demo as a child
 * process with its background load, the printed control-endpoint lines applied to its replicas.
 * Version 3 (same answers) is found, shadowed, stepped up and promoted within the minute or so the
 * README promises; version 4 (half_plus_three) is found, disagrees in the shadow stage and is
 * rejected without a client being served by it; clearing the rejection tries it again; Ctrl-C
 * (SIGINT) stops everything with exit code 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const DEMO = fileURLToPath(new URL('../../../demo/src/main.js', import.meta.url));

type Versions = { discovered: number[]; candidate: { version: number; stage: string } | null; rejected: Array<{ version: number; at: string; note: string }> };
type ModelView = { policy: { stable: number; canary: number | null }; versions: Versions; pools: Array<{ version: number; requestsByProtocol: { rest: number; grpc: number } }> };

test('demo: version 3 found and promoted, version 4 found and rejected unseen, a cleared rejection retried, SIGINT exits 0', { timeout: 170_000 }, async () => {
  const child = spawn(process.execPath, [DEMO], {
    env: { PATH: process.env['PATH'], LOG_LEVEL: 'warn', GATEWAY_REST_PORT: '0', GATEWAY_ADMIN_PORT: '0', GATEWAY_GRPC_PORT: '0', GATEWAY_REST_HOST: '127.0.0.1', GATEWAY_GRPC_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 160_000);
  try {
    const printed: string[] = [];
    for await (const line of createInterface({ input: child.stdout })) {
      printed.push(line);
      if (line.includes('/rejected/')) break;
    }
    const adminPort = Number(/admin API on [\d.]+:(\d+)/.exec(printed.join('\n'))?.[1]);
    const token = /admin token .*: (\S+)$/m.exec(printed.join('\n'))?.[1];
    assert.ok(adminPort > 0 && token !== undefined, `admin port and token printed; stderr: ${stderr}`);
    const model = async (): Promise<ModelView> => {
      const r = await fetch(`http://127.0.0.1:${adminPort}/api/models/half_plus_two`, { headers: { authorization: `Bearer ${token}` } });
      return (await r.json()) as ModelView;
    };
    const until = async <T>(what: string, seconds: number, probe: (m: ModelView) => T | undefined): Promise<T> => {
      const deadline = Date.now() + seconds * 1000;
      for (;;) {
        const value = probe(await model());
        if (value !== undefined) return value;
        assert.ok(Date.now() < deadline, `no ${what} within ${seconds} s`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    };
    const apply = async (version: string): Promise<void> => {
      const line = printed.find((l) => l.includes(`"${version}": {"state": "AVAILABLE"`));
      assert.ok(line !== undefined, `a printed line makes version ${version} appear`);
      const body = /-d '([^']+)'/.exec(line)?.[1] ?? '';
      for (const url of /for r in ([^;]+);/.exec(line)?.[1]?.trim().split(/\s+/) ?? []) {
        assert.equal((await fetch(`${url}/_sim/control`, { method: 'PUT', body })).status, 200);
      }
    };
    await until('versions 1 and 2', 10, (m) => (m.versions.discovered.join() === '1,2' && m.policy.stable === 2 ? true : undefined));

    // Version 3: promoted by the plan under the demo's own background load, no traffic from here.
    const started = Date.now();
    await apply('3');
    await until('candidate 3', 10, (m) => (m.versions.candidate?.version === 3 ? true : undefined));
    await until('promotion of version 3', 120, (m) => (m.policy.stable === 3 && m.versions.candidate === null ? true : undefined));
    const promotedAfter = (Date.now() - started) / 1000;
    assert.ok(promotedAfter < 90, `promoted after ${promotedAfter} s`);
    // latest 2: version 1 unloaded with 3's arrival, and gone from the gateway.
    await until('version 1 gone', 10, (m) => (m.versions.discovered.join() === '2,3' ? true : undefined));

    // Version 4 answers as half_plus_three: rejected in the shadow stage; no client request reached it.
    const again = Date.now();
    await apply('4');
    const rejected = await until('rejection of version 4', 60, (m) => m.versions.rejected.find((r) => r.version === 4));
    assert.match(rejected.note, /shadow stage failed/);
    assert.ok((Date.now() - again) / 1000 < 45);
    const after = await model();
    assert.equal(after.policy.stable, 3);
    assert.equal(after.versions.candidate, null);
    const pool4 = after.pools.find((p) => p.version === 4);
    assert.deepEqual(pool4?.requestsByProtocol, { rest: 0, grpc: 0 }, 'no live request served by version 4');

    // Cleared, it is the candidate again.
    const cleared = await fetch(`http://127.0.0.1:${adminPort}/api/models/half_plus_two/rejected/4`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    assert.ok(cleared.ok, `DELETE rejected: ${cleared.status}`);
    await until('candidate 4 again', 10, (m) => (m.versions.candidate?.version === 4 ? true : undefined));

    child.kill('SIGINT');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, stderr);
  } finally {
    clearTimeout(killer);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
