/**
 * The weighted split for requests without a key, and the admin API moving it: 10% of 20,000
 * keyless requests land on the canary (within 9-11%), 0% sends none, 100% sends all.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TEST_TOKEN } from '../../helpers/gateway.js';
import { inParallel, TestClient } from '../../helpers/http.js';
import { MODEL, startStack, versionOfPrediction, type Stack } from '../../helpers/stack.js';

let stack: Stack;
const client = new TestClient(32);

before(async () => {
  stack = await startStack({ policy: { stable: 1, canary: 2, percent: 10 } });
});
after(async () => {
  await client.close();
  await stack.close();
});

async function canaryShare(requests: number): Promise<number> {
  const versions = await inParallel(requests, 32, async () => {
    const reply = await client.post(stack.predictUrl, '{"instances": [1.0]}');
    assert.equal(reply.status, 200, reply.text);
    const version = versionOfPrediction(reply.text);
    assert.equal(reply.headers['x-model-version'], String(version));
    return version;
  });
  return versions.filter((v) => v === 2).length / requests;
}

async function setPercent(percent: number): Promise<void> {
  const reply = await client.send('PUT', `${stack.gw.admin}/api/models/${MODEL}/policy`, JSON.stringify({ stable: 1, canary: 2, percent }), {
    authorization: `Bearer ${TEST_TOKEN}`,
    'content-type': 'application/json',
  });
  assert.equal(reply.status, 200, reply.text);
}

test('10% of 20,000 keyless requests go to the canary (9-11%)', async () => {
  const share = await canaryShare(20_000);
  assert.ok(share >= 0.09 && share <= 0.11, `canary share ${(share * 100).toFixed(2)}%`);
});

test('0% sends none to the canary', async () => {
  await setPercent(0);
  assert.equal(await canaryShare(2_000), 0);
});

test('100% sends all to the canary', async () => {
  await setPercent(100);
  assert.equal(await canaryShare(2_000), 1);
});

test('fractional percentages work: 0.5% of 20,000', async () => {
  await setPercent(0.5);
  const share = await canaryShare(20_000);
  assert.ok(share > 0.0025 && share < 0.0075, `canary share ${(share * 100).toFixed(3)}%`);
});
