import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { resolveConfig } from '../../../gateway/src/config/load.js';
import { GATEWAY_NODE_FLAGS, heapGrowthFlag } from '../../../gateway/src/runtime/heap.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const minimal = {
  models: { m: { pools: { '1': { replicas: ['http://127.0.0.1:8601'] } }, policy: { stable: 1 } } },
};

test('heap growth: the configured percent becomes a V8 flag unless the operator gave node one', () => {
  assert.equal(heapGrowthFlag(30, []), '--heap-growing-percent=30');
  assert.equal(heapGrowthFlag(0, []), '--heap-growing-percent=0', "0 sets V8's own factor back (after the start-up collection's default)");
  assert.equal(heapGrowthFlag(30, ['--heap-growing-percent=80']), undefined);
  assert.equal(heapGrowthFlag(20, ['--max-semi-space-size=8', '--enable-source-maps']), '--heap-growing-percent=20');
});

test('heap growth: 30 by default, configurable, out-of-range values rejected with the field named', () => {
  assert.equal(resolveConfig(minimal, 'test', {}).runtime.heapGrowthPercent, 30);
  assert.equal(resolveConfig({ ...minimal, runtime: { heapGrowthPercent: 0 } }, 'test', {}).runtime.heapGrowthPercent, 0);
  assert.throws(() => resolveConfig({ ...minimal, runtime: { heapGrowthPercent: 301 } }, 'test', {}), /runtime\/heapGrowthPercent/);
  assert.throws(() => resolveConfig({ ...minimal, runtime: { heapGrowthPercent: 12.5 } }, 'test', {}), /runtime\/heapGrowthPercent/);
});

test('every launcher passes the gateway node flags: npm start (the demo, or the gateway CLI with arguments), the bin, the Docker image', () => {
  const flags = GATEWAY_NODE_FLAGS.join(' ');
  const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { scripts: Record<string, string>; bin: Record<string, string> };
  assert.ok(pkg.scripts['start']?.includes(`node ${flags} dist/demo/src/main.js`), pkg.scripts['start']);
  const bin = readFileSync(`${root}${pkg.bin['canary-gateway']}`, 'utf8').split('\n')[0];
  assert.equal(bin, `#!/usr/bin/env -S node ${flags}`);
  const dockerfile = readFileSync(`${root}Dockerfile`, 'utf8');
  assert.ok(dockerfile.includes(`ENTRYPOINT ${JSON.stringify(['node', ...GATEWAY_NODE_FLAGS, 'dist/gateway/src/main.js'])}`.replaceAll(',', ', ')));
});
