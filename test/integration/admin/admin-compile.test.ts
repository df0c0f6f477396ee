/**
 * What the admin API compiles: its request validators with the gateway's one Ajv (validation.ts),
 * not a second instance of fastify's, and no response serializer at all: answers are written with
 * JSON.stringify (admin/server.ts; answers-conform.test.ts holds them to their schemas), where
 * fast-json-stringify kept a compiled serializer and an Ajv instance per route and status. Counted
 * as live Ajv instances with V8's queryObjects. Memory, not speed: docs/performance.md, *Locale
 * data and compiled serializers*.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { queryObjects } from 'node:v8';
import { Ajv } from 'ajv';
import { request } from 'undici';
import { startTestGateway, TEST_TOKEN } from '../../helpers/gateway.js';
import { startReplica } from '../../helpers/simulator.js';
import { MODEL } from '../../helpers/stack.js';

const ajvInstances = (): number => queryObjects(Ajv, { format: 'count' }) as number;

test("the admin API validates with the gateway's Ajv and compiles nothing to answer", async (t) => {
  const replica = await startReplica({ model: MODEL, versions: [1] });
  const gw = await startTestGateway({ models: { [MODEL]: { pools: { '1': { replicas: [replica.url] } }, policy: { stable: 1 } } } });
  t.after(async () => {
    await gw.close();
    await replica.close();
  });
  assert.equal(ajvInstances(), 1, 'the gateway started with one Ajv: its own');
  const auth = { authorization: `Bearer ${TEST_TOKEN}` };
  const refused = await request(`${gw.admin}/api/models/${MODEL}/percent`, {
    method: 'PUT',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ percent: 'ten' }),
  });
  const body = (await refused.body.json()) as { error: string; details: { path: string }[] };
  assert.equal(refused.statusCode, 400);
  assert.deepEqual(body.details.map((d) => d.path), ['/percent'], "a body refused by the gateway's Ajv, the field named");
  assert.equal(ajvInstances(), 1, 'nothing compiled a second Ajv to refuse it');
  const models = await request(`${gw.admin}/api/models`, { headers: auth });
  assert.equal(models.statusCode, 200);
  await models.body.dump();
  assert.equal(ajvInstances(), 1, 'answering compiled no serializer (fast-json-stringify kept an Ajv in each)');
});
