/**
 * The text of a replica's header bytes (undici hands names and values over as Buffers). Making a
 * string from bytes is a call into C++: about 560 instructions each under callgrind, ten of them
 * per answer, more than the rest of the header loop. A replica answers with the same few headers
 * every time (Content-Type, Date for a whole second, Content-Length for one model's answers), so
 * the strings made last are kept in a small direct-mapped table and given back while the bytes
 * are the same: comparing a few dozen bytes in JavaScript costs a fraction of the call.
 * Bounded whatever a replica sends: 64 entries, of at most 64 bytes each.
 */
const SLOTS = 64;
const MAX_KEPT = 64;
const kept: string[] = new Array<string>(SLOTS).fill('');

/** `bytes.toString('latin1')`, the same string as last time where the bytes repeat. */
export function headerText(bytes: Buffer): string {
  const n = bytes.length;
  if (n === 0) return '';
  if (n > MAX_KEPT) return bytes.toString('latin1');
  const slot = (n * 31 + (bytes[0] as number) * 7 + (bytes[n - 1] as number)) & (SLOTS - 1);
  const last = kept[slot] as string;
  if (last.length === n && sameText(bytes, last)) return last;
  const text = bytes.toString('latin1');
  kept[slot] = text;
  return text;
}

/** Latin-1 maps each byte to the character of the same code: equal codes, equal text. */
function sameText(bytes: Buffer, text: string): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== text.charCodeAt(i)) return false;
  return true;
}

/**
 * Names clients send on nearly every request, as they spell them. undici looks every name it is
 * given up in a table of known names; a name node:http parsed is a new string each time, and that
 * lookup first searches V8's table of interned strings for it (under callgrind, about 1,500
 * instructions per request for the bench client's two names; nothing for a literal). A name found
 * here is sent as this module's literal: the same characters, already interned.
 */
const COMMON_NAMES: (string[] | undefined)[] = [];
// Literals, both spellings: a string built at run time (by toUpperCase, say) would not be interned.
for (const name of ['accept', 'Accept', 'accept-encoding', 'Accept-Encoding', 'authorization', 'Authorization', 'content-type', 'Content-Type', 'cookie', 'Cookie', 'user-agent', 'User-Agent', 'traceparent']) {
  (COMMON_NAMES[name.length] ??= []).push(name);
}

/** `name` itself, or the same characters as an interned literal when it is a common name. */
export function commonName(name: string): string {
  const candidates = COMMON_NAMES[name.length];
  if (candidates !== undefined) for (const c of candidates) if (c === name) return c;
  return name;
}
