/**
 * The gateway as a process: a bad configuration stops it with a message naming the field, a bare
 * start refuses to guess, `validate` checks a file without starting anything, and the demo (`npm
 * start` without arguments) runs its stack, answers predictions over REST and gRPC and stops cleanly.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Metadata } from '@grpc/grpc-js';
import { tfServingClient } from '../../helpers/grpc-client.js';
import { TestClient } from '../../helpers/http.js';

const MAIN = fileURLToPath(new URL('../../../gateway/src/main.js', import.meta.url));
const DEMO = fileURLToPath(new URL('../../../demo/src/main.js', import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv = {}, script = MAIN): ChildProcess {
  return spawn(process.execPath, [script, ...args], {
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

test('the demo (npm start without arguments) starts, serves both versions of its replicas, finds a new one, and stops on SIGTERM', async () => {
  const child = run([], { GATEWAY_REST_PORT: '0', GATEWAY_ADMIN_PORT: '0', GATEWAY_GRPC_PORT: '0', GATEWAY_REST_HOST: '127.0.0.1', GATEWAY_GRPC_HOST: '127.0.0.1' }, DEMO);
  const client = new TestClient(8);
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  try {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    let rest: string | undefined;
    let token: string | undefined;
    let grpc: string | undefined;
    let grpcExample: string | undefined;
    let adminPort: number | undefined;
    const simulators: number[] = [];
    const printed: string[] = [];
    for await (const line of lines) {
      printed.push(line);
      const adminMatch = /admin API on [\d.]+:(\d+)/.exec(line);
      if (adminMatch) adminPort = Number(adminMatch[1]);
      const sim = /simulated replica http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
      if (sim) simulators.push(Number(sim[1]));
      const restMatch = /REST on [\d.]+:(\d+)/.exec(line);
      if (restMatch) rest = `http://127.0.0.1:${restMatch[1]}`;
      const grpcMatch = /gRPC on [\d.]+:(\d+)/.exec(line);
      if (grpcMatch) grpc = `127.0.0.1:${grpcMatch[1]}`;
      if (line.includes('npm run predict:grpc')) grpcExample = line;
      const tokenMatch = /admin token .*: (\S+)$/.exec(line);
      if (tokenMatch) token = tokenMatch[1];
      if (line.includes('/rejected/')) break;
    }
    assert.ok(rest !== undefined, `no REST line; stderr: ${stderr}`);
    assert.ok(token !== undefined && token.length >= 32, 'the generated admin token is printed once');
    assert.equal(simulators.length, 2);

    // Stable is version 2; version 1, still loaded on the same replicas, is found and reachable by number.
    const stable = await client.post(`${rest}/v1/models/half_plus_two:predict`, '{"instances": [1.0, 2.0, 5.0]}');
    assert.equal(stable.status, 200);
    assert.deepEqual(stable.json(), { predictions: [2.5, 3.0, 4.5] });
    assert.equal(stable.headers['x-model-version'], '2');
    const admin = async (path: string): Promise<Record<string, unknown>> => {
      const r = await fetch(`http://127.0.0.1:${adminPort}${path}`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(r.status, 200, path);
      return (await r.json()) as Record<string, unknown>;
    };
    const until = async <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const value = await probe();
        if (value !== undefined) return value;
        assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    };
    type Versions = { discovered: number[]; candidate: { version: number; stage: string } | null };
    const versions = async (): Promise<Versions> => (await admin('/api/models/half_plus_two'))['versions'] as Versions;
    await until('versions 1 and 2 discovered', async () => ((await versions()).discovered.join() === '1,2' ? true : undefined));
    const pinned = await client.post(`${rest}/v1/models/half_plus_two/versions/1:predict`, '{"instances": [1.0]}');
    assert.deepEqual(pinned.json(), { predictions: [2.5] });
    assert.equal(pinned.headers['x-model-version'], '1');

    // The background load reaches stable with no request from this test.
    type Pool = { version: number; requestsByProtocol: { rest: number } };
    const restOf = async (version: number): Promise<number> =>
      ((await admin('/api/models/half_plus_two'))['pools'] as Pool[]).find((p) => p.version === version)?.requestsByProtocol.rest ?? 0;
    const before = await restOf(2);
    await until('background load', async () => ((await restOf(2)) >= before + 20 ? true : undefined));

    // The printed control-endpoint line makes version 3 appear on every replica: found, the candidate, in its shadow stage.
    const patchLine = printed.find((l) => l.includes('"3": {"state": "AVAILABLE"'));
    assert.ok(patchLine !== undefined, 'a line to make version 3 appear');
    const body = /-d '([^']+)'/.exec(patchLine)?.[1] ?? '';
    const urls = /for r in ([^;]+);/.exec(patchLine)?.[1]?.trim().split(/\s+/) ?? [];
    assert.deepEqual(urls.map((u) => Number(new URL(u).port)).sort(), [...simulators].sort(), 'the line names every replica');
    for (const url of urls) assert.equal((await fetch(`${url}/_sim/control`, { method: 'PUT', body })).status, 200);
    const candidate = await until('version 3 as the candidate', async () => {
      const v = await versions();
      return v.candidate?.version === 3 ? v : undefined;
    });
    assert.equal(candidate.candidate?.stage, 'shadow');

    // gRPC on its own port, routed by the same policy (the header rule read from metadata).
    assert.ok(grpc !== undefined, 'the gRPC listener is printed');
    assert.ok(grpcExample?.includes(`localhost:${grpc.split(':')[1]}`), `a gRPC example names the gRPC port: ${grpcExample}`);
    const grpcClient = tfServingClient(grpc);
    try {
      const metadata = new Metadata();
      metadata.set('x-canary', 'always');
      const request = { model_spec: { name: 'half_plus_two' }, inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: 1 }] }, float_val: [1] } } };
      const answer = await grpcClient.call<{ model_spec: { version: { value: string } }; outputs: Record<string, { float_val: number[] }> }>('PredictionService', 'Predict', request, { metadata });
      assert.ok(['2', '3'].includes(answer.model_spec.version.value), `stable 2, or candidate 3 for x-canary: always: ${answer.model_spec.version.value}`);
      assert.deepEqual(Object.values(answer.outputs).map((t) => t.float_val), [[2.5]]);
    } finally {
      grpcClient.close();
    }

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

test('no configuration: the gateway exits 2 with one clear line and starts nothing (no demo fallback)', async () => {
  const result = await finish(run([], { GATEWAY_REST_PORT: '0', GATEWAY_ADMIN_PORT: '0' }), 15_000);
  assert.equal(result.code, 2);
  assert.equal(result.stderr, 'canary-gateway: no configuration: pass --config FILE or set GATEWAY_CONFIG (canary-gateway --help; the local demo is `npm start` in a checkout)\n');
  assert.equal(result.stdout, '');
});

test('npm start with arguments is the gateway CLI itself', async () => {
  const result = await finish(run(['--version'], {}, DEMO), 15_000);
  assert.equal(result.code, 0);
  assert.equal(result.stdout, `${(JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version: string }).version}\n`);
});

test('--help and --version', async () => {
  const help = await finish(run(['--help']), 15_000);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: canary-gateway --config FILE/);
  assert.match(help.stdout, /canary-gateway validate --config FILE/);
  assert.match(help.stdout, /GATEWAY_CONFIG/);
  const version = await finish(run(['-v']), 15_000);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+\S*\n$/);
});

/** The README's complete configuration example, as a reader would copy it. */
function readmeExample(): string {
  const readme = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8');
  const match = /A complete example[^\n]*\n+```yaml\n([\s\S]*?)```/.exec(readme);
  assert.ok(match, 'the README has a complete example in a yaml block');
  return match[1] as string;
}

test('validate: the README example is valid, and the summary says what it declares without secrets', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-validate-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, readmeExample());
  const result = await finish(run(['validate', '--config', file]), 15_000);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /gateway\.yaml: valid\n/);
  assert.match(result.stdout, /listeners +REST 0\.0\.0\.0:8501, gRPC 0\.0\.0\.0:8500, admin 127\.0\.0\.1:9901/);
  assert.match(result.stdout, /store +redis redis:\/\/10\.0\.0\.5:6379\/0/);
  assert.match(result.stdout, /tokens +alice \(operator\), grafana \(viewer\)/);
  assert.match(result.stdout, /half_plus_two\n +pools +1 \(\d+ replicas?\), 2 \(\d+ replicas?\)/);
  assert.match(result.stdout, /policy +stable 1, canary 2 at \d+%/);
  assert.doesNotMatch(result.stdout, /at-least-16-characters|another-16-char-token/, 'no token appears');
  const withEnv = await finish(run(['validate', '--config', file], { GATEWAY_REST_PORT: '18501', REDIS_URL: 'redis://:s3cret-pass@10.0.0.9:6379' }), 15_000);
  assert.equal(withEnv.code, 0, withEnv.stderr);
  assert.match(withEnv.stdout, /REST 0\.0\.0\.0:18501/);
  assert.match(withEnv.stdout, /environment overrides: GATEWAY_REST_PORT, REDIS_URL/);
  assert.doesNotMatch(withEnv.stdout, /s3cret-pass/, 'the password in REDIS_URL is not printed');
});

test('validate: a broken file lists every error, schema and cross-field alike, and exits 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-validate-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'broken.yaml');
  writeFileSync(
    file,
    [
      'listeners: { rest: { port: 70000 }, admin: { host: "" } }',
      'labels: { stable: live, canary: live }',
      'models:',
      '  m1:',
      '    pools: { "1": { replicas: [ "http://10.0.0.1:8501", "http://10.0.0.1:8501" ] } }',
      '    policy: { stable: 1, canary: 5, percent: 10 }',
      '',
    ].join('\n'),
  );
  const result = await finish(run(['validate', '-c', file]), 15_000);
  assert.equal(result.code, 1);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /invalid configuration \(.*broken\.yaml\)/);
  assert.match(result.stderr, /\/listeners\/rest\/port: must be <= 65535/);
  assert.match(result.stderr, /\/listeners\/admin\/host: must NOT have fewer than 1 characters/);
  // Schema errors stop before cross-field checks, as at start-up; a file without them shows those.
  writeFileSync(
    file,
    [
      'labels: { stable: live, canary: live }',
      'models:',
      '  m1:',
      '    pools: { "1": { replicas: [ "http://10.0.0.1:8501", "http://10.0.0.1:8501" ] } }',
      '    policy: { stable: 1, canary: 5, percent: 10 }',
      '',
    ].join('\n'),
  );
  const semantic = await finish(run(['validate', '-c', file]), 15_000);
  assert.equal(semantic.code, 1);
  const lines = semantic.stderr.trim().split('\n').slice(1);
  assert.ok(lines.length >= 3, semantic.stderr);
  assert.match(semantic.stderr, /\/labels\/canary: must differ from the stable label/);
  assert.match(semantic.stderr, /\/models\/m1\/pools\/1\/replicas\/1: repeats http:\/\/10\.0\.0\.1:8501/);
  assert.match(semantic.stderr, /\/models\/m1\/policy\/canary: .*5/);
});

test('validate opens no port and never touches the store', async (t) => {
  // A "Redis" that counts connections, and a REST port already taken: serving would use both.
  let connections = 0;
  const store = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => store.listen(0, '127.0.0.1', resolve));
  t.after(() => store.close());
  const port = (store.address() as AddressInfo).port;
  const dir = mkdtempSync(join(tmpdir(), 'cg-validate-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(
    file,
    [
      `listeners: { rest: { host: 127.0.0.1, port: ${port} }, grpc: { host: 127.0.0.1, port: ${port} }, admin: { host: 127.0.0.1, port: ${port} } }`,
      `store: { type: redis, url: "redis://127.0.0.1:${port}" }`,
      'models:',
      '  m1:',
      '    pools: { "1": { replicas: [ "http://127.0.0.1:1" ] } }',
      '    policy: { stable: 1 }',
      '',
    ].join('\n'),
  );
  const result = await finish(run(['validate', '--config', file]), 15_000);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /m1\n +pools +1 \(1 replica\)/);
  assert.equal(connections, 0, 'no connection to the store');
  // The same file served: it does reach for the store (so the check above can fail).
  const served = run(['--config', file], { LOG_LEVEL: 'silent' });
  const deadline = Date.now() + 10_000;
  while (connections === 0 && Date.now() < deadline && served.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  served.kill('SIGKILL');
  assert.ok(connections > 0, 'serving the same file connects to the store');
});
