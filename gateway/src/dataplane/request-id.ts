/**
 * Request ids: the client's `x-request-id` when it is a sane token, otherwise a new one. New ids are
 * a per-process random prefix plus a counter: unique across instances and restarts, and cheaper
 * than a UUID per request.
 */
import { randomBytes } from 'node:crypto';

const MAX_LENGTH = 200;

export class RequestIds {
  readonly #prefix = randomBytes(6).toString('hex') + '-';
  #counter = 0;

  next(): string {
    this.#counter = (this.#counter + 1) % Number.MAX_SAFE_INTEGER;
    return this.#prefix + this.#counter.toString(36);
  }

  /** Keeps a client id made of visible ASCII (no spaces, at most 200 characters); replaces anything else. */
  from(header: string | string[] | undefined): string {
    if (typeof header === 'string' && header.length > 0 && header.length <= MAX_LENGTH && isVisibleAscii(header)) {
      return header;
    }
    return this.next();
  }
}

function isVisibleAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}
