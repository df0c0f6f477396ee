/**
 * Bearer-token check for the admin API. Tokens are compared as SHA-256 digests with
 * timingSafeEqual, so neither the content nor the length of the expected token leaks through timing.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export class TokenCheck {
  readonly #digest: Buffer;

  constructor(token: string) {
    this.#digest = digest(token);
  }

  /** Accepts the raw Authorization header value. */
  accepts(authorization: string | undefined): boolean {
    if (authorization === undefined) return false;
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (match === null) return false;
    return timingSafeEqual(digest(match[1] as string), this.#digest);
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** 32 random bytes, URL-safe: what the gateway uses when ADMIN_TOKEN is not set. */
export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}
