/**
 * Headers that describe one connection, not the message (RFC 9110 §7.6.1), and so must not cross
 * the gateway in either direction. `expect` is also dropped: the gateway answers 100-continue
 * itself and undici refuses to send it.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

/**
 * Whether `name` is `lower` in any case. `lower` is lowercase ASCII; node:http has already checked
 * that a header name is a token. Compared in place: header names are new strings on every request,
 * and lowercasing each one (or hashing it into a Set) cost more than the rest of the header loop.
 */
export function nameIs(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const l = lower.charCodeAt(i);
    if (c !== l && !(c >= 65 && c <= 90 && c + 32 === l)) return false;
  }
  return true;
}

/** The names above by length: most headers are rejected by their length alone. */
const BY_LENGTH: (string[] | undefined)[] = [];
for (const h of HOP_BY_HOP) (BY_LENGTH[h.length] ??= []).push(h);

export function isHopByHop(name: string): boolean {
  const candidates = BY_LENGTH[name.length];
  if (candidates === undefined) return false;
  for (const h of candidates) if (nameIs(name, h)) return true;
  return false;
}

/**
 * Extra names a Connection header lists ("Connection: close, x-foo" makes x-foo hop-by-hop), added
 * to `into`: a message may carry several Connection lines and every one of them counts. The set is
 * made only when there is a name to add (per request, on the hot path: `keep-alive` allocates nothing).
 */
export function connectionTokens(value: string, into?: Set<string>): Set<string> | undefined {
  // The values that name no header: nearly every message carries one of them alone.
  if (nameIs(value, 'keep-alive') || nameIs(value, 'close')) return into;
  let out = into;
  for (const token of value.split(',')) {
    const t = token.trim().toLowerCase();
    if (t !== '' && t !== 'close' && t !== 'keep-alive') (out ??= new Set<string>()).add(t);
  }
  return out;
}
