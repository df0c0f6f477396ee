/**
 * Certificates for TLS tests, made by the real `openssl` (Debian's, which the test command
 * installs) in a temporary directory: certificate authorities, server certificates for 127.0.0.1
 * and localhost, client certificates. EC P-256 keys, valid for two days, each with a serial of its
 * own so a test can tell which certificate a server presented.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CertFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** The certificate's PEM text. */
  readonly cert: string;
  readonly key: string;
  /** As X509Certificate.serialNumber writes it (upper-case hex). */
  readonly serial: string;
}

export interface TestPki {
  readonly dir: string;
  /** A self-signed authority named `name`. */
  authority(name: string): CertFiles;
  /** A certificate for `use` (server: 127.0.0.1 and localhost; client: client auth) signed by `ca`. */
  issue(ca: CertFiles, name: string, use: 'server' | 'client'): CertFiles;
  /** A path in the directory. */
  path(name: string): string;
  /** Removes the directory. */
  remove(): void;
}

const KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export function createPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'cg-pki-'));
  const openssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
  };
  const files = (name: string, serial: string): CertFiles => {
    const certFile = join(dir, `${name}.crt`);
    const keyFile = join(dir, `${name}.key`);
    return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), serial };
  };
  // A positive serial with no leading zero byte, so X509Certificate writes it back the same.
  const newSerial = (): string => `7${randomBytes(8).toString('hex').toUpperCase().slice(1)}`;
  return {
    dir,
    authority(name) {
      const serial = newSerial();
      openssl('req', '-x509', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`, '-set_serial', `0x${serial}`);
      return files(name, serial);
    },
    issue(ca, name, use) {
      const serial = newSerial();
      const extensions =
        use === 'server' ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' : 'extendedKeyUsage=clientAuth\n';
      writeFileSync(join(dir, `${name}.ext`), extensions);
      openssl('req', ...KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      openssl('x509', '-req', '-in', `${name}.csr`, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', `0x${serial}`, '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
      return files(name, serial);
    },
    path: (name) => join(dir, name),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
