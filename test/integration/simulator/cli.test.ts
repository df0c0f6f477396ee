/**
 * The tfserving-sim CLI as a child process: its listening line, flags, signals, parent
 * disconnection and the load delay seen from outside.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { tfServingClient } from '../../helpers/grpc-client.js';
import { SIMULATOR_MAIN, spawnReplica } from '../../helpers/simulator.js';
import { errorOf, freePort, get, isRefused, post, sleep } from './http-client.js';

const T = { timeout: 30_000 };

test('prints one listening line with the real port, serves TF REST, exits 0 on SIGTERM', T, async (t) => {
  const replica = await spawnReplica({ model: 'half_plus_two', versions: [1] });
  t.after(() => replica.stop());
  assert.equal(replica.line, `tfserving-sim listening on http://127.0.0.1:${replica.port} model=half_plus_two versions=1 behaviour=half_plus_two`);
  const r = await post(replica.url, '/v1/models/half_plus_two:predict', '{"instances":[1.0,2.0,5.0]}');
  assert.deepEqual(JSON.parse(r.body), { predictions: [2.5, 3.0, 4.5] });
  // Nothing per request on stdout.
  await sleep(50);
  assert.equal(replica.stdout(), replica.line + '\n');
  assert.equal(await replica.stop(), 0);
  assert.equal(await isRefused(replica.port), true);
});

test('--grpc-port: the line gains grpc://host:port, which serves the same replica over gRPC', T, async (t) => {
  const replica = await spawnReplica({ grpcPort: 0, versions: [3] });
  t.after(() => replica.stop());
  assert.ok(replica.grpcPort !== null && replica.grpcPort !== replica.port);
  assert.equal(
    replica.line,
    `tfserving-sim listening on http://127.0.0.1:${replica.port} grpc://127.0.0.1:${replica.grpcPort} model=half_plus_two versions=3 behaviour=half_plus_two`,
  );
  const client = tfServingClient(replica.grpcAddress as string);
  t.after(() => client.close());
  const r = await client.call<{ model_version_status: unknown }>('ModelService', 'GetModelStatus', { model_spec: { name: 'half_plus_two' } });
  assert.deepEqual(r.model_version_status, [{ version: '3', state: 'AVAILABLE', status: {} }]);
  assert.equal(await replica.stop(), 0);
  assert.equal(await isRefused(replica.grpcPort), true);
});

test('SIGINT exits 0 too', T, async () => {
  const replica = await spawnReplica();
  replica.kill('SIGINT');
  const { code } = await replica.exited;
  assert.equal(code, 0);
});

test('flags choose the model, versions, behaviour, states, labels and faults', T, async (t) => {
  const replica = await spawnReplica({
    model: 'm',
    versions: [1, 2],
    behaviour: 'half_plus_three',
    versionStates: { '2': 'LOADING' },
    labels: { stable: 1 },
    faults: { errorRate: 1, errorStatus: 429, errorMessage: 'busy' },
  });
  t.after(() => replica.stop());
  assert.match(replica.line, / model=m versions=1,2 behaviour=half_plus_three$/);
  const status = JSON.parse((await get(replica.url, '/v1/models/m')).body) as { model_version_status: Array<{ version: string; state: string }> };
  assert.deepEqual(
    status.model_version_status.map((s) => `${s.version}:${s.state}`),
    ['2:LOADING', '1:AVAILABLE'],
  );
  const limited = await post(replica.url, '/v1/models/m/labels/stable:predict', '{"instances":[1.0]}');
  assert.equal(limited.status, 429);
  assert.equal(errorOf(limited), 'busy');
  // Turn the fault off at run time through the control endpoint.
  const patched = await fetch(`${replica.url}/_sim/control`, { method: 'PUT', body: '{"faults":{"errorRate":0}}' });
  assert.equal(patched.status, 200);
  const ok = await post(replica.url, '/v1/models/m/labels/stable:predict', '{"instances":[1.0]}');
  assert.deepEqual(JSON.parse(ok.body), { predictions: [3.5] });
});

test('--behaviour v=b: one version computes another model; the line names it after the default', T, async (t) => {
  const replica = await spawnReplica({ grpcPort: 0, versions: [1, 2], behaviours: { 2: 'half_plus_three' } });
  t.after(() => replica.stop());
  assert.match(replica.line, / model=half_plus_two versions=1,2 behaviour=half_plus_two,2=half_plus_three$/);
  const one = await post(replica.url, '/v1/models/half_plus_two/versions/1:predict', '{"instances":[1.0]}');
  assert.deepEqual(JSON.parse(one.body), { predictions: [2.5] });
  const latest = await post(replica.url, '/v1/models/half_plus_two:predict', '{"instances":[1.0]}');
  assert.deepEqual(JSON.parse(latest.body), { predictions: [3.5] });
  const client = tfServingClient(replica.grpcAddress as string);
  t.after(() => client.close());
  const r = await client.call<{ outputs: { y: { float_val: number[] } } }>('PredictionService', 'Predict', {
    model_spec: { name: 'half_plus_two', version: { value: 1 } },
    inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: 1 }] }, float_val: [1] } },
  });
  assert.deepEqual(r.outputs.y.float_val, [2.5]);
});

test('bad arguments: exit 2 with a message on stderr and nothing on stdout', T, async () => {
  for (const args of [['--bogus'], ['--behaviour', 'half_plus_four'], ['--behaviour', '1=half_plus_four'], ['--behaviour', 'x=half_plus_two'], ['--behaviour', '2=half_plus_three', '--port', '0'], ['--state', '1=SLEEPING', '--port', '0'], ['--error-rate', 'lots'], ['--grpc-port', '70000']]) {
    const child = spawn(process.execPath, [SIMULATOR_MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    assert.equal(code, 2, args.join(' '));
    assert.equal(out, '');
    assert.match(err, /^tfserving-sim: /);
  }
});

test('a port in use, REST or gRPC: exit 1', T, async (t) => {
  const first = await spawnReplica();
  t.after(() => first.stop());
  await assert.rejects(spawnReplica({ port: first.port }), /exited early \(code 1/);
  await assert.rejects(spawnReplica({ grpcPort: first.port }), /exited early \(code 1/);
});

test('the load delay keeps the port closed and the line unprinted until it opens', T, async (t) => {
  const port = await freePort();
  const start = Date.now();
  const pending = spawnReplica({ port, loadDelayMs: 1200 });
  await sleep(500);
  assert.equal(await isRefused(port), true);
  const replica = await pending;
  t.after(() => replica.stop());
  assert.ok(Date.now() - start >= 1150, `line after ${Date.now() - start} ms`);
  assert.equal(replica.port, port);
  assert.equal((await get(replica.url, '/v1/models/half_plus_two')).status, 200);
});

test('exits when the parent that spawned it with an IPC channel disconnects', T, async () => {
  const replica = await spawnReplica();
  replica.child.disconnect();
  const { code } = await replica.exited;
  assert.equal(code, 0);
});
