/**
 * Bearer tokens with roles. A presented token is hashed (SHA-256) and compared with every known
 * token's hash by timingSafeEqual, without stopping at a match, so neither the tokens' content,
 * their length nor their position leaks through timing.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { AdminRole, AdminTokenSpec } from '../../config/load.js';

export interface Identity {
  readonly name: string;
  readonly role: AdminRole;
}

export class TokenRegistry {
  readonly #entries: ReadonlyArray<{ readonly digest: Buffer; readonly identity: Identity }>;

  constructor(tokens: readonly AdminTokenSpec[]) {
    this.#entries = tokens.map((t) => ({ digest: digest(t.token), identity: { name: t.name, role: t.role } }));
  }

  /** The identity behind an Authorization header value, or undefined. */
  identify(authorization: string | undefined): Identity | undefined {
    if (authorization === undefined) return undefined;
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (match === null) return undefined;
    const presented = digest(match[1] as string);
    let found: Identity | undefined;
    for (const entry of this.#entries) {
      if (timingSafeEqual(presented, entry.digest)) found = entry.identity;
    }
    return found;
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** 32 random bytes, URL-safe: the operator token a gateway makes up when none is configured. */
export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the admin API's auth hook before any route runs. */
    identity: Identity | null;
  }
}

/** The caller of an authenticated route (the auth hook has already refused anonymous ones). */
export function identityOf(request: FastifyRequest): Identity {
  if (request.identity === null) throw new Error('route reached without an identity');
  return request.identity;
}
