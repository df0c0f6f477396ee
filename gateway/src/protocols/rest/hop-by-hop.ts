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

/** Lengths of the names above: most headers are rejected by this test alone, without lowercasing. */
const LENGTHS = new Set([...HOP_BY_HOP].map((h) => h.length));

export function isHopByHop(name: string): boolean {
  return LENGTHS.has(name.length) && HOP_BY_HOP.has(name.toLowerCase());
}

/** The Connection values that name no header: nearly every message carries one of them alone. */
const PLAIN = new Set(['keep-alive', 'close']);

/**
 * Extra names a Connection header lists ("Connection: close, x-foo" makes x-foo hop-by-hop), added
 * to `into`: a message may carry several Connection lines and every one of them counts. The set is
 * made only when there is a name to add (per request, on the hot path: `keep-alive` allocates nothing).
 */
export function connectionTokens(value: string, into?: Set<string>): Set<string> | undefined {
  if (value.length <= 10 && PLAIN.has(value.toLowerCase())) return into;
  let out = into;
  for (const token of value.split(',')) {
    const t = token.trim().toLowerCase();
    if (t !== '' && t !== 'close' && t !== 'keep-alive') (out ??= new Set<string>()).add(t);
  }
  return out;
}
