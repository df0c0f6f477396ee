/**
 * The gateway as a process: a bad configuration stops it with a message naming the field, and a
 * bare start (no configuration) runs the demo stack, answers predictions and stops cleanly.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TestClient } from '../../helpers/http.js';

const MAIN = fileURLToPath(new URL('../../../gateway/src/main.js', import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, [MAIN, ...args], {
    env: { PATH: process.env['PATH'], LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function finish(child: ChildProcess, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

test('a bad configuration file: exit code 1 and the bad fields named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-cli-'));
  try {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      [
        'listeners: { rest: { port: 99999 } }',
        'models:',
        '  half_plus_two:',
        '    pools: { "1": { replicas: [ "http://127.0.0.1:1" ] } }',
        '    policy: { stable: 1, percent: "ten" }',
        '',
      ].join('\n'),
    );
    const result = await finish(run(['--config', file]), 15_000);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /invalid configuration \(.*bad\.yaml\)/);
    assert.match(result.stderr, /\/listeners\/rest\/port: must be <= 65535/);
    assert.match(result.stderr, /\/models\/half_plus_two\/policy\/percent: must be number/);

    const viaEnv = await finish(run([], { GATEWAY_CONFIG: join(dir, 'missing.yaml') }), 15_000);
    assert.equal(viaEnv.code, 1);
    assert.match(viaEnv.stderr, /missing\.yaml.*\n.*cannot be read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('unknown flags are refused with the usage text', async () => {
  const result = await finish(run(['--colour']), 15_000);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /Usage: canary-gateway/);
});

test('no configuration: the demo starts, routes between versions, and stops on SIGTERM', async () => {
  const child = run([], { GATEWAY_REST_PORT: '0', GATEWAY_ADMIN_PORT: '0', GATEWAY_REST_HOST: '127.0.0.1' });
  const client = new TestClient(8);
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  try {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    let rest: string | undefined;
    let token: string | undefined;
    const simulators: number[] = [];
    for await (const line of lines) {
      const sim = /simulated replica http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
      if (sim) simulators.push(Number(sim[1]));
      const restMatch = /REST on [\d.]+:(\d+)/.exec(line);
      if (restMatch) rest = `http://127.0.0.1:${restMatch[1]}`;
      const tokenMatch = /admin token .*: (\S+)$/.exec(line);
      if (tokenMatch) token = tokenMatch[1];
      if (line.includes('curl -s localhost')) break;
    }
    assert.ok(rest !== undefined, `no REST line; stderr: ${stderr}`);
    assert.ok(token !== undefined && token.length >= 32, 'the generated admin token is printed once');
    assert.equal(simulators.length, 3);

    const stable = await client.post(`${rest}/v1/models/half_plus_two:predict`, '{"instances": [1.0, 2.0, 5.0]}', { 'x-canary': 'never' });
    assert.equal(stable.status, 200);
    assert.deepEqual(stable.json(), { predictions: [2.5, 3.0, 4.5] });
    assert.equal(stable.headers['x-model-version'], '1');
    const canary = await client.post(`${rest}/v1/models/half_plus_two:predict`, '{"instances": [1.0, 2.0, 5.0]}', { 'x-canary': 'always' });
    assert.deepEqual(canary.json(), { predictions: [3.5, 4.0, 5.5] });
    assert.equal(canary.headers['x-model-version'], '2');

    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
    // The simulated replicas went with it.
    for (const port of simulators) {
      await assert.rejects(client.get(`http://127.0.0.1:${port}/v1/models/half_plus_two`), /ECONNREFUSED/);
    }
  } finally {
    clearTimeout(killer);
    if (child.exitCode === null) child.kill('SIGKILL');
    await client.close();
  }
});
