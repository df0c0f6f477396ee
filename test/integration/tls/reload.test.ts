/**
 * Certificates renewed under a running gateway (the executable, as deployed): the files laid out as
 * Kubernetes mounts a Secret (`tls.crt -> ..data/tls.crt`, `..data` a symlink swapped whole).
 * A swap puts the new certificate in force on both listeners for new connections; files that do
 * not load (garbage, a key that is not the certificate's) are logged naming the field and the
 * certificate in force stays; SIGHUP reloads files whose change no watch saw. TLS 1.0 and 1.1 stay
 * refused throughout, even with Node's own minimum lowered (`--tls-min-v1.0`).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { spawnNode, stopChild } from '../../../scripts/lib/processes.js';
import { createPki, type CertFiles, type TestPki } from '../../helpers/certs.js';
import { TEST_TOKEN, waitFor } from '../../helpers/gateway.js';
import { startReplica, type SimulatorHandle } from '../../helpers/simulator.js';
import { handshake } from '../../helpers/tls-client.js';

const MAIN = fileURLToPath(new URL('../../../gateway/src/main.js', import.meta.url));
const MODEL = 'half_plus_two';
/** What an operator might pass: Node's minimum lowered to TLS 1.0, ciphers TLS 1.1 can use. */
const LOOSE_NODE = ['--tls-min-v1.0', '--tls-cipher-list=DEFAULT@SECLEVEL=0'];
const TLS11 = { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' } as const;

let pki: TestPki;
let ca: CertFiles;
let replica: SimulatorHandle;

before(async () => {
  pki = createPki();
  ca = pki.authority('test-ca');
  replica = await startReplica({ model: MODEL, versions: [1] });
});

after(async () => {
  await replica.close();
  pki.remove();
});

interface LogLine {
  readonly msg: string;
  readonly why?: string;
  readonly issues?: ReadonlyArray<{ path: string; message: string }>;
}

/** The gateway's JSON log lines, as they come. */
function collectLogs(child: ChildProcess): LogLine[] {
  const lines: LogLine[] = [];
  let rest = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    rest += chunk;
    const parts = rest.split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) if (line.startsWith('{')) lines.push(JSON.parse(line) as LogLine);
  });
  child.stdout?.resume();
  return lines;
}

test('certificates swapped as Kubernetes does, broken files, and SIGHUP: new connections get the new certificate, broken files change nothing', async () => {
  const first = pki.issue(ca, 'gateway-first', 'server');
  const second = pki.issue(ca, 'gateway-second', 'server');
  const live = pki.path('live');
  mkdirSync(live);
  let generation = 0;
  /** A new generation directory, then `..data` swapped to it in one rename. */
  const publish = (cert: string, key: string): string => {
    const dir = join(live, `..gen${++generation}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'tls.crt'), cert);
    writeFileSync(join(dir, 'tls.key'), key);
    symlinkSync(`..gen${generation}`, join(live, '..data_tmp'));
    renameSync(join(live, '..data_tmp'), join(live, '..data'));
    return dir;
  };
  publish(first.cert, first.key);
  symlinkSync('..data/tls.crt', join(live, 'tls.crt'));
  symlinkSync('..data/tls.key', join(live, 'tls.key'));

  const tls = { certFile: join(live, 'tls.crt'), keyFile: join(live, 'tls.key') };
  const file = pki.path('gateway.json');
  writeFileSync(
    file,
    JSON.stringify({
      listeners: { rest: { host: '127.0.0.1', port: 0, tls }, grpc: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, tls } },
      healthCheck: { intervalMs: 500, timeoutMs: 400 },
      models: { [MODEL]: { pools: { '1': { replicas: [replica.url] } }, policy: { stable: 1 } } },
    }),
  );
  const { child, match } = await spawnNode(MAIN, ['--config', file], /REST on [\d.]+:(\d+), admin API on [\d.]+:(\d+)/, {
    env: { PATH: process.env['PATH'], LOG_LEVEL: 'info', ADMIN_TOKEN: TEST_TOKEN },
    nodeArgs: LOOSE_NODE,
  });
  const logs = collectLogs(child);
  const ports = [Number(match[1]), Number(match[2])];
  const serials = async (): Promise<string[]> =>
    Promise.all(ports.map(async (port) => {
      const result = await handshake(port, { ca: ca.cert });
      return result.ok ? result.serial : `refused: ${result.error}`;
    }));
  const rejections = (path: string) => logs.filter((l) => l.msg.startsWith('TLS files rejected') && l.issues?.some((i) => i.path === path));
  const protocolsRefused = async (): Promise<void> => {
    for (const port of ports) {
      const old = await handshake(port, { ca: ca.cert, ...TLS11 });
      assert.equal(old.ok, false, `TLS 1.1 refused on port ${port}`);
      const modern = await handshake(port, { ca: ca.cert, maxVersion: 'TLSv1.2' });
      assert.ok(modern.ok && modern.protocol === 'TLSv1.2', `TLS 1.2 accepted on port ${port}: ${JSON.stringify(modern)}`);
    }
  };
  try {
    assert.deepEqual(await serials(), [first.serial, first.serial]);
    await protocolsRefused();

    publish(second.cert, second.key);
    await waitFor(async () => (await serials()).every((s) => s === second.serial), 5_000, 'the swapped certificate on both listeners');
    assert.ok(logs.some((l) => l.msg === 'TLS certificates reloaded' && l.why === 'file changed'), 'the reload is logged');

    publish('not a certificate\n', second.key);
    await waitFor(
      () => rejections('/listeners/rest/tls/certFile').length > 0 && rejections('/listeners/admin/tls/certFile').length > 0,
      5_000,
      'the garbage certificate reported for both listeners',
    );
    assert.match(rejections('/listeners/admin/tls/certFile')[0]?.issues?.[0]?.message ?? '', /holds no PEM certificate/);
    assert.deepEqual(await serials(), [second.serial, second.serial], 'the certificate in force stays');

    const mismatched = publish(first.cert, second.key);
    await waitFor(
      () => rejections('/listeners/rest/tls/keyFile').length > 0 && rejections('/listeners/admin/tls/keyFile').length > 0,
      5_000,
      'the mismatched key reported for both listeners',
    );
    assert.match(rejections('/listeners/rest/tls/keyFile')[0]?.issues?.[0]?.message ?? '', /does not match the certificate in certFile/);
    assert.deepEqual(await serials(), [second.serial, second.serial], 'the certificate in force stays');

    // Mended inside the generation directory: nothing in the watched directory changes.
    writeFileSync(join(mismatched, 'tls.key'), first.key);
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.deepEqual(await serials(), [second.serial, second.serial], 'no watch saw that change');
    child.kill('SIGHUP');
    await waitFor(async () => (await serials()).every((s) => s === first.serial), 5_000, 'SIGHUP reloaded the certificates');
    assert.ok(logs.some((l) => l.msg === 'TLS certificates reloaded' && l.why === 'SIGHUP'));
    await protocolsRefused();
  } finally {
    await stopChild(child);
  }
});
