/**
 * Access logs as the operator chooses them (off, errors only, every request or a sample of them),
 * and the request id: the same in the log line, the answer and the request a replica received.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startSimulator } from '../../../simulator/src/server.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';
import { capturingLogger, type LogLine } from '../../helpers/logs.js';
import { startRecordingReplica, type Received } from '../../helpers/recording-replica.js';

const MODEL = 'echo';
const BODY = '{"instances": [1.0]}';

async function gatewayWith(logging: Record<string, unknown>, replicaUrls: { stable: string[]; canary?: string[] }) {
  const { logger, lines } = capturingLogger('info');
  const pools: Record<string, unknown> = { '1': { replicas: replicaUrls.stable } };
  if (replicaUrls.canary !== undefined) pools['2'] = { replicas: replicaUrls.canary };
  const gw: TestGateway = await startTestGateway(
    {
      logging,
      models: {
        [MODEL]: {
          pools,
          policy: replicaUrls.canary === undefined ? { stable: 1 } : { stable: 1, canary: 2, percent: 0, headerRules: [{ header: 'x-canary' }] },
          healthCheck: { intervalMs: 500, timeoutMs: 500 },
        },
      },
    },
    logger,
  );
  return { gw, lines, access: () => lines.filter((l) => l.msg === 'request') };
}

const idOf = (r: Received): string | undefined => {
  const i = r.rawHeaders.findIndex((h, n) => n % 2 === 0 && h.toLowerCase() === 'x-request-id');
  return i < 0 ? undefined : r.rawHeaders[i + 1];
};

test('access: all logs every request with the id the client got back and the replica received', async () => {
  const replica = await startRecordingReplica(MODEL, 1);
  const client = new TestClient(4);
  let gw: TestGateway | undefined;
  try {
    const started = await gatewayWith({ access: 'all' }, { stable: [replica.url] });
    gw = started.gw;
    const access = started.access;
    const answered: string[] = [];
    for (let i = 0; i < 20; i++) {
      const reply = await client.post(`${gw.rest}/v1/models/${MODEL}:predict`, BODY, i === 0 ? { 'x-request-id': 'client-chosen-id-1' } : {});
      assert.equal(reply.status, 200);
      answered.push(String(reply.headers['x-request-id']));
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    const logged = access();
    assert.equal(logged.length, 20);
    assert.deepEqual(logged.map((l) => l['requestId']), answered, 'one line per request, carrying the id of its answer');
    assert.deepEqual(replica.received.map(idOf), answered, 'the replica received the same id');
    assert.equal(answered[0], 'client-chosen-id-1', "a client's id is kept");
    const line = logged[0] as LogLine;
    assert.deepEqual(
      [line['method'], line['url'], line['status'], line['version'], line['complete']],
      ['POST', `/v1/models/${MODEL}:predict`, 200, '1', true],
    );
    assert.equal(typeof line['ms'], 'number');
    for (const l of logged) assert.ok(!JSON.stringify(l).includes('instances'), 'no body in an access line');
  } finally {
    await client.close();
    await gw?.close();
    await replica.close();
  }
});

test('access: all with sampleRate logs about that share; errors logs only 5xx; off logs none', async () => {
  const stable = await startSimulator({ model: MODEL, versions: [1] });
  const failing = await startSimulator({ model: MODEL, versions: [2], behaviour: 'half_plus_three', faults: { errorRate: 1, errorStatus: 500 } });
  const client = new TestClient(8);
  const send = async (gw: TestGateway, count: number, headers: Record<string, string> = {}, expected = 200) => {
    for (let i = 0; i < count; i++) assert.equal((await client.post(`${gw.rest}/v1/models/${MODEL}:predict`, BODY, headers)).status, expected);
  };
  try {
    const sampled = await gatewayWith({ access: 'all', sampleRate: 0.2 }, { stable: [stable.url] });
    try {
      await send(sampled.gw, 500);
      await new Promise((resolve) => setTimeout(resolve, 50));
      // Binomial(500, 0.2): mean 100, standard deviation 9; these bounds are more than 5 of them away.
      const n = sampled.access().length;
      assert.ok(n >= 50 && n <= 150, `${n} lines for 500 requests at 20%`);
    } finally {
      await sampled.gw.close();
    }

    const errors = await gatewayWith({ access: 'errors' }, { stable: [stable.url], canary: [failing.url] });
    try {
      await send(errors.gw, 30, { 'x-canary': 'never' });
      // Pinned to the failing version: its 500 is the answer, and the only line.
      const pinned = await client.post(`${errors.gw.rest}/v1/models/${MODEL}/versions/2:predict`, BODY);
      assert.equal(pinned.status, 500);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const logged = errors.access();
      assert.equal(logged.length, 1, JSON.stringify(logged));
      assert.deepEqual([logged[0]!['status'], logged[0]!['version'], logged[0]!['requestId']], [500, '2', pinned.headers['x-request-id']]);
      assert.equal(logged[0]!.level, 40, 'a 5xx is a warning');
    } finally {
      await errors.gw.close();
    }

    const off = await gatewayWith({ access: 'off' }, { stable: [stable.url] });
    try {
      await send(off.gw, 30);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(off.access().length, 0);
    } finally {
      await off.gw.close();
    }
  } finally {
    await client.close();
    await stable.close();
    await failing.close();
  }
});

test('access lines say their protocol: gRPC calls are logged like REST requests, a client error at info', async () => {
  const { tfServingClient } = await import('../../helpers/grpc-client.js');
  const sim = await startSimulator({ model: 'half_plus_two', versions: [1], grpcPort: 0 });
  const { logger, lines } = capturingLogger('info');
  const gw = await startTestGateway(
    {
      logging: { access: 'all' },
      models: { half_plus_two: { pools: { '1': { replicas: [{ url: sim.url, grpcPort: sim.grpcPort }] } }, policy: { stable: 1 }, healthCheck: { intervalMs: 500, timeoutMs: 500 } } },
    },
    logger,
  );
  const client = tfServingClient(gw.grpc);
  const rest = new TestClient(2);
  try {
    const request = { model_spec: { name: 'half_plus_two' }, inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '1' }] }, float_val: [1] } } };
    await client.call('PredictionService', 'Predict', request);
    await assert.rejects(client.call('PredictionService', 'Predict', { model_spec: { name: 'nope' } }));
    await rest.post(`${gw.rest}/v1/models/half_plus_two:predict`, BODY);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const access = lines.filter((l) => l.msg === 'request');
    const grpcLines = access.filter((l) => l['protocol'] === 'grpc');
    assert.deepEqual(
      grpcLines.map((l) => [l['method'], l['status'], l['version'], l['complete']]),
      [
        ['/tensorflow.serving.PredictionService/Predict', 0, '1', true],
        ['/tensorflow.serving.PredictionService/Predict', 5, undefined, true],
      ],
    );
    assert.ok(grpcLines.every((l) => typeof l['requestId'] === 'string' && l['level'] === 30), 'info: neither is a server-side failure');
    assert.deepEqual(access.filter((l) => l['protocol'] === 'rest').map((l) => l['status']), [200]);
  } finally {
    client.close();
    await rest.close();
    await gw.close();
    await sim.close();
  }
});
