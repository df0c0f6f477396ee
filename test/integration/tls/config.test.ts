/**
 * TLS settings in the configuration: the certificate files are read and checked at load (as at
 * start-up and by `canary-gateway validate`), every problem named by its field; `validate` says
 * which listeners speak TLS and how the replicas are reached; new file names need a restart, which
 * a reload says.
 */
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { buildGateway } from '../../../gateway/src/app.js';
import { runCli } from '../../../gateway/src/cli.js';
import { ConfigError, resolveConfig } from '../../../gateway/src/config/load.js';
import { createLogger } from '../../../gateway/src/observability/logger.js';
import { ValidationError, type Issue } from '../../../gateway/src/validation.js';
import { createPki, type CertFiles, type TestPki } from '../../helpers/certs.js';
import { startTestGateway } from '../../helpers/gateway.js';

let pki: TestPki;
let ca: CertFiles;
let server: CertFiles;
let other: CertFiles;
let garbage: string;
let brokenCertificate: string;

before(() => {
  pki = createPki();
  ca = pki.authority('test-ca');
  server = pki.issue(ca, 'gateway', 'server');
  other = pki.issue(ca, 'other', 'server');
  garbage = pki.path('garbage.pem');
  writeFileSync(garbage, 'this is not PEM\n');
  brokenCertificate = pki.path('broken.pem');
  writeFileSync(brokenCertificate, `${ca.cert}-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n`);
});

after(() => pki.remove());

const MODELS = { m: { pools: { '1': { replicas: ['https://replica.internal:8501'] } }, policy: { stable: 1 } } };

function issuesOf(document: Record<string, unknown>): Issue[] {
  try {
    resolveConfig({ models: MODELS, ...document }, 'test', {});
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
  return [];
}

test('listener and replica TLS files: each problem named by its field, what it is said plainly', () => {
  const listeners = (rest: Record<string, unknown> | undefined, admin?: Record<string, unknown>) => ({
    listeners: { ...(rest === undefined ? {} : { rest: { tls: rest } }), ...(admin === undefined ? {} : { admin: { tls: admin } }) },
  });
  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['a missing file', listeners({ certFile: pki.path('missing.crt'), keyFile: server.keyFile }), '/listeners/rest/tls/certFile', /^cannot be read: ENOENT/],
    ['garbage for a certificate', listeners({ certFile: garbage, keyFile: server.keyFile }), '/listeners/rest/tls/certFile', /^holds no PEM certificate/],
    ['a key that is not the certificate\'s', listeners({ certFile: server.certFile, keyFile: other.keyFile }), '/listeners/rest/tls/keyFile', /^does not match the certificate in certFile \(CN=gateway\)/],
    ['garbage for a key', listeners(undefined, { certFile: server.certFile, keyFile: garbage }), '/listeners/admin/tls/keyFile', /^is not a PEM private key/],
    ['garbage for a client CA', listeners(undefined, { certFile: server.certFile, keyFile: server.keyFile, clientCaFile: garbage }), '/listeners/admin/tls/clientCaFile', /^holds no PEM certificate/],
    ['a certificate without its key', listeners({ certFile: server.certFile }), '/listeners/rest/tls/keyFile', /^is required$/],
    ['a minimum version (not a setting: it is TLS 1.2)', listeners({ certFile: server.certFile, keyFile: server.keyFile, minVersion: 'TLSv1' }), '/listeners/rest/tls/minVersion', /is not a known field/],
    ['a replica client certificate without its key', { replicaTls: { certFile: server.certFile } }, '/replicaTls/keyFile', /^is required with certFile$/],
    ['garbage for the replicas\' CA', { replicaTls: { caFile: garbage } }, '/replicaTls/caFile', /^holds no PEM certificate/],
    ['a bundle with one broken certificate', { replicaTls: { caFile: brokenCertificate } }, '/replicaTls/caFile', /^certificate 2 cannot be read/],
    ['a replica client key that is not the certificate\'s', { replicaTls: { certFile: server.certFile, keyFile: other.keyFile } }, '/replicaTls/keyFile', /^does not match/],
  ];
  for (const [what, document, path, message] of cases) {
    const issues = issuesOf(document);
    assert.deepEqual(issues.map((i) => i.path), [path], `${what}: ${JSON.stringify(issues)}`);
    assert.match(issues[0]?.message ?? '', message, what);
  }

  const config = resolveConfig(
    { models: MODELS, ...listeners({ certFile: server.certFile, keyFile: server.keyFile }), replicaTls: { caFile: ca.certFile } },
    'test',
    {},
  );
  assert.deepEqual(config.rest.tls, { certFile: server.certFile, keyFile: server.keyFile }, 'the loaded settings keep the file names (they are read again on change)');
  assert.equal(config.admin.tls, undefined, 'plain HTTP unless tls is given');
  assert.deepEqual(config.replicaTls, { caFile: ca.certFile, rejectUnauthorized: true });
  assert.deepEqual(resolveConfig({ models: MODELS }, 'test', {}).replicaTls, { rejectUnauthorized: true });
});

test('canary-gateway validate: which listeners speak TLS, how replicas are reached; a bad file is an error naming its field', async () => {
  const file = pki.path('gateway.json');
  const run = async (): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const code = await runCli(['validate', '--config', file], {}, { out: (t) => void (out += t), err: (t) => void (err += t) });
    return { code, out, err };
  };
  writeFileSync(
    file,
    JSON.stringify({
      listeners: {
        rest: { tls: { certFile: server.certFile, keyFile: server.keyFile } },
        grpc: { tls: { certFile: server.certFile, keyFile: server.keyFile } },
        admin: { tls: { certFile: server.certFile, keyFile: server.keyFile, clientCaFile: ca.certFile } },
      },
      replicaTls: { caFile: ca.certFile, certFile: other.certFile, keyFile: other.keyFile },
      models: MODELS,
    }),
  );
  const valid = await run();
  assert.equal(valid.code, 0, valid.err);
  assert.match(valid.out, /\n {2}listeners {2}REST 0\.0\.0\.0:8501 \(TLS\), gRPC 0\.0\.0\.0:8500 \(TLS\), admin 127\.0\.0\.1:9901 \(TLS, client certificates required\)\n/);
  assert.ok(valid.out.includes(`\n  replicas   TLS: CA ${ca.certFile}, client certificate ${other.certFile}\n`), valid.out);

  writeFileSync(file, JSON.stringify({ models: { m: { pools: { '1': { replicas: ['http://10.0.0.1:8501'] } }, policy: { stable: 1 } } } }));
  const plain = await run();
  assert.match(plain.out, /listeners {2}REST 0\.0\.0\.0:8501, gRPC 0\.0\.0\.0:8500, admin 127\.0\.0\.1:9901\n/);
  assert.doesNotMatch(plain.out, /replicas {3}TLS/, 'no https replica, no TLS settings: nothing to say');

  writeFileSync(file, JSON.stringify({ listeners: { rest: { tls: { certFile: server.certFile, keyFile: other.keyFile } } }, models: MODELS }));
  const broken = await run();
  assert.equal(broken.code, 1);
  assert.match(broken.err, /\/listeners\/rest\/tls\/keyFile: does not match the certificate in certFile/);
});

test('a reload that names other TLS files says they need a restart', async () => {
  const gw = await startTestGateway({ models: { m: { pools: { '1': { replicas: ['http://127.0.0.1:1'] } }, policy: { stable: 1 } } } });
  try {
    const next = resolveConfig(
      {
        listeners: { rest: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
        admin: { tokens: [...gw.gateway.config.adminTokens] },
        replicaTls: { caFile: ca.certFile },
        models: { m: { pools: { '1': { replicas: ['http://127.0.0.1:1'] } }, policy: { stable: 1 } } },
      },
      'test',
      {},
    );
    const refused = await gw.gateway.reload(next);
    assert.deepEqual(refused, ['changed settings that need a restart to apply: replicaTls']);
  } finally {
    await gw.close();
  }
});

test('files broken between the check and the start: the gateway does not start, and says which field', async () => {
  const certFile = pki.path('start.crt');
  copyFileSync(server.certFile, certFile);
  const config = resolveConfig(
    {
      listeners: { rest: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, tls: { certFile, keyFile: server.keyFile } } },
      models: { m: { pools: { '1': { replicas: ['http://127.0.0.1:1'] } }, policy: { stable: 1 } } },
    },
    'test',
    {},
  );
  writeFileSync(certFile, 'overwritten\n');
  await assert.rejects(buildGateway({ config, logger: createLogger('silent') }), (err: unknown) => {
    assert.ok(err instanceof ValidationError);
    assert.deepEqual(err.issues.map((i) => i.path), ['/listeners/admin/tls/certFile']);
    return true;
  });
});
