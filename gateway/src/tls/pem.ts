/**
 * The PEM files named by a TLS section, read and checked the way start-up and reloads both need:
 * every problem is an issue naming the field of the file at fault, so a bad certificate reads like
 * any other configuration error (`/listeners/rest/tls/keyFile: does not match ...`).
 *
 * Node's own checks are not enough: `tls.createSecureContext` takes a CA "bundle" of garbage
 * without a word (and trusts nothing), and names neither file when a key and certificate differ.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Filled } from '../schema-defaults.js';
import type { Issue } from '../validation.js';
import type { ClientTls, ListenerTls } from '../config/schema.js';

export type ListenerTlsFiles = Filled<typeof ListenerTls>;
export type ClientTlsFiles = Filled<typeof ClientTls>;

/** What the files hold: PEM texts in place of their names. */
export interface TlsMaterial {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

/** A client TLS section with its files read (not checked): what ioredis is given. */
export type ClientTlsSettings = Omit<ClientTlsFiles, 'caFile' | 'certFile' | 'keyFile'> & TlsMaterial;

/**
 * Reads a client section's files; a certificate without its key (or the reverse) is an issue.
 * The texts are not checked: see loadClientTls for that.
 */
export function readClientTlsFiles(input: ClientTlsFiles, path: string, issues: Issue[]): ClientTlsSettings {
  if ((input.certFile === undefined) !== (input.keyFile === undefined)) {
    const [missing, given] = input.certFile === undefined ? ['certFile', 'keyFile'] : ['keyFile', 'certFile'];
    issues.push({ path: `${path}/${missing}`, message: `is required with ${given}` });
  }
  const ca = readPem(input.caFile, `${path}/caFile`, issues);
  const cert = readPem(input.certFile, `${path}/certFile`, issues);
  const key = readPem(input.keyFile, `${path}/keyFile`, issues);
  return {
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(input.servername === undefined ? {} : { servername: input.servername }),
    rejectUnauthorized: input.rejectUnauthorized,
  };
}

/** A client section's files read and checked; undefined when an issue was recorded. */
export function loadClientTls(input: ClientTlsFiles, path: string, issues: Issue[]): TlsMaterial | undefined {
  const before = issues.length;
  const { ca, cert, key } = readClientTlsFiles(input, path, issues);
  if (issues.length > before) return undefined;
  return checkMaterial({ ca, cert, key }, path, { ca: 'caFile', cert: 'certFile', key: 'keyFile' }, issues);
}

/** A listener's files read and checked; undefined when an issue was recorded. */
export function loadListenerTls(input: ListenerTlsFiles, path: string, issues: Issue[]): TlsMaterial | undefined {
  const before = issues.length;
  const cert = readPem(input.certFile, `${path}/certFile`, issues);
  const key = readPem(input.keyFile, `${path}/keyFile`, issues);
  const ca = readPem(input.clientCaFile, `${path}/clientCaFile`, issues);
  if (issues.length > before) return undefined;
  return checkMaterial({ ca, cert, key }, path, { ca: 'clientCaFile', cert: 'certFile', key: 'keyFile' }, issues);
}

/** The first certificate of a PEM text (the leaf of a chain), for logs. */
function leafCertificate(pem: string): X509Certificate | undefined {
  const first = certificateBlocks(pem)[0];
  try {
    return first === undefined ? undefined : new X509Certificate(first);
  } catch {
    return undefined;
  }
}

/** What a log line says about a certificate: enough to tell a renewed one from the old. */
export function describeCertificate(pem: string | undefined): { subject: string; serial: string; validTo: string } | undefined {
  const leaf = pem === undefined ? undefined : leafCertificate(pem);
  return leaf === undefined ? undefined : { subject: leaf.subject.replace(/\n/g, ', '), serial: leaf.serialNumber, validTo: leaf.validTo };
}

function readPem(file: string | undefined, path: string, issues: Issue[]): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    issues.push({ path, message: `cannot be read: ${(err as Error).message}` });
    return undefined;
  }
}

type Field = keyof TlsMaterial;

function checkMaterial(material: TlsMaterial, path: string, names: Record<Field, string>, issues: Issue[]): TlsMaterial | undefined {
  const before = issues.length;
  const at = (field: Field) => `${path}/${names[field]}`;
  if (material.ca !== undefined) certificates(material.ca, at('ca'), issues);
  const chain = material.cert === undefined ? undefined : certificates(material.cert, at('cert'), issues);
  const key = material.key === undefined ? undefined : privateKey(material.key, at('key'), issues);
  const leaf = chain?.[0];
  if (leaf !== undefined && key !== undefined && !leaf.checkPrivateKey(key)) {
    issues.push({ path: at('key'), message: `does not match the certificate in ${names.cert} (${leaf.subject.replace(/\n/g, ', ')})` });
  }
  if (issues.length > before) return undefined;
  try {
    // Whatever else OpenSSL refuses (a key type or curve it does not support) is found now, not
    // at the first handshake.
    createSecureContext({ ...material });
  } catch (err) {
    issues.push({ path, message: `cannot be used: ${(err as Error).message}` });
    return undefined;
  }
  return material;
}

const BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

function certificateBlocks(pem: string): string[] {
  return pem.match(BLOCK) ?? [];
}

function certificates(pem: string, path: string, issues: Issue[]): X509Certificate[] | undefined {
  const blocks = certificateBlocks(pem);
  if (blocks.length === 0) {
    issues.push({ path, message: 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)' });
    return undefined;
  }
  const parsed: X509Certificate[] = [];
  for (const [i, block] of blocks.entries()) {
    try {
      parsed.push(new X509Certificate(block));
    } catch (err) {
      issues.push({ path, message: `certificate ${i + 1} cannot be read: ${(err as Error).message}` });
      return undefined;
    }
  }
  return parsed;
}

function privateKey(pem: string, path: string, issues: Issue[]): KeyObject | undefined {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    issues.push({ path, message: `is not a PEM private key without a passphrase: ${(err as Error).message}` });
    return undefined;
  }
}
