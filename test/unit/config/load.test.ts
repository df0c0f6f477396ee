import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, DEFAULT_HEALTH_CHECK, DEFAULT_PROXY, DEFAULT_RESILIENCE, loadConfigFile, resolveConfig } from '../../../gateway/src/config/load.js';
import { GatewayConfigSchema, MEMORY_STORE_FIELDS } from '../../../gateway/src/config/schema.js';
import { loadedAt, loadMinimal, MINIMAL_FILE, PROBE_MODEL, REDIS_STORE, schemaDefaults } from '../../helpers/config-defaults.js';

const minimal = {
  models: {
    half_plus_two: {
      pools: { '1': { replicas: ['http://127.0.0.1:8601/'] }, '2': { replicas: ['http://127.0.0.1:8603'] } },
      policy: { stable: 1, canary: 2, percent: 10 },
    },
  },
};

const MINIMAL_MODEL = { pools: { '1': { replicas: ['http://127.0.0.1:8601'] } }, policy: { stable: 1 } };

function issues(doc: unknown, env: NodeJS.ProcessEnv = {}): Array<{ path: string; message: string }> {
  try {
    resolveConfig(doc, 'test', env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return [...err.issues];
  }
  assert.fail('expected a ConfigError');
}

test('defaults fill everything but the models', () => {
  const config = resolveConfig(minimal, 'test', {});
  assert.deepEqual(config.rest, { host: '0.0.0.0', port: 8501 });
  assert.deepEqual(config.admin, { host: '127.0.0.1', port: 9901 });
  assert.equal(config.proxy.deadlineMs, 30_000);
  assert.equal(config.proxy.maxBodyBytes, 32 * 1024 * 1024);
  assert.deepEqual(config.adminTokens, []);
  assert.deepEqual(config.store, { type: 'memory', auditMaxEntries: 10_000, resyncIntervalMs: 5_000 });
  const model = config.models[0]!;
  assert.deepEqual(model.pools.map((p) => [p.version, p.replicas, p.grpcPort]), [
    [1, [{ url: 'http://127.0.0.1:8601', grpcPort: 8500 }], 8500],
    [2, [{ url: 'http://127.0.0.1:8603', grpcPort: 8500 }], 8500],
  ]);
  assert.equal(model.policy.percent, 10);
  assert.equal(model.policy.salt, 'half_plus_two');
});

test('environment overrides ports, token and store', () => {
  const config = resolveConfig(minimal, 'test', {
    GATEWAY_REST_PORT: '18501',
    GATEWAY_ADMIN_PORT: '19901',
    ADMIN_TOKEN: 'a-token-of-twenty-chars',
    GATEWAY_STORE: 'memory',
  });
  assert.equal(config.rest.port, 18501);
  assert.equal(config.admin.port, 19901);
  assert.deepEqual(config.adminTokens, [{ name: 'admin', token: 'a-token-of-twenty-chars', role: 'operator' }]);
  assert.deepEqual(issues(minimal, { GATEWAY_REST_PORT: 'http' }).map((i) => i.path), ['GATEWAY_REST_PORT']);
  assert.deepEqual(issues(minimal, { ADMIN_TOKEN: 'short' }).map((i) => i.path), ['ADMIN_TOKEN']);
});

test('errors name the field: schema, replica URLs, policy', () => {
  const bad = structuredClone(minimal) as { models: Record<string, Record<string, unknown>>; listeners?: unknown };
  bad.listeners = { rest: { port: 70000 } };
  assert.deepEqual(issues(bad).map((i) => i.path), ['/listeners/rest/port']);

  const urls = structuredClone(minimal);
  urls.models.half_plus_two.pools['1'].replicas = ['http://127.0.0.1:8601/v1', 'http://127.0.0.1:8601', 'http://127.0.0.1:8601/'];
  const urlIssues = issues(urls);
  assert.deepEqual(urlIssues.map((i) => i.path), [
    '/models/half_plus_two/pools/1/replicas/0',
    '/models/half_plus_two/pools/1/replicas/2',
  ]);
  assert.match(urlIssues[0]!.message, /without path/);
  assert.match(urlIssues[1]!.message, /repeats/);
  const scheme = structuredClone(minimal);
  scheme.models.half_plus_two.pools['2'].replicas = ['ftp://10.0.0.1:21'];
  assert.deepEqual(issues(scheme).map((i) => i.path), ['/models/half_plus_two/pools/2/replicas/0']);

  const policy = structuredClone(minimal);
  policy.models.half_plus_two.policy.canary = 5;
  const found = issues(policy);
  assert.equal(found[0]!.path, '/models/half_plus_two/policy/canary');
  assert.match(found[0]!.message, /no pool serves version 5/);
  const lookahead = structuredClone(minimal) as { models: { half_plus_two: { policy: Record<string, unknown> } } };
  lookahead.models.half_plus_two.policy['headerRules'] = [{ header: 'x-user', regex: '^(?!guest)' }];
  const regexIssues = issues(lookahead);
  assert.deepEqual(regexIssues.map((i) => i.path), ['/models/half_plus_two/policy/headerRules/0/regex']);
  assert.match(regexIssues[0]!.message, /^is not a valid regular expression in RE2 syntax \(no lookahead, lookbehind or backreferences\): invalid or unsupported Perl syntax/);

  assert.deepEqual(issues({ models: {} }).map((i) => i.path), ['/models']);
  const badName = issues({ models: { 'bad/name': minimal.models.half_plus_two } });
  assert.deepEqual(badName.map((i) => i.path), ['/models/bad~1name']);
  assert.match(badName[0]!.message, /not a valid name/);
  const badVersion = structuredClone(minimal) as { models: { half_plus_two: { pools: Record<string, unknown> } } };
  badVersion.models.half_plus_two.pools['v3'] = { replicas: ['http://10.0.0.1:8501'] };
  assert.deepEqual(issues(badVersion).map((i) => i.path), ['/models/half_plus_two/pools/v3']);
});

test('a file: YAML read, syntax errors located', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-config-'));
  try {
    const good = join(dir, 'good.yaml');
    writeFileSync(
      good,
      ['models:', '  m:', '    pools:', '      "3": { replicas: [ "http://10.0.0.1:8501" ] }', '    policy: { stable: 3 }', ''].join('\n'),
    );
    assert.equal(loadConfigFile(good, {}).models[0]!.policy.stable, 3);
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'models:\n  m: [\n');
    assert.throws(() => loadConfigFile(broken, {}), (err: unknown) => err instanceof ConfigError && /line/.test(err.issues[0]!.message));
    assert.throws(() => loadConfigFile(join(dir, 'missing.yaml'), {}), (err: unknown) => err instanceof ConfigError && /cannot be read/.test(err.issues[0]!.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('store: REDIS_URL selects Redis, GATEWAY_STORE=memory wins, bad combinations are named', () => {
  const redis = resolveConfig(minimal, 'test', { REDIS_URL: 'redis://10.0.0.5:6379/2', REDIS_KEY_PREFIX: 'staging:' });
  assert.equal(redis.store.type, 'redis');
  assert.ok(redis.store.type === 'redis' && redis.store.url === 'redis://10.0.0.5:6379/2' && redis.store.keyPrefix === 'staging:');
  assert.equal(resolveConfig(minimal, 'test', { REDIS_URL: 'redis://x:1', GATEWAY_STORE: 'memory' }).store.type, 'memory');
  const file = resolveConfig({ ...minimal, store: { type: 'redis', sentinels: [{ host: 's1', port: 26379 }], sentinelName: 'main' } }, 'test', {});
  assert.ok(file.store.type === 'redis' && file.store.sentinelName === 'main' && file.store.keyPrefix === 'canary-gateway:');

  assert.deepEqual(issues({ ...minimal, store: { type: 'redis' } }).map((i) => i.path), ['/store']);
  assert.deepEqual(issues({ ...minimal, store: { type: 'redis', url: 'redis://a:1', cluster: [{ host: 'b', port: 1 }] } }).map((i) => i.path), ['/store']);
  assert.deepEqual(issues({ ...minimal, store: { type: 'redis', sentinels: [{ host: 's', port: 1 }] } }).map((i) => i.path), ['/store/sentinelName']);
  assert.deepEqual(issues({ ...minimal, store: { type: 'memory', url: 'redis://a:1' } }).map((i) => i.path), ['/store/url']);
  assert.deepEqual(issues(minimal, { REDIS_URL: 'http://a:1' }).map((i) => i.path), ['REDIS_URL']);
});

test('store credentials and TLS: validated, PEM files read at load, REDIS_PASSWORD and REDIS_SENTINEL_PASSWORD override the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-tls-'));
  try {
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n');
    const sentinels = { type: 'redis', sentinels: [{ host: 's1', port: 26379 }], sentinelName: 'main' };
    const config = resolveConfig(
      {
        ...minimal,
        store: { ...sentinels, username: 'gw', password: 'from-file', db: 2, tls: { caFile: ca, servername: 'redis.internal' }, sentinelPassword: 's-file', sentinelTls: {} },
      },
      'test',
      {},
    );
    assert.ok(config.store.type === 'redis');
    const { username, password, db, tls, sentinelPassword, sentinelTls } = config.store;
    assert.deepEqual(
      { username, password, db, tls, sentinelPassword, sentinelTls },
      {
        username: 'gw',
        password: 'from-file',
        db: 2,
        tls: { ca: readFileSync(ca, 'utf8'), servername: 'redis.internal', rejectUnauthorized: true },
        sentinelPassword: 's-file',
        sentinelTls: { rejectUnauthorized: true },
      },
    );
    const overridden = resolveConfig({ ...minimal, store: { ...sentinels, password: 'from-file', sentinelPassword: 's-file' } }, 'test', {
      REDIS_PASSWORD: 'from-env',
      REDIS_SENTINEL_PASSWORD: 's-env',
    });
    assert.ok(overridden.store.type === 'redis' && overridden.store.password === 'from-env' && overridden.store.sentinelPassword === 's-env');
    const fromEnv = resolveConfig(minimal, 'test', { REDIS_URL: 'redis://10.0.0.5:6379', REDIS_PASSWORD: 'p' });
    assert.ok(fromEnv.store.type === 'redis' && fromEnv.store.password === 'p');

    const url = { type: 'redis', url: 'redis://a:1' };
    const cases: Array<[Record<string, unknown>, string[]]> = [
      [{ ...url, password: '' }, ['/store/password']],
      [{ ...url, db: -1 }, ['/store/db']],
      [{ ...url, tls: { caFile: ca, verify: false } }, ['/store/tls/verify']],
      [{ ...url, tls: { rejectUnauthorized: 'no' } }, ['/store/tls/rejectUnauthorized']],
      [{ ...url, tls: { caFile: join(dir, 'missing.pem') } }, ['/store/tls/caFile']],
      [{ ...url, tls: { certFile: ca } }, ['/store/tls/keyFile']],
      [{ ...url, sentinelPassword: 'x', sentinelTls: {} }, ['/store/sentinelPassword', '/store/sentinelTls']],
      [{ type: 'redis', cluster: [{ host: 'c', port: 1 }], db: 1 }, ['/store/db']],
      [{ type: 'redis', url: 'redis://a:1/not-a-db' }, ['/store/url']],
      [{ type: 'memory', password: 'x', tls: {} }, ['/store/password', '/store/tls']],
    ];
    for (const [store, paths] of cases) assert.deepEqual(issues({ ...minimal, store }).map((i) => i.path).sort(), paths.sort(), JSON.stringify(store));
    assert.match(issues({ ...minimal, store: { ...url, tls: { caFile: join(dir, 'missing.pem') } } })[0]!.message, /cannot be read/);
    assert.deepEqual(issues(minimal, { REDIS_PASSWORD: 'p' }).map((i) => i.path), ['/store/password'], 'a password for a memory store is a mistake, said');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('admin tokens: from the file and the environment, names and tokens unique', () => {
  const withTokens = {
    ...minimal,
    admin: { tokens: [{ name: 'alice', token: 'alice-token-0123456789', role: 'operator' }, { name: 'grafana', token: 'grafana-token-0123456789', role: 'viewer' }] },
  };
  const config = resolveConfig(withTokens, 'test', { ADMIN_VIEWER_TOKEN: 'env-viewer-token-0123456789' });
  assert.deepEqual(config.adminTokens.map((t) => [t.name, t.role]), [
    ['alice', 'operator'],
    ['grafana', 'viewer'],
    ['viewer', 'viewer'],
  ]);
  const twice = { ...minimal, admin: { tokens: [{ name: 'a', token: 'same-token-0123456789', role: 'operator' }, { name: 'b', token: 'same-token-0123456789', role: 'viewer' }] } };
  assert.deepEqual(issues(twice).map((i) => i.path), ['/admin/tokens/1/token']);
  assert.deepEqual(issues({ ...minimal, admin: { tokens: [{ name: 'a', token: 'short', role: 'operator' }] } }).map((i) => i.path), ['/admin/tokens/0/token']);
  assert.deepEqual(issues({ ...minimal, admin: { tokens: [{ name: 'a', token: 'a-long-enough-token', role: 'root' }] } }).map((i) => i.path), ['/admin/tokens/0/role']);
});

test('an absent or empty section loads as the schema\'s defaults, field by field, in every section', () => {
  const defaults = schemaDefaults();
  const sections = Object.keys(GatewayConfigSchema.properties).filter((key) => key !== 'models');
  for (const section of sections) assert.ok(defaults.some((d) => d.path.startsWith(`${section}.`)), `${section} has defaults to check`);
  const absent = loadMinimal();
  const empty = loadMinimal(Object.fromEntries(sections.map((section) => [section, {}])));
  // Only a Redis store has the Redis fields, and only given TLS sections have TLS fields.
  const redis = loadMinimal({ store: REDIS_STORE });
  // Only a model that discovers has the discover fields.
  const discovering = loadMinimal({ models: { [PROBE_MODEL]: { ...MINIMAL_FILE.models[PROBE_MODEL], discover: { replicas: ['http://10.0.0.2:8501'] } } } });
  assert.deepEqual(Object.keys(absent.store).sort(), [...MEMORY_STORE_FIELDS].sort(), 'a memory store keeps only the fields that apply to it');
  for (const { path, value } of defaults) {
    for (const [name, config] of [['absent', absent], ['empty', empty]] as const) {
      const loaded =
        path.startsWith('store.') && !(MEMORY_STORE_FIELDS as readonly string[]).includes(path.slice(6))
          ? loadedAt(redis, path)
          : path.startsWith('models.<model>.discover.')
            ? loadedAt(discovering, path)
            : loadedAt(config, path);
      assert.deepEqual(loaded, value, `${path} (section ${name})`);
    }
  }
  assert.ok(defaults.length >= 60, `${defaults.length} defaults found: the walk reaches every section`);
  assert.deepEqual(absent.models[0]!.healthCheck, DEFAULT_HEALTH_CHECK);
  assert.deepEqual(absent.models[0]!.resilience, DEFAULT_RESILIENCE);
  assert.deepEqual(absent.proxy, DEFAULT_PROXY);
  assert.equal(absent.models[0]!.policy.salt, PROBE_MODEL, 'the one policy default not in the schema: the model name');
});

test('a value is settled by the schema\'s default, then the top-level section, then the model\'s own, then the environment', () => {
  const model = MINIMAL_MODEL;
  const config = resolveConfig(
    {
      healthCheck: { timeoutMs: 3000, healthyThreshold: 4 },
      resilience: { breaker: { windowSeconds: 20 }, analysis: { enabled: false } },
      listeners: { rest: { host: '10.1.1.1', port: 8000 } },
      logging: { access: 'errors' },
      models: {
        own: { ...model, healthCheck: { intervalMs: 500, healthyThreshold: 1 }, resilience: { breaker: { volumeThreshold: 3 } } },
        inherits: model,
      },
    },
    'test',
    { GATEWAY_REST_PORT: '9000', ACCESS_LOG: 'all' },
  );
  const [own, inherits] = config.models;
  assert.deepEqual(own!.healthCheck, { intervalMs: 500, timeoutMs: 3000, healthyThreshold: 1, unhealthyThreshold: DEFAULT_HEALTH_CHECK.unhealthyThreshold });
  assert.deepEqual(inherits!.healthCheck, { ...DEFAULT_HEALTH_CHECK, timeoutMs: 3000, healthyThreshold: 4 });
  assert.deepEqual(own!.resilience.breaker, { ...DEFAULT_RESILIENCE.breaker, windowSeconds: 20, volumeThreshold: 3 });
  assert.deepEqual(own!.resilience.analysis, { ...DEFAULT_RESILIENCE.analysis, enabled: false }, 'a group the model leaves out is the top-level one');
  assert.deepEqual(inherits!.resilience.breaker, { ...DEFAULT_RESILIENCE.breaker, windowSeconds: 20 });
  assert.deepEqual(config.rest, { host: '10.1.1.1', port: 9000 });
  assert.deepEqual(config.logging, { access: 'all', sampleRate: 1 });
});

test('a store without a type is the memory store, and refuses Redis fields as such', () => {
  assert.deepEqual(resolveConfig({ ...minimal, store: { auditMaxEntries: 50 } }, 'test', {}).store, { type: 'memory', auditMaxEntries: 50, resyncIntervalMs: 5_000 });
  assert.deepEqual(issues({ ...minimal, store: { url: 'redis://a:1' } }).map((i) => i.path), ['/store/url']);
  const viaEnv = resolveConfig({ ...minimal, store: { auditMaxEntries: 50 } }, 'test', { REDIS_URL: 'redis://a:1' }).store;
  assert.ok(viaEnv.type === 'redis' && viaEnv.auditMaxEntries === 50 && viaEnv.url === 'redis://a:1');
});
