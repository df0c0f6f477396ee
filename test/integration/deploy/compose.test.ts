/**
 * The Docker deployment, checked without a Docker engine: the structure of docker-compose.yml and the
 * Dockerfile, the gateway configuration the stack mounts (through the gateway's own loader), the
 * models folder the init service prepares, and the health check commands themselves, run against
 * local stand-ins (simulated TF Serving replicas, a stub admin port).
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfigFile, type GatewayConfig } from '../../../gateway/src/config/load.js';
import { GATEWAY_NODE_FLAGS } from '../../../gateway/src/runtime/heap.js';
import { startReplica, type SimulatorHandle } from '../../helpers/simulator.js';
import {
  closedPort,
  commandArgs,
  dependencies,
  durationMs,
  execForm,
  loadCompose,
  mounts,
  parseDockerfile,
  portMappings,
  readRepoFile,
  repoPath,
  run,
  startStubAdmin,
  unescapeCompose,
  type ComposeFile,
  type ComposeService,
  type Dockerfile,
} from './repo-files.js';

const compose: ComposeFile = loadCompose();
const services = compose.services;
const dockerfile: Dockerfile = parseDockerfile(readRepoFile('Dockerfile'));

const imageName = (s: ComposeService): string => (s.image ?? '').split(':')[0] ?? '';
const imageTag = (s: ComposeService): string => (s.image ?? '').split(':')[1] ?? '';
const servicesOfImage = (name: string): Array<[string, ComposeService]> =>
  Object.entries(services).filter(([, s]) => imageName(s) === name);
const namedVolumes = new Set(Object.keys(compose.volumes ?? {}));

/** The replicas: tensorflow/serving services, the model config file they read and their flags. */
function replicas(): Array<{ name: string; service: ComposeService; configFile: string; args: string[] }> {
  return servicesOfImage('tensorflow/serving').map(([name, service]) => {
    const args = [...commandArgs(service.entrypoint), ...commandArgs(service.command)];
    const flag = args.find((a) => a.startsWith('--model_config_file='));
    assert.ok(flag, `${name}: no --model_config_file= in its command`);
    return { name, service, configFile: flag.slice('--model_config_file='.length), args };
  });
}

/** The init service: the tensorflow/tensorflow job that exports the models. */
function initService(): [string, ComposeService] {
  const found = servicesOfImage('tensorflow/tensorflow');
  assert.equal(found.length, 1, 'exactly one tensorflow/tensorflow (init) service');
  return found[0]!;
}

function healthcheckTest(name: string): string[] {
  const test = services[name]?.healthcheck?.test;
  assert.ok(Array.isArray(test), `${name}: healthcheck.test is a list`);
  return [...(test as string[])];
}

/** Loads deploy/gateway.yaml as the gateway does, with no environment overrides. */
function gatewayConfig(): GatewayConfig {
  return loadConfigFile(repoPath('deploy/gateway.yaml'), {});
}

describe('docker-compose.yml', () => {
  test('every service has a health check that runs a command', () => {
    assert.ok(Object.keys(services).length >= 5, 'redis, the init service, two replicas and the gateway');
    for (const [name, service] of Object.entries(services)) {
      const hc = service.healthcheck;
      assert.ok(hc !== undefined, `${name}: no healthcheck`);
      assert.notEqual(hc.disable, true, `${name}: healthcheck disabled`);
      const test = healthcheckTest(name);
      assert.ok(test[0] === 'CMD' || test[0] === 'CMD-SHELL', `${name}: healthcheck.test starts with CMD or CMD-SHELL, got ${test[0]}`);
      assert.ok(test.length >= 2 && test.slice(1).every((a) => a.length > 0), `${name}: healthcheck has a command`);
      for (const key of ['interval', 'timeout'] as const) {
        if (hc[key] !== undefined) assert.ok(durationMs(hc[key]) > 0, `${name}: healthcheck.${key}`);
      }
    }
  });

  test('redis: append-only persistence on a named volume, a password from a compose secret, checked with an authenticated redis-cli ping', () => {
    const redis = services['redis'];
    assert.ok(redis, 'a service named redis (the gateway config names it)');
    assert.equal(imageName(redis), 'redis');
    assert.ok(imageTag(redis) !== '' && imageTag(redis) !== 'latest', 'redis image pinned to a version');
    const args = commandArgs(redis.command);
    // sh -c 'exec redis-server ...': the password is read from the secret's file at start.
    const line = args[0] === 'sh' && args[1] === '-c' ? unescapeCompose(args[2] ?? '') : args.join(' ');
    assert.match(line, /^exec redis-server /);
    assert.match(line, /--appendonly yes/);
    assert.match(line, /--requirepass "\$\(cat \/run\/secrets\/redis_password\)"/, 'requirepass from the secret file');
    assert.deepEqual(redis.secrets, ['redis_password']);
    assert.deepEqual(compose.secrets?.['redis_password'], { environment: 'REDIS_PASSWORD' });
    const data = mounts(redis).find((m) => m.target === '/data');
    assert.ok(data, 'something mounted at /data (where the official image writes)');
    assert.equal(data.bind, false, '/data is a named volume');
    assert.ok(namedVolumes.has(data.source), `volume ${data.source} is declared under volumes:`);
    const check = unescapeCompose(healthcheckTest('redis').join(' '));
    assert.match(check, /REDISCLI_AUTH="\$\(cat \/run\/secrets\/redis_password\)" redis-cli ping/);
    assert.equal(redis.ports, undefined, 'redis is not published on the host');
  });

  test('the gateway reads the Redis password from the same secret (REDIS_PASSWORD_FILE, read by the loader)', async (t) => {
    const gateway = services['gateway'];
    assert.ok(gateway);
    assert.deepEqual(gateway.secrets, ['redis_password']);
    const env = gateway.environment as Record<string, string>;
    assert.equal(env['REDIS_PASSWORD_FILE'], '/run/secrets/redis_password');
    // The loader with that variable: the password is the file's content (without its line end).
    const dir = mkdtempSync(join(tmpdir(), 'compose-secret-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const secret = join(dir, 'redis_password');
    writeFileSync(secret, 'compose-secret-password-123\n');
    const config = loadConfigFile(repoPath('deploy/gateway.yaml'), { REDIS_PASSWORD_FILE: secret });
    assert.ok(config.store.type === 'redis' && config.store.password === 'compose-secret-password-123');
    assert.throws(() => loadConfigFile(repoPath('deploy/gateway.yaml'), { REDIS_PASSWORD_FILE: join(dir, 'missing') }), /REDIS_PASSWORD_FILE:? cannot be read/);
  });

  test('the init service exports the models into a named volume with a script from the repository, and exits', () => {
    const [name, init] = initService();
    assert.ok(imageTag(init) !== '' && imageTag(init) !== 'latest', `${name}: tensorflow/tensorflow pinned to a version`);
    const args = commandArgs(init.command);
    assert.ok(args[0] === 'python3' || args[0] === 'python', `${name}: runs python, got ${args[0]}`);
    const scriptMount = mounts(init).find((m) => m.target === args[1]);
    assert.ok(scriptMount, `${name}: the script it runs (${args[1]}) is mounted into it`);
    assert.ok(scriptMount.bind && scriptMount.readOnly, 'the script is a read-only bind mount');
    assert.equal(scriptMount.source, './deploy/models/export.py');
    assert.ok(existsSync(repoPath(scriptMount.source)), `${scriptMount.source} exists`);
    const out = args[args.indexOf('--out') + 1];
    assert.equal(out, '/models');
    const models = mounts(init).find((m) => m.target === '/models');
    assert.ok(models && !models.bind && !models.readOnly && namedVolumes.has(models.source), 'the models volume, writable, at /models');
    assert.ok(init.restart === undefined || init.restart === 'no', 'a one-shot job is not restarted');
    assert.equal(init.ports, undefined);
  });

  test('two tensorflow/serving replicas, each serving the model from one base path (one model config, polled for new versions)', () => {
    const found = replicas();
    assert.equal(found.length, 2);
    assert.deepEqual(new Set(found.map((r) => r.configFile)), new Set(['/models/config/half_plus_two.config']), 'one config file for every replica');
    for (const { name, args } of found) {
      const poll = args.find((a) => a.startsWith('--file_system_poll_wait_seconds='));
      assert.ok(poll !== undefined && Number(poll.split('=')[1]) > 0, `${name}: polls the base path for new versions (--file_system_poll_wait_seconds)`);
    }
    const [, init] = initService();
    const tags = new Set(found.map((r) => imageTag(r.service)));
    assert.equal(tags.size, 1, 'one TF Serving version for every replica');
    const [tag] = tags;
    assert.ok(tag !== undefined && tag !== '' && tag !== 'latest', 'tensorflow/serving pinned to a version');
    assert.equal(tag, imageTag(init), 'the models are exported by the TensorFlow version that serves them');
    const [initName] = initService();
    for (const { name, service, configFile } of found) {
      assert.equal(dependencies(service)[initName], 'service_completed_successfully', `${name} waits for ${initName} to complete`);
      const models = mounts(service).find((m) => m.target === '/models');
      assert.ok(models && !models.bind && models.readOnly, `${name}: the models volume, read-only, at /models`);
      assert.equal(models.source, mounts(init).find((m) => m.target === '/models')?.source, `${name}: the volume the init service fills`);
      assert.ok(configFile.startsWith('/models/config/'), `${name}: its model config is in the models volume`);
      assert.equal(service.container_name, undefined);
      assert.equal(service.ports, undefined, `${name} is reached through the gateway, not published`);
    }
  });

  test('the replicas\' health checks predict on the model\'s latest version (the versions change under a replica)', () => {
    for (const { name, service } of replicas()) {
      const test = healthcheckTest(name);
      assert.equal(test[0], 'CMD');
      assert.equal(test[1], 'bash', `${name}: the image has bash but no curl or wget`);
      const script = mounts(service).find((m) => m.target === test[2]);
      assert.ok(script && script.bind && script.readOnly, `${name}: the health check script is mounted read-only`);
      assert.equal(script.source, './deploy/tfserving/healthcheck.sh');
      assert.deepEqual(test.slice(3), ['half_plus_two', 'latest', 'any'], `${name}: a prediction on the newest version, whatever its answer`);
      assert.ok(durationMs(service.healthcheck?.start_period ?? '0s') >= 30_000, `${name}: a start period for loading the model`);
    }
  });

  test('the gateway: built here, configured by deploy/gateway.yaml, token from the environment', () => {
    const gateway = services['gateway'];
    assert.ok(gateway, 'a service named gateway');
    const context = typeof gateway.build === 'string' ? gateway.build : gateway.build?.context;
    assert.equal(context, '.', 'built from the repository Dockerfile');
    const args = commandArgs(gateway.command);
    const configPath = args[args.indexOf('--config') + 1];
    assert.ok(args.includes('--config') && configPath !== undefined, 'started with --config FILE (otherwise the image runs the demo)');
    const config = mounts(gateway).find((m) => m.target === configPath);
    assert.ok(config, `something is mounted at ${configPath}`);
    assert.deepEqual([config.source, config.bind, config.readOnly], ['./deploy/gateway.yaml', true, true]);
    const env = gateway.environment;
    assert.ok(env !== undefined && !Array.isArray(env), 'environment as a map');
    assert.match(String((env as Record<string, unknown>)['ADMIN_TOKEN']), /^\$\{ADMIN_TOKEN(:?[-?].*)?\}$/, 'ADMIN_TOKEN comes from the environment of `docker compose`');
  });

  test('the gateway scales: no container_name, published port ranges starting at 8501 and 9901', () => {
    const gateway = services['gateway']!;
    assert.equal(gateway.container_name, undefined, 'a container_name forbids --scale');
    const ports = portMappings(gateway);
    for (const target of [8501, 9901]) {
      const mapping = ports.find((p) => p.target === target);
      assert.ok(mapping, `port ${target} published`);
      assert.ok(mapping.published, `port ${target} has a host port`);
      const [first, last] = mapping.published;
      assert.equal(first, target, `the first instance gets host port ${target}`);
      assert.ok(last - first >= 2, `a range of host ports for port ${target} (room for --scale gateway=3)`);
    }
    assert.equal(ports.find((p) => p.target === 9901)?.hostIp, '127.0.0.1', 'the admin port on the host loopback only');
    const grpc = ports.find((p) => p.target === 8500)?.published;
    assert.ok(grpc !== undefined && grpc[1] - grpc[0] >= 2, 'gRPC published, a range (room for --scale gateway=3)');
    const rest = ports.find((p) => p.target === 8501)?.published ?? [0, 0];
    assert.ok(grpc[1] < rest[0] || grpc[0] > rest[1], 'its range apart from the REST range');
  });

  test('the gateway waits for a healthy Redis and healthy replicas', () => {
    const deps = dependencies(services['gateway']!);
    assert.equal(deps['redis'], 'service_healthy');
    for (const { name } of replicas()) assert.equal(deps[name], 'service_healthy', `gateway waits for ${name}`);
  });

  test('the gateway has time to drain on docker compose stop', () => {
    const gateway = services['gateway']!;
    const { shutdown } = gatewayConfig() as unknown as { shutdown?: { readinessDelayMs?: number; drainTimeoutMs?: number } };
    const needed = (shutdown?.readinessDelayMs ?? 0) + (shutdown?.drainTimeoutMs ?? 30_000);
    assert.ok(gateway.stop_grace_period !== undefined, 'stop_grace_period set (Docker kills after 10 s by default)');
    assert.ok(durationMs(gateway.stop_grace_period) >= needed + 5_000, `stop_grace_period ${gateway.stop_grace_period} covers the drain (${needed} ms) with a margin`);
  });

  test('bind mounts name files of the repository; named volumes are declared', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const m of mounts(service)) {
        if (m.bind) assert.ok(existsSync(repoPath(m.source)), `${name}: ${m.source} exists`);
        else assert.ok(namedVolumes.has(m.source), `${name}: volume ${m.source} is declared`);
      }
    }
  });
});

describe('deploy/gateway.yaml', () => {
  test('passes the gateway\'s own configuration loader', () => {
    const config = gatewayConfig();
    assert.deepEqual(config.rest, { host: '0.0.0.0', port: 8501 });
    assert.deepEqual(config.admin, { host: '0.0.0.0', port: 9901 }, 'reachable through the published port');
    assert.equal(config.store.type, 'redis');
  });

  test('its store is the compose file\'s redis service', () => {
    const config = gatewayConfig();
    assert.equal(config.store.type, 'redis');
    const url = new URL(config.store.type === 'redis' ? (config.store.url ?? '') : '');
    assert.ok(services[url.hostname], `redis host ${url.hostname} is a compose service`);
    assert.equal(url.port === '' ? 6379 : Number(url.port), 6379);
  });

  test('the model discovers its versions on the replicas the compose file defines, no pool per version', () => {
    const model = gatewayConfig().models.find((m) => m.name === 'half_plus_two');
    assert.ok(model, 'model half_plus_two');
    assert.deepEqual(model.pools, [], 'versions come from the replicas, not from the file');
    assert.ok(model.discover !== null, 'discover');
    const names = new Set(replicas().map((r) => r.name));
    for (const { url: origin, grpcPort } of model.discover.replicas) {
      const url = new URL(origin);
      assert.equal(url.port, '8501', `${origin}: TF Serving's REST port`);
      assert.equal(grpcPort, 8500, `${origin}: TF Serving's gRPC port`);
      assert.ok(names.has(url.hostname), `${origin}: ${url.hostname} is a tensorflow/serving service`);
    }
    assert.deepEqual(model.discover.replicas.map((r) => new URL(r.url).hostname).sort(), [...names].sort(), 'every replica is polled');
    assert.ok(model.discover.minShare > 0 && model.discover.minShare <= 1);
  });

  test('its policy: stable 2 (the newest export), new versions rolled out by a plan with a shadow stage, an x-canary header rule and a sticky key', () => {
    const policy = gatewayConfig().models[0]!.policy;
    assert.equal(policy.stable, 2);
    assert.equal(policy.canary, null);
    const plan = policy.onNewVersion?.plan;
    assert.ok(plan !== undefined, 'onNewVersion with a plan');
    assert.ok(plan.shadow !== undefined && plan.shadow.minAgreement >= 0.99, 'a shadow stage first: a version that answers differently is rejected before anyone is served by it');
    assert.equal(plan.steps.at(-1), 100);
    assert.ok(policy.headerRules.some((r) => r.header === 'x-canary'));
    assert.ok(policy.sticky !== null && (policy.sticky.header !== undefined || policy.sticky.cookie !== undefined));
  });
});

describe('deploy/models/export.py', () => {
  let out = '';
  before(() => {
    out = mkdtempSync(join(tmpdir(), 'canary-gateway-models-'));
  });
  after(() => rmSync(out, { recursive: true, force: true }));

  test('writes one TF Serving model config: the model from one base path, the 2 newest versions (latest 2)', async (t) => {
    const python = await run('python3', ['--version']).catch(() => undefined);
    if (python === undefined || python.code !== 0) {
      t.skip('python3 is not installed');
      return;
    }
    // --configs-only: the config files without TensorFlow (the image has it; this machine does not).
    const result = await run('python3', [repoPath('deploy/models/export.py'), '--configs-only', '--out', out]);
    assert.equal(result.code, 0, result.stderr);
    const [, init] = initService();
    const initOut = commandArgs(init.command)[commandArgs(init.command).indexOf('--out') + 1] as string;
    for (const { name, configFile } of replicas()) {
      // The replica reads /models/config/half_plus_two.config; the script wrote it under <out>.
      assert.ok(configFile.startsWith(`${initOut}/`), `${name}: ${configFile} is under the init service's --out`);
      const text = readFileSync(join(out, configFile.slice(initOut.length + 1)), 'utf8');
      assert.match(text, /^model_config_list \{/);
      assert.match(text, /name: "half_plus_two"/);
      assert.match(text, /model_platform: "tensorflow"/);
      const basePath = /base_path: "([^"]+)"/.exec(text)?.[1];
      assert.equal(basePath, join(out, 'half_plus_two'), 'base_path is the model folder under --out');
      assert.match(text, /model_version_policy \{\s*latest \{\s*num_versions: 2\s*\}\s*\}/);
      assert.doesNotMatch(text, /specific/, 'no version pinned: new exports under the base path are loaded');
    }
  });

  /** Runs export.py with the TensorFlow stand-in (fake-tensorflow/) first on PYTHONPATH. */
  function exportWithFakeTf(dir: string, extra: readonly string[] = [], env: NodeJS.ProcessEnv = {}) {
    return run('python3', [repoPath('deploy/models/export.py'), '--out', dir, ...extra], {
      ...process.env,
      ...env,
      PYTHONPATH: repoPath('test/integration/deploy/fake-tensorflow'),
      PYTHONDONTWRITEBYTECODE: '1', // no __pycache__ left in the repository
    });
  }

  test('exports version 1 as y = 0.5x + 2 and version 2 as y = 0.5x + 3, signature serving_default x -> y', async (t) => {
    const python = await run('python3', ['--version']).catch(() => undefined);
    if (python === undefined || python.code !== 0) {
      t.skip('python3 is not installed');
      return;
    }
    const dir = join(out, 'full');
    const first = await exportWithFakeTf(dir);
    assert.equal(first.code, 0, first.stderr);
    const expected: Record<string, number[]> = { '1': [2.5, 3, 4.5], '2': [3.5, 4, 5.5] };
    for (const [version, predictions] of Object.entries(expected)) {
      const saved = JSON.parse(readFileSync(join(dir, 'half_plus_two', version, 'saved_model.pb'), 'utf8')) as {
        signatures: Record<string, { inputs: Record<string, { dtype: string; shape: unknown }>; outputs: string[]; probe: Record<string, number[]> }>;
      };
      assert.deepEqual(Object.keys(saved.signatures), ['serving_default'], `version ${version}: one signature, serving_default`);
      const signature = saved.signatures['serving_default']!;
      assert.deepEqual(signature.inputs, { x: { dtype: 'float32', shape: [null] } }, `version ${version}: input x, float, a batch of scalars`);
      assert.deepEqual(signature.outputs, ['y']);
      assert.deepEqual(signature.probe['y'], predictions, `version ${version} predicts ${predictions.join(', ')} for 1, 2, 5`);
    }
    const leftovers = readdirSync(dir).filter((f) => f.startsWith('.staging'));
    assert.deepEqual(leftovers, [], 'no staging folder left behind');
    assert.deepEqual(readdirSync(join(dir, 'half_plus_two')).sort(), ['1', '2'], 'only numbered version folders under the model (TF Serving reads them)');

    // A second run (the next `docker compose up`) finds them up to date and exports nothing.
    const before = statSync(join(dir, 'half_plus_two', '1', 'saved_model.pb')).mtimeMs;
    const second = await exportWithFakeTf(dir);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /up to date/);
    assert.equal(statSync(join(dir, 'half_plus_two', '1', 'saved_model.pb')).mtimeMs, before);
    assert.ok(existsSync(join(dir, 'config', 'half_plus_two.config')));

    // One more version, as docs/operations.md adds version 3: only it is exported, into the base path.
    const third = await exportWithFakeTf(dir, ['--version', '3', '--intercept', '3']);
    assert.equal(third.code, 0, third.stderr);
    assert.deepEqual(readdirSync(join(dir, 'half_plus_two')).sort(), ['1', '2', '3']);
    assert.equal(statSync(join(dir, 'half_plus_two', '1', 'saved_model.pb')).mtimeMs, before, 'the others untouched');
    const v3 = JSON.parse(readFileSync(join(dir, 'half_plus_two', '3', 'saved_model.pb'), 'utf8')) as { signatures: Record<string, { probe: Record<string, number[]> }> };
    assert.deepEqual(v3.signatures['serving_default']?.probe['y'], [3.5, 4, 5.5], 'version 3 answers as version 2');
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('.staging')), []);
    const again = await exportWithFakeTf(dir, ['--version', '3', '--intercept', '4']);
    assert.notEqual(again.code, 0, 'a version number is never reused');
    assert.match(again.stderr + again.stdout, /exists/);
    const half = await exportWithFakeTf(dir, ['--version', '4']);
    assert.notEqual(half.code, 0);
    assert.match(half.stderr, /--version and --intercept go together/);
  });

  test('a model that does not answer as expected fails the export, and no version is put in place', async (t) => {
    const python = await run('python3', ['--version']).catch(() => undefined);
    if (python === undefined || python.code !== 0) {
      t.skip('python3 is not installed');
      return;
    }
    const dir = join(out, 'wrong');
    const result = await exportWithFakeTf(dir, [], { FAKE_TF_WRONG_ANSWER: '1' });
    assert.notEqual(result.code, 0, 'the init service exits non-zero, so the replicas never start');
    assert.match(result.stderr + result.stdout, /expected \[2\.5, 3\.0, 4\.5\]/);
    assert.ok(!existsSync(join(dir, 'half_plus_two', '1')), 'version 1 not in place');
    assert.ok(!existsSync(join(dir, 'config', 'half_plus_two.config')), 'no model config either');
  });
});

describe('health check commands', () => {
  const started: SimulatorHandle[] = [];
  let v1: SimulatorHandle;
  let v2: SimulatorHandle;
  let both: SimulatorHandle;
  let loading: SimulatorHandle;
  before(async () => {
    v1 = await startReplica({ model: 'half_plus_two', versions: [1], behaviour: 'half_plus_two' });
    v2 = await startReplica({ model: 'half_plus_two', versions: [2], behaviour: 'half_plus_three' });
    // What a compose replica serves at first: versions 1 and 2 from one base path.
    both = await startReplica({ model: 'half_plus_two', versions: [1, 2], behaviours: { 2: 'half_plus_three' } });
    loading = await startReplica({ model: 'half_plus_two', versions: [1], behaviour: 'half_plus_two', versionStates: { '1': 'LOADING' } });
    started.push(v1, v2, both, loading);
  });
  after(async () => {
    await Promise.all(started.map((s) => s.close()));
  });

  /** Runs a replica's compose health check (its script from the repository) against a port. */
  async function replicaCheck(name: string, port: number): Promise<number | null> {
    const test = healthcheckTest(name);
    const script = mounts(services[name]!).find((m) => m.target === test[2]);
    assert.ok(script);
    const args = test.slice(3).map(unescapeCompose);
    return scriptCheck(script.source, args, port);
  }

  async function scriptCheck(source: string, args: readonly string[], port: number): Promise<number | null> {
    const result = await run('bash', [repoPath(source), ...args, String(port)]);
    return result.code;
  }

  test('a compose replica is healthy when the model\'s latest version answers a prediction', async () => {
    for (const { name } of replicas()) {
      assert.equal(await replicaCheck(name, both.port), 0, `${name}: versions 1 and 2 loaded`);
      assert.equal(await replicaCheck(name, v1.port), 0, `${name}: one version loaded`);
      assert.equal(await replicaCheck(name, loading.port), 1, `${name}: its only version still LOADING (404 Latest)`);
      assert.equal(await replicaCheck(name, await closedPort()), 1, `${name}: nothing listening (the model server is still loading)`);
    }
    const other = await startReplica({ model: 'another_model', versions: [1] });
    started.push(other);
    assert.equal(await replicaCheck(replicas()[0]!.name, other.port), 1, 'the model is not served');
  });

  test('the script with a version and an answer: healthy only when that version answers it', async () => {
    const script = './deploy/tfserving/healthcheck.sh';
    assert.equal(await scriptCheck(script, ['half_plus_two', '1', '2.5'], v1.port), 0, 'version 1 answering 2.5');
    assert.equal(await scriptCheck(script, ['half_plus_two', '2', '3.5'], both.port), 0, 'version 2 answering 3.5');
    assert.equal(await scriptCheck(script, ['half_plus_two', '1', '2.5'], v2.port), 1, 'a replica without version 1 (404)');
    assert.equal(await scriptCheck(script, ['half_plus_two', '1', '2.5'], loading.port), 1, 'version 1 still LOADING');
    // A version 1 that computes half_plus_three: the wrong model was exported or mounted.
    const wrong = await startReplica({ model: 'half_plus_two', versions: [1], behaviour: 'half_plus_three' });
    started.push(wrong);
    assert.equal(await scriptCheck(script, ['half_plus_two', '1', '2.5'], wrong.port), 1);
    assert.equal(await scriptCheck(script, ['half_plus_two', 'latest', '3.5'], both.port), 0, 'latest is version 2');
  });

  /** The gateway's health check (compose or Dockerfile) with the admin port set to a stub. */
  async function gatewayCheck(command: readonly string[], port: number): Promise<number | null> {
    assert.deepEqual(command.slice(0, 2), ['node', '-e'], 'node -e: slim images have no curl');
    const script = unescapeCompose(command[2] as string);
    const result = await run(process.execPath, ['-e', script], { ...process.env, GATEWAY_ADMIN_PORT: String(port) });
    return result.code;
  }

  test('the image\'s HEALTHCHECK asks /healthz on the admin port and fails on anything but 2xx', async () => {
    const runtime = dockerfile.stages[dockerfile.stages.length - 1]!;
    const healthcheck = runtime.instructions.find((i) => i.keyword === 'HEALTHCHECK');
    assert.ok(healthcheck, 'HEALTHCHECK in the runtime stage');
    const command = execForm(healthcheck.args.slice(healthcheck.args.indexOf('CMD ')));
    const stub = await startStubAdmin({ '/healthz': 200, '/readyz': 503 });
    try {
      assert.equal(await gatewayCheck(command, stub.port), 0);
      assert.deepEqual(stub.requests, ['GET /healthz']);
      stub.statuses.set('/healthz', 503);
      assert.equal(await gatewayCheck(command, stub.port), 1);
    } finally {
      await stub.close();
    }
    assert.equal(await gatewayCheck(command, await closedPort()), 1, 'no gateway listening');
  });

  test('the compose health check of the gateway asks /readyz and fails while not ready', async () => {
    const test = healthcheckTest('gateway');
    assert.equal(test[0], 'CMD');
    const command = test.slice(1);
    const stub = await startStubAdmin({ '/healthz': 200, '/readyz': 200 });
    try {
      assert.equal(await gatewayCheck(command, stub.port), 0);
      assert.deepEqual(stub.requests, ['GET /readyz']);
      stub.statuses.set('/readyz', 503);
      assert.equal(await gatewayCheck(command, stub.port), 1, 'not ready: unhealthy');
    } finally {
      await stub.close();
    }
    assert.equal(await gatewayCheck(command, await closedPort()), 1);
  });
});

describe('Dockerfile', () => {
  const stages = dockerfile.stages;
  const runtime = stages[stages.length - 1]!;
  const of = (keyword: string) => runtime.instructions.filter((i) => i.keyword === keyword);

  test('several stages; the runtime stage is a Node 22 slim image', () => {
    assert.ok(stages.length >= 2, `multi-stage, got ${stages.length}`);
    const args = new Map(dockerfile.preamble.filter((i) => i.keyword === 'ARG').map((i) => i.args.split('=') as [string, string]));
    const base = runtime.base.replace(/^\$\{(\w+)\}$/, (_m, name: string) => args.get(name) ?? '');
    assert.match(base, /^node:22[.\d]*-[a-z]+-slim$|^gcr\.io\/distroless\/nodejs22/, `runtime base ${base}`);
  });

  test('the runtime stage runs as a non-root user, given by number', () => {
    const users = of('USER');
    assert.ok(users.length > 0, 'USER in the runtime stage');
    const user = users[users.length - 1]!.args.split(':')[0] ?? '';
    assert.ok(user !== 'root' && user !== '0', `USER ${user} is not root`);
    assert.match(user, /^\d+$/, 'numeric, so Kubernetes runAsNonRoot can verify it');
    const entry = runtime.instructions.findIndex((i) => i.keyword === 'ENTRYPOINT');
    const lastUser = runtime.instructions.lastIndexOf(users[users.length - 1]!);
    assert.ok(lastUser >= 0 && lastUser < entry, 'USER comes before the ENTRYPOINT');
  });

  test('the runtime stage has a HEALTHCHECK, exposes 8501 and 9901, carries labels and starts the gateway', () => {
    assert.equal(of('HEALTHCHECK').length, 1);
    assert.match(of('HEALTHCHECK')[0]!.args, /--interval=\d+s/);
    const exposed = of('EXPOSE').flatMap((i) => i.args.split(' '));
    assert.ok(exposed.includes('8501') && exposed.includes('8500') && exposed.includes('9901'), `EXPOSE ${exposed.join(' ')}`);
    const labels = of('LABEL').map((i) => i.args).join(' ');
    for (const key of ['org.opencontainers.image.title', 'org.opencontainers.image.licenses', 'org.opencontainers.image.version']) {
      assert.ok(labels.includes(key), `LABEL ${key}`);
    }
    const entrypoint = execForm(of('ENTRYPOINT')[0]!.args);
    assert.deepEqual(entrypoint, ['node', ...GATEWAY_NODE_FLAGS, 'dist/gateway/src/main.js'], 'exec form: node is PID 1 and gets SIGTERM');
  });

  test('the runtime stage ships production dependencies, the built gateway and admin UI and the .proto files only', () => {
    const copies = of('COPY').map((i) => i.args);
    const fromStage = (dest: string) => copies.find((c) => c.startsWith('--from=') && c.split(' ').at(-1)?.replace(/\/$/, '') === dest);
    for (const dir of ['./dist/gateway', './dist/admin-ui']) {
      assert.ok(fromStage(dir), `COPY --from=<build> ... ${dir}`);
    }
    assert.ok(
      !copies.some((c) => / (\.\/)?dist\/(test|scripts|simulator|demo)\b/.test(c) || /^(\.\/)?(test|gateway|scripts|simulator|demo|admin-ui)\b/.test(c)),
      'no sources, tests, tools, simulator or demo copied into the runtime',
    );
    const modules = fromStage('./node_modules');
    assert.ok(modules, 'node_modules copied from another stage');
    const depsStage = stages.find((s) => s.name === /--from=(\S+)/.exec(modules)?.[1]);
    assert.ok(depsStage, 'the stage node_modules comes from');
    const install = depsStage.instructions.filter((i) => i.keyword === 'RUN' && /npm ci/.test(i.args));
    assert.ok(install.length > 0 && install.every((i) => /--omit=dev/.test(i.args)), 'installed with npm ci --omit=dev');
    assert.ok(!of('RUN').some((i) => /npm (ci|install)/.test(i.args)), 'nothing installed in the runtime stage itself');
    assert.ok(copies.some((c) => /^package\.json\b/.test(c)), 'package.json (the gateway reads its version from it)');
    assert.ok(copies.some((c) => /^protos\b/.test(c)), 'protos/ (the gRPC listener loads them at start)');
  });

  test('the image as the runtime stage lays it out: no configuration is a clear error (no demo), validate checks the compose file', async (t) => {
    // The runtime stage's files, copied as its COPY lines say (node_modules linked: same packages).
    const root = mkdtempSync(join(tmpdir(), 'image-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    for (const copy of of('COPY').map((i) => i.args.split(' '))) {
      const source = (copy.find((a) => !a.startsWith('--')) as string).replace(/^\/app\//, '');
      const target = copy.at(-1) as string;
      // As COPY does: a destination ending in / is a directory the source goes into.
      const dest = join(root, target.endsWith('/') ? join(target, basename(source)) : target);
      mkdirSync(dirname(dest), { recursive: true });
      if (source === 'node_modules') symlinkSync(repoPath('node_modules'), dest);
      else cpSync(repoPath(source), dest, { recursive: true });
    }
    assert.ok(existsSync(join(root, 'dist/gateway/src/main.js')), 'the entry point is in the image');
    const [command, ...args] = execForm(of('ENTRYPOINT')[0]!.args);
    const bare = await run(command === 'node' ? process.execPath : (command as string), args, { PATH: process.env['PATH'] }, 20_000, root);
    assert.equal(bare.code, 2, `exit code; stdout: ${bare.stdout}; stderr: ${bare.stderr}`);
    assert.match(bare.stderr, /no configuration: pass --config FILE or set GATEWAY_CONFIG/);
    assert.doesNotMatch(bare.stdout, /demo|listening|REST on/, 'nothing started');
    const config = join(root, 'gateway.yaml');
    cpSync(repoPath('deploy/gateway.yaml'), config);
    const validate = await run(process.execPath, [...args, 'validate', '--config', config], { PATH: process.env['PATH'] }, 20_000, root);
    assert.equal(validate.code, 0, validate.stderr);
    assert.match(validate.stdout, /gateway\.yaml: valid/);
  });

  test('a build stage installs every dependency and runs the build (TypeScript and the admin UI)', () => {
    const build = stages.find((s) => s.instructions.some((i) => i.keyword === 'RUN' && /npm run build\b/.test(i.args)));
    assert.ok(build, 'a stage runs npm run build');
    assert.ok(build !== runtime);
    const ci = build.instructions.find((i) => i.keyword === 'RUN' && /npm ci/.test(i.args));
    assert.ok(ci && !/--omit=dev/.test(ci.args), 'npm ci with the dev dependencies (tsc, vite)');
    const copied = build.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args.split(' ')[0]);
    for (const needed of ['gateway', 'admin-ui', 'tsconfig.json']) assert.ok(copied.includes(needed), `COPY ${needed}`);
    for (const left of ['scripts', 'simulator', 'demo', 'test']) assert.ok(!copied.includes(left), `${left}/ is not part of the image`);
  });

  test('the sources the build stage copies import nothing it leaves out (tools, simulator, demo, tests): tsc would fail in the image', () => {
    const build = stages.find((s) => s.instructions.some((i) => i.keyword === 'RUN' && /npm run build\b/.test(i.args)));
    assert.ok(build, 'a stage runs npm run build');
    const copied = build.instructions.filter((i) => i.keyword === 'COPY').map((i) => (i.args.split(' ')[0] ?? '').replace(/^\.\//, ''));
    const dirs = copied.filter((c) => existsSync(repoPath(c)) && statSync(repoPath(c)).isDirectory());
    const inside = (file: string): boolean => dirs.some((d) => file === repoPath(d) || file.startsWith(`${repoPath(d)}/`));
    const outside: string[] = [];
    let scanned = 0;
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          if (entry.name !== 'node_modules') walk(path);
        } else if (/\.tsx?$/.test(entry.name)) {
          scanned++;
          const text = readFileSync(path, 'utf8');
          for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)) {
            const target = join(dirname(path), m[1] as string);
            if (!inside(target)) outside.push(`${path.slice(repoPath('.').length + 1)} imports ${m[1] as string}`);
          }
        }
      }
    };
    for (const d of dirs) walk(repoPath(d));
    assert.ok(scanned > 50, `scanned ${scanned} source files in ${dirs.join(', ')}`);
    assert.deepEqual(outside, []);
  });

  test('.dockerignore keeps local builds, dependencies, git and secrets out, and nothing the build copies', () => {
    const ignored = readRepoFile('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    for (const entry of ['node_modules', 'dist', '.git', '.env']) assert.ok(ignored.includes(entry), `.dockerignore lists ${entry}`);
    const sources = stages.flatMap((s) => s.instructions)
      .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from='))
      .flatMap((i) => i.args.split(' ').slice(0, -1));
    for (const source of sources) {
      assert.ok(!ignored.some((entry) => entry === source || entry === `${source.split('/')[0]}`), `${source} is copied by the Dockerfile but ignored`);
    }
  });
});
