/** CORS on the admin port when origins are configured: those origins only. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startSimulator, type SimulatorHandle } from '../../../simulator/src/server.js';
import { startTestGateway, TEST_TOKEN, type TestGateway } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';

let sim: SimulatorHandle;
let gw: TestGateway;
const client = new TestClient(4);

before(async () => {
  sim = await startSimulator({ model: 'm', versions: [1] });
  gw = await startTestGateway({
    models: { m: { pools: { '1': { replicas: [sim.url] } }, policy: { stable: 1 } } },
    adminCors: ['https://ops.example.com'],
  });
});
after(async () => {
  await client.close();
  await gw.close();
  await sim.close();
});

test('an allowed origin gets CORS headers, with its preflight answered; others get none', async () => {
  const preflight = await client.send('OPTIONS', `${gw.admin}/api/models/m/percent`, undefined, {
    origin: 'https://ops.example.com',
    'access-control-request-method': 'PUT',
    'access-control-request-headers': 'authorization, content-type',
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers['access-control-allow-origin'], 'https://ops.example.com');
  assert.match(String(preflight.headers['access-control-allow-headers']), /authorization/);
  const allowed = await client.get(`${gw.admin}/api/models`, { authorization: `Bearer ${TEST_TOKEN}`, origin: 'https://ops.example.com' });
  assert.equal(allowed.headers['access-control-allow-origin'], 'https://ops.example.com');
  // A browser may read the revision (ETag) to send it back as If-Match.
  assert.match(String(allowed.headers['access-control-expose-headers']), /etag/i);
  const other = await client.get(`${gw.admin}/api/models`, { authorization: `Bearer ${TEST_TOKEN}`, origin: 'https://evil.example' });
  assert.equal(other.headers['access-control-allow-origin'], undefined);
});
