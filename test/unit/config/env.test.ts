import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ENV_VARIABLES, readEnvOverrides } from '../../../gateway/src/config/env.js';
import { resolveConfig } from '../../../gateway/src/config/load.js';
import { loadedAt, loadMinimal, MINIMAL_FILE, REDIS_STORE } from '../../helpers/config-defaults.js';

/** The file field each variable overrides, where its help states a default. */
const OVERRIDES: Readonly<Record<string, string>> = {
  GATEWAY_REST_HOST: 'listeners.rest.host',
  GATEWAY_REST_PORT: 'listeners.rest.port',
  GATEWAY_GRPC_HOST: 'listeners.grpc.host',
  GATEWAY_GRPC_PORT: 'listeners.grpc.port',
  GATEWAY_ADMIN_HOST: 'listeners.admin.host',
  GATEWAY_ADMIN_PORT: 'listeners.admin.port',
  REDIS_KEY_PREFIX: 'store.keyPrefix',
  ACCESS_LOG: 'logging.access',
};

test('the help of each variable states the default the loader fills in', () => {
  const memory = loadMinimal();
  const redis = loadMinimal({ store: REDIS_STORE });
  const stating = Object.entries(ENV_VARIABLES).filter(([, help]) => /\bdefault\b/.test(help));
  assert.deepEqual(stating.map(([name]) => name).sort(), Object.keys(OVERRIDES).sort(), 'every help that states a default is checked here');
  for (const [name, help] of stating) {
    const path = OVERRIDES[name] as string;
    const loaded = loadedAt(memory, path) ?? loadedAt(redis, path);
    assert.ok(help.includes(`(default ${String(loaded)})`), `${name}: "${help}" states the default ${String(loaded)}`);
  }
});

test('a variable with a fixed set of values refuses others, naming them', () => {
  const refused = (env: NodeJS.ProcessEnv) => {
    const result = readEnvOverrides(env);
    assert.equal(result.ok, false);
    return result.ok ? [] : result.issues;
  };
  assert.deepEqual(refused({ ACCESS_LOG: 'verbose' }), [{ path: 'ACCESS_LOG', message: 'must be "off", "errors" or "all", got "verbose"' }]);
  assert.deepEqual(refused({ GATEWAY_STORE: 'disk' }), [{ path: 'GATEWAY_STORE', message: 'must be "memory" or "redis", got "disk"' }]);
  const config = resolveConfig(MINIMAL_FILE, 'test', { ACCESS_LOG: 'errors', GATEWAY_STORE: 'memory' });
  assert.equal(config.logging.access, 'errors');
});

