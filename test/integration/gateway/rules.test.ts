/**
 * Header and cookie rules over real sockets, and their precedence: header rules (in order), then
 * cookie rules, then the sticky cohort, then the split.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TestClient } from '../../helpers/http.js';
import { startStack, versionOfPrediction, type Stack } from '../../helpers/stack.js';

let stack: Stack;
const client = new TestClient(8);

before(async () => {
  stack = await startStack({
    policy: {
      stable: 1,
      canary: 2,
      percent: 50,
      headerRules: [
        { header: 'x-canary' },
        { header: 'x-tier', equals: 'internal', to: 'stable' },
        { header: 'user-agent', regex: '^beta-app/\\d+' },
      ],
      cookieRules: [{ cookie: 'canary' }],
      sticky: { header: 'x-user-id' },
    },
  });
});
after(async () => {
  await client.close();
  await stack.close();
});

async function versionFor(headers: Record<string, string>): Promise<number> {
  const reply = await client.post(stack.predictUrl, '{"instances": [1.0]}', headers);
  assert.equal(reply.status, 200, reply.text);
  return versionOfPrediction(reply.text);
}

async function always(headers: Record<string, string>, times = 30): Promise<number> {
  const seen = new Set<number>();
  for (let i = 0; i < times; i++) seen.add(await versionFor({ ...headers, 'x-user-id': `u${i}` }));
  assert.equal(seen.size, 1, `expected one version for ${JSON.stringify(headers)}, saw ${[...seen].join(', ')}`);
  return [...seen][0]!;
}

test('x-canary: always forces the canary, never forces stable, other values decide nothing', async () => {
  assert.equal(await always({ 'x-canary': 'always' }), 2);
  assert.equal(await always({ 'x-canary': 'never' }), 1);
  const seen = new Set<number>();
  for (let i = 0; i < 60; i++) seen.add(await versionFor({ 'x-canary': 'perhaps', 'x-user-id': `u${i}` }));
  assert.deepEqual([...seen].sort(), [1, 2], 'an unknown value falls through to the cohort');
});

test('an exact-value rule and a regex rule', async () => {
  assert.equal(await always({ 'x-tier': 'internal' }), 1);
  assert.equal(await always({ 'user-agent': 'beta-app/42 (Android)' }), 2);
  assert.equal(await always({ 'X-Tier': 'internal', 'user-agent': 'beta-app/42' }), 1, 'earlier rule wins');
});

test('precedence: header rules, then cookie rules, then the sticky cohort', async () => {
  assert.equal(await always({ 'x-canary': 'never', cookie: 'canary=always' }), 1);
  assert.equal(await always({ cookie: 'session=1; canary=always' }), 2);
  assert.equal(await always({ cookie: 'canary=never', 'user-agent': 'beta-app/1' }), 2, 'the header rule comes first');
  // No rule matches: the cohort decides, the same way every time for a user.
  const first = await versionFor({ 'x-user-id': 'fixed-user', cookie: 'canary=maybe' });
  for (let i = 0; i < 10; i++) assert.equal(await versionFor({ 'x-user-id': 'fixed-user', cookie: 'canary=maybe' }), first);
});

test('URL pins beat every rule', async () => {
  const reply = await client.post(`${stack.gw.rest}/v1/models/half_plus_two/versions/1:predict`, '{"instances": [1.0]}', { 'x-canary': 'always' });
  assert.equal(versionOfPrediction(reply.text), 1);
  const label = await client.post(`${stack.gw.rest}/v1/models/half_plus_two/labels/canary:predict`, '{"instances": [1.0]}', { 'x-canary': 'never' });
  assert.equal(versionOfPrediction(label.text), 2);
});
