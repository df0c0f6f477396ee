/**
 * docs/configuration.md is generated from the configuration schema (scripts/docs/config-reference.ts,
 * `npm run docs:config`), which also gives the loader its defaults. It must be what the script
 * renders now, so that a schema change without a regenerated reference fails here, and the defaults
 * it shows must be what the loader fills in.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { resolveConfig } from '../../../gateway/src/config/load.js';
import { CONFIG_REFERENCE_PATH, renderConfigReference } from '../../../scripts/docs/config-reference.js';
import { GatewayConfigSchema } from '../../../gateway/src/config/schema.js';
import { loadedAt, loadMinimal, REDIS_STORE, schemaDefaults } from '../../helpers/config-defaults.js';
import { readRepoFile } from './repo-files.js';

/** The rows of the reference's tables: field path -> [type, default, meaning]. */
function rows(markdown: string): Map<string, [string, string, string]> {
  const out = new Map<string, [string, string, string]>();
  for (const line of markdown.split('\n')) {
    const m = /^\| `([^`]+)` \| (.*) \| (.*) \| (.*) \|$/.exec(line);
    if (m !== null) out.set(m[1] as string, [m[2] as string, m[3] as string, m[4] as string]);
  }
  return out;
}

test(`${CONFIG_REFERENCE_PATH} is up to date with the schema (run npm run docs:config)`, () => {
  const committed = readRepoFile(CONFIG_REFERENCE_PATH);
  const generated = renderConfigReference();
  if (committed !== generated) {
    const a = committed.split('\n');
    const b = generated.split('\n');
    const at = a.findIndex((line, i) => line !== b[i]);
    assert.fail(`${CONFIG_REFERENCE_PATH} differs from what scripts/docs/config-reference.ts generates (first difference at line ${at + 1}:\n  committed: ${a[at] ?? '(end)'}\n  generated: ${b[at] ?? '(end)'}); run npm run docs:config`);
  }
});

test('every field of the schema has a row with its type and a meaning', () => {
  const table = rows(renderConfigReference());
  const schema = GatewayConfigSchema as unknown as { properties: Record<string, { properties?: Record<string, unknown> }> };
  for (const [section, node] of Object.entries(schema.properties)) {
    for (const field of Object.keys(node.properties ?? {})) {
      const path = `${section}.${field}`;
      // A field may be an object documented through its own fields only.
      const documented = table.has(path) || [...table.keys()].some((k) => k.startsWith(`${path}.`));
      assert.ok(documented, `${path} is in the reference`);
    }
  }
  for (const [path, [type]] of table) assert.notEqual(type, '', `${path}: a type`);
  const undescribed = [...table].filter(([, [, , meaning]]) => meaning === '').map(([path]) => path);
  assert.deepEqual(undescribed, [], 'fields without a meaning: give them a description in the schema');
});

test('the defaults shown are the loader\'s', () => {
  const table = rows(renderConfigReference());
  const memory = loadMinimal();
  // A Redis store with its TLS sections given: the fields only it has.
  const redis = loadMinimal({ store: REDIS_STORE });
  const shownAs = (value: unknown) => `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;
  const withDefault = [...table].filter(([, [, shown]]) => shown.startsWith('`'));
  for (const [path, [, shown]] of withDefault) {
    const loaded = loadedAt(memory, path) ?? loadedAt(redis, path);
    // A field of a section that is null unless given (a policy's shadow, a plan's shadow stage)
    // has its default once the section is given: the minimal file gives none.
    const parts = path.split('.');
    if (loaded === undefined && parts.some((_, i) => i > 0 && loadedAt(memory, parts.slice(0, i).join('.')) === null)) continue;
    assert.equal(shown, shownAs(loaded), `${path}: the reference shows ${shown}, the loader fills ${shownAs(loaded)}`);
  }
  // Every default the schema has is shown (a model's sections, as the top-level ones).
  const shownPaths = new Set(withDefault.map(([path]) => path));
  const repeated = [...table].filter(([, [, shown]]) => shown.startsWith('the top-level')).map(([path]) => `${path}.`);
  const missing = schemaDefaults()
    .filter((d) => !shownPaths.has(d.path) && !repeated.some((prefix) => d.path.startsWith(prefix)))
    .map((d) => d.path);
  assert.deepEqual(missing, [], 'schema defaults the reference does not show');
  // A model's own sections stand in for nothing by themselves: the top-level ones do.
  const config = loadMinimal({ healthCheck: { intervalMs: 700 }, resilience: { drain: { minRequests: 3 } } });
  assert.equal(table.get('models.<model>.healthCheck')?.[1], 'the top-level `healthCheck`');
  assert.equal(config.models[0]?.healthCheck.intervalMs, 700);
  assert.equal(table.get('models.<model>.resilience')?.[1], 'the top-level `resilience`');
  assert.equal(config.models[0]?.resilience.drain.minRequests, 3);
  assert.equal(table.get('models')?.[1], '**required**');
});

test('bounds and descriptions come from the schema', () => {
  const table = rows(renderConfigReference());
  assert.equal(table.get('healthCheck.intervalMs')?.[0], 'integer, 50 to 3,600,000');
  assert.equal(table.get('healthCheck.intervalMs')?.[2], 'Time between two checks of one replica.');
  assert.equal(table.get('store.type')?.[0], 'one of `memory`, `redis`');
  assert.match(table.get('models.<model>.pools.<version>.replicas')?.[0] ?? '', /^list \(1 to 10,000 items\) of: string .*`\^https\?:\/\/`/);
  assert.match(table.get('models.<model>.policy.plan.steps')?.[0] ?? '', /number, > 0 and ≤ 100/);
});

test('every environment variable the gateway reads is listed', async () => {
  const { ENV_VARIABLES } = await import('../../../gateway/src/config/env.js');
  const markdown = renderConfigReference();
  for (const name of [...Object.keys(ENV_VARIABLES), 'LOG_LEVEL']) assert.ok(markdown.includes(`| \`${name}\` |`), name);
});

test('the README\'s complete example shows the defaults, where it does not show a choice on purpose', () => {
  const readme = readRepoFile('README.md');
  const from = readme.indexOf('```yaml', readme.indexOf('A complete example'));
  assert.ok(from > 0, 'the README has its complete example');
  const example = parseYaml(readme.slice(from + '```yaml'.length, readme.indexOf('```', from + 3))) as Record<string, unknown>;
  resolveConfig(example, 'README.md', {});
  const defaults = new Map(schemaDefaults().map((d) => [d.path, d.value]));
  // On purpose: tokens to show their shape, a Redis store, a model's policy and override; and
  // the fields that have no default (a Redis URL, CORS origins).
  const chosen = (path: string) => path.startsWith('admin.') || path === 'store.type' || path.startsWith('models.') || !defaults.has(path);
  const shown: Array<[string, unknown]> = [];
  const walk = (value: unknown, path: string): void => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const [key, inner] of Object.entries(value)) walk(inner, path === '' ? key : `${path}.${key}`);
    } else if (!chosen(path)) {
      shown.push([path, value]);
    }
  };
  walk(example, '');
  assert.ok(shown.length >= 20, `${shown.length} settings checked`);
  for (const [path, value] of shown) {
    assert.deepEqual(value, defaults.get(path), `README.md shows ${path}: ${JSON.stringify(value)}, the default is ${JSON.stringify(defaults.get(path))}`);
  }
});
