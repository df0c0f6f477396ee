/**
 * docs/configuration.md is generated from the configuration schema and the loader's defaults
 * (scripts/docs/config-reference.ts, `npm run docs:config`). It must be what the script renders now, so
 * that a schema change without a regenerated reference fails here.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildConfigReference, CONFIG_REFERENCE_PATH, renderConfigReference } from '../../../scripts/docs/config-reference.js';
import { DEFAULT_HEALTH_CHECK, DEFAULT_PROXY, DEFAULT_RESILIENCE } from '../../../gateway/src/config/load.js';
import { GatewayConfigSchema } from '../../../gateway/src/config/schema.js';
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

test('the generator\'s own notes all name a field the schema has and does not describe', () => {
  const { unusedNotes, shadowedNotes } = buildConfigReference();
  assert.deepEqual(unusedNotes, [], 'notes in scripts/docs/config-reference.ts for fields that no longer exist');
  assert.deepEqual(shadowedNotes, [], 'notes in scripts/docs/config-reference.ts that the schema\'s description now replaces');
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
  const shown = (path: string) => table.get(path)?.[1];
  for (const [key, value] of Object.entries(DEFAULT_PROXY)) assert.equal(shown(`proxy.${key}`), `\`${value}\``, `proxy.${key}`);
  for (const [key, value] of Object.entries(DEFAULT_HEALTH_CHECK)) assert.equal(shown(`healthCheck.${key}`), `\`${value}\``, `healthCheck.${key}`);
  for (const [group, values] of Object.entries(DEFAULT_RESILIENCE)) {
    for (const [key, value] of Object.entries(values as Record<string, unknown>)) {
      assert.equal(shown(`resilience.${group}.${key}`), `\`${String(value)}\``, `resilience.${group}.${key}`);
    }
  }
  // Inline defaults of the loader.
  assert.equal(shown('listeners.rest.host'), '`0.0.0.0`');
  assert.equal(shown('listeners.admin.host'), '`127.0.0.1`');
  assert.equal(shown('listeners.admin.port'), '`9901`');
  assert.equal(shown('store.keyPrefix'), '`canary-gateway:`');
  assert.equal(shown('store.connectTimeoutMs'), '`2000`');
  assert.equal(shown('labels.canary'), '`canary`');
  assert.equal(shown('models.<model>.policy.percent'), '`0`');
  assert.equal(shown('models.<model>.policy.salt'), 'the model name');
  assert.equal(shown('models'), '**required**');
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
