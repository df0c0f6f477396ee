/**
 * TLS to replicas, with a client certificate (mutual TLS): a replica (tfserving-sim's CLI with
 * --tls-cert, --tls-key, --tls-client-ca) that requires a certificate from its client CA. The
 * gateway with `replicaTls` (the replica's CA, its client certificate) checks it healthy and
 * forwards to it; without the client certificate the replica stays down and requests fail; a
 * client certificate renewed on disk is presented from the next connection on.
 */
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { createPki, type CertFiles, type TestPki } from '../../helpers/certs.js';
import { startTestGateway, waitFor, type TestGateway } from '../../helpers/gateway.js';
import { TestClient, type Reply } from '../../helpers/http.js';
import { spawnReplica, type SpawnedReplica } from '../../helpers/simulator.js';

const MODEL = 'half_plus_two';

let pki: TestPki;
let replicaCa: CertFiles;
let clientCa: CertFiles;
let replica: SpawnedReplica;

before(async () => {
  pki = createPki();
  replicaCa = pki.authority('replica-ca');
  clientCa = pki.authority('gateway-client-ca');
  const server = pki.issue(replicaCa, 'replica', 'server');
  replica = await spawnReplica({
    model: MODEL,
    versions: [1],
    extraArgs: ['--tls-cert', server.certFile, '--tls-key', server.keyFile, '--tls-client-ca', clientCa.certFile],
  });
});

after(async () => {
  await replica.stop();
  pki.remove();
});

function startGateway(replicaTls: Record<string, unknown>): Promise<TestGateway> {
  return startTestGateway({
    healthCheck: { intervalMs: 200, timeoutMs: 500 },
    replicaTls,
    models: { [MODEL]: { pools: { '1': { replicas: [replica.url] } }, policy: { stable: 1 } } },
  });
}

function replicaState(gw: TestGateway): { health: string; detail: string } {
  const r = gw.gateway.pools.pools(MODEL)?.get(1)?.replicas[0];
  return { health: r?.health ?? 'missing', detail: r?.lastCheck?.detail ?? '' };
}

async function predict(gw: TestGateway): Promise<Reply> {
  const client = new TestClient(1);
  try {
    return await client.post(`${gw.rest}/v1/models/${MODEL}:predict`, '{"instances": [1.0, 2.0]}');
  } finally {
    await client.close();
  }
}

test('the replica is https and requires a client certificate: a gateway with the CA and its certificate checks it and forwards to it', async () => {
  assert.match(replica.url, /^https:\/\/127\.0\.0\.1:/);
  const client = pki.issue(clientCa, 'gateway-client', 'client');
  const gw = await startGateway({ caFile: replicaCa.certFile, certFile: client.certFile, keyFile: client.keyFile });
  try {
    assert.deepEqual(replicaState(gw), { health: 'up', detail: 'AVAILABLE' }, 'the first health check passed');
    const answer = await predict(gw);
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(answer.json<{ predictions: number[] }>().predictions, [2.5, 3]);
  } finally {
    await gw.close();
  }
});

test('without the client certificate the replica refuses the gateway: it stays down and requests fail', async () => {
  const gw = await startGateway({ caFile: replicaCa.certFile });
  try {
    await new Promise((resolve) => setTimeout(resolve, 600));
    const state = replicaState(gw);
    assert.equal(state.health, 'down', JSON.stringify(state));
    assert.equal((await predict(gw)).status, 503);
  } finally {
    await gw.close();
  }
});

test('a client certificate renewed on disk is used from the next connection on: a refused gateway comes through', async () => {
  // At first the files hold a certificate from a CA the replica does not trust.
  const stranger = pki.issue(pki.authority('stranger-ca'), 'stranger', 'client');
  const renewed = pki.issue(clientCa, 'gateway-renewed', 'client');
  const certFile = pki.path('replica-client.crt');
  const keyFile = pki.path('replica-client.key');
  writeFileSync(certFile, stranger.cert);
  writeFileSync(keyFile, stranger.key);
  const gw = await startGateway({ caFile: replicaCa.certFile, certFile, keyFile });
  try {
    assert.equal(replicaState(gw).health, 'down', 'a certificate the replica does not trust');
    assert.equal((await predict(gw)).status, 503);
    // Replaced as a tool that writes aside and renames does it.
    writeFileSync(`${certFile}.new`, renewed.cert);
    writeFileSync(`${keyFile}.new`, renewed.key);
    renameSync(`${certFile}.new`, certFile);
    renameSync(`${keyFile}.new`, keyFile);
    await waitFor(() => replicaState(gw).health === 'up', 5_000, 'the replica up with the renewed certificate');
    assert.equal((await predict(gw)).status, 200);
  } finally {
    await gw.close();
  }
});
