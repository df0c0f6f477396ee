/**
 * HTTPS on the REST and admin listeners, over real sockets with certificates made by openssl:
 * clients that trust the test CA predict and use the admin API; plain HTTP, clients that trust
 * another CA and (with clientCaFile) clients without a certificate are refused; a connection that
 * never shakes hands is closed as one that never sends its headers.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { createPki, type CertFiles, type TestPki } from '../../helpers/certs.js';
import { startTestGateway, TEST_TOKEN, type TestGateway } from '../../helpers/gateway.js';
import { TestClient } from '../../helpers/http.js';
import { startReplica, type SimulatorHandle } from '../../helpers/simulator.js';
import { handshake } from '../../helpers/tls-client.js';

const MODEL = 'half_plus_two';

let pki: TestPki;
let ca: CertFiles;
let server: CertFiles;
let replica: SimulatorHandle;

before(() => {
  pki = createPki();
  ca = pki.authority('test-ca');
  server = pki.issue(ca, 'gateway', 'server');
});

before(async () => {
  replica = await startReplica({ model: MODEL, versions: [1] });
});

after(async () => {
  await replica.close();
  pki.remove();
});

function gatewayDocument(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    healthCheck: { intervalMs: 200, timeoutMs: 150 },
    models: { [MODEL]: { pools: { '1': { replicas: [replica.url] } }, policy: { stable: 1 } } },
    ...extra,
  };
}

const portOf = (url: string): number => Number(new URL(url).port);

async function withGateway(document: Record<string, unknown>, run: (gw: TestGateway) => Promise<void>): Promise<void> {
  const gw = await startTestGateway(document);
  try {
    await run(gw);
  } finally {
    await gw.close();
  }
}

test('REST and admin over HTTPS: predict, probes and the API work for a client that trusts the CA; plain HTTP and other CAs are refused', async () => {
  const files = { certFile: server.certFile, keyFile: server.keyFile };
  await withGateway(gatewayDocument({ restTls: files, adminTls: files }), async (gw) => {
    assert.match(gw.rest, /^https:/);
    const client = new TestClient(4, { ca: ca.cert });
    try {
      const predict = await client.post(`${gw.rest}/v1/models/${MODEL}:predict`, '{"instances": [1.0, 2.0]}');
      assert.equal(predict.status, 200, predict.text);
      assert.equal(predict.headers['x-model-version'], '1');
      assert.deepEqual(predict.json<{ predictions: number[] }>().predictions, [2.5, 3]);
      assert.equal((await client.get(`${gw.admin}/healthz`)).status, 200);
      const models = await client.get(`${gw.admin}/api/models`, { authorization: `Bearer ${TEST_TOKEN}` });
      assert.equal(models.status, 200, models.text);
      assert.deepEqual(
        models.json<{ models: Array<{ name: string }> }>().models.map((m) => m.name),
        [MODEL],
      );
      assert.equal((await client.get(`${gw.admin}/api/models`)).status, 401, 'TLS is no substitute for a token');
    } finally {
      await client.close();
    }

    for (const url of [gw.rest, gw.admin]) {
      const port = portOf(url);
      const presented = await handshake(port, { ca: ca.cert });
      assert.ok(presented.ok, JSON.stringify(presented));
      assert.equal(presented.serial, server.serial, 'the configured certificate');
      await assert.rejects(request(`http://127.0.0.1:${port}/v1/models/${MODEL}`, { headersTimeout: 5_000 }), 'plain HTTP gets no answer');
      const other = pki.authority(`other-ca-${port}`);
      const untrusted = await handshake(port, { ca: other.cert });
      assert.equal(untrusted.ok, false, 'a client that trusts another CA refuses the certificate');
    }
  });
});

test('clientCaFile: the admin listener refuses a client without a certificate from that CA, and serves one with it', async () => {
  const clientCa = pki.authority('client-ca');
  const client = pki.issue(clientCa, 'operator', 'client');
  const stranger = pki.issue(pki.authority('stranger-ca'), 'stranger', 'client');
  const adminTls = { certFile: server.certFile, keyFile: server.keyFile, clientCaFile: clientCa.certFile };
  await withGateway(gatewayDocument({ adminTls }), async (gw) => {
    const port = portOf(gw.admin);
    assert.equal((await handshake(port, { ca: ca.cert })).ok, false, 'no client certificate');
    assert.equal((await handshake(port, { ca: ca.cert, cert: stranger.cert, key: stranger.key })).ok, false, 'a certificate from another CA');
    const withCert = new TestClient(2, { ca: ca.cert, cert: client.cert, key: client.key });
    try {
      const session = await withCert.get(`${gw.admin}/api/session`, { authorization: `Bearer ${TEST_TOKEN}` });
      assert.equal(session.status, 200, session.text);
    } finally {
      await withCert.close();
    }
    assert.match(gw.rest, /^http:/, 'the REST listener has its own settings: plain HTTP here');
  });
});

test('a client that opens a connection and never shakes hands is closed after the headers timeout, not left for minutes', async () => {
  const files = { certFile: server.certFile, keyFile: server.keyFile };
  // headersTimeout is min(deadlineMs, 15 s): 1 s here.
  await withGateway(gatewayDocument({ restTls: files, proxy: { deadlineMs: 1_000 } }), async (gw) => {
    const started = performance.now();
    const closedAfter = await new Promise<number>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: portOf(gw.rest) });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('still open after 5 s'));
      }, 5_000);
      socket.on('error', () => undefined);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(performance.now() - started);
      });
    });
    assert.ok(closedAfter >= 900, `closed after ${Math.round(closedAfter)} ms`);
  });
});
