/**
 * Sticky cohorts over real sockets: 1,000 user keys each land on the same version on 5 passes;
 * raising the canary from 10% to 30% keeps every canary user on the canary, and lowering it back
 * keeps every stable user on stable.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TEST_TOKEN } from '../../helpers/gateway.js';
import { inParallel, TestClient } from '../../helpers/http.js';
import { MODEL, startStack, versionOfPrediction, type Stack } from '../../helpers/stack.js';

let stack: Stack;
const client = new TestClient(32);
const USERS = Array.from({ length: 1000 }, (_, i) => `user-${i}-${(i * 7919) % 1000}`);

before(async () => {
  stack = await startStack({ policy: { stable: 1, canary: 2, percent: 10, sticky: { header: 'x-user-id', cookie: 'uid' } } });
});
after(async () => {
  await client.close();
  await stack.close();
});

async function versionsOfUsers(via: 'header' | 'cookie' = 'header'): Promise<Map<string, number>> {
  const versions = await inParallel(USERS.length, 32, async (i) => {
    const user = USERS[i]!;
    const headers: Record<string, string> = via === 'header' ? { 'x-user-id': user } : { cookie: `theme=dark; uid=${user}` };
    const reply = await client.post(stack.predictUrl, '{"instances": [1.0]}', headers);
    assert.equal(reply.status, 200, reply.text);
    return versionOfPrediction(reply.text);
  });
  return new Map(USERS.map((u, i) => [u, versions[i]!]));
}

async function setPercent(percent: number): Promise<void> {
  const body = { stable: 1, canary: 2, percent, sticky: { header: 'x-user-id', cookie: 'uid' } };
  const reply = await client.send('PUT', `${stack.gw.admin}/api/models/${MODEL}/policy`, JSON.stringify(body), {
    authorization: `Bearer ${TEST_TOKEN}`,
    'content-type': 'application/json',
  });
  assert.equal(reply.status, 200, reply.text);
}

function canaryUsers(versions: Map<string, number>): Set<string> {
  return new Set([...versions].filter(([, v]) => v === 2).map(([u]) => u));
}

test('each of 1,000 users lands on the same version on 5 passes, header or cookie', async () => {
  const first = await versionsOfUsers();
  const share = canaryUsers(first).size / USERS.length;
  assert.ok(share > 0.06 && share < 0.14, `canary cohort ${share}`);
  for (let pass = 2; pass <= 5; pass++) assert.deepEqual(await versionsOfUsers(pass % 2 === 0 ? 'header' : 'cookie'), first);
});

test('10% -> 30% keeps every canary user on the canary; 30% -> 10% keeps every stable user on stable', async () => {
  await setPercent(10);
  const at10 = await versionsOfUsers();
  await setPercent(30);
  const at30 = await versionsOfUsers();
  const before = canaryUsers(at10);
  const after30 = canaryUsers(at30);
  for (const user of before) assert.ok(after30.has(user), `${user} left the canary when it grew`);
  assert.ok(after30.size > before.size * 2, `the cohort should grow: ${before.size} -> ${after30.size}`);
  await setPercent(10);
  const back = canaryUsers(await versionsOfUsers());
  for (const user of back) assert.ok(after30.has(user), `${user} moved to the canary when it shrank`);
  assert.deepEqual(back, before);
});
