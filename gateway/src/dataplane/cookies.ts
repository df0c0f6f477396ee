/**
 * Finds one cookie in a Cookie header without building a map of all of them: the decision needs at
 * most two names per request, and most requests carry no cookie rule at all.
 */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  let start = 0;
  const len = header.length;
  while (start < len) {
    while (start < len && (header.charCodeAt(start) === 32 || header.charCodeAt(start) === 9)) start++;
    let end = header.indexOf(';', start);
    if (end === -1) end = len;
    const eq = header.indexOf('=', start);
    if (eq !== -1 && eq < end && eq - start === name.length && header.startsWith(name, start)) {
      let value = header.slice(eq + 1, end).trim();
      if (value.length >= 2 && value.charCodeAt(0) === 34 && value.charCodeAt(value.length - 1) === 34) {
        value = value.slice(1, -1);
      }
      return value;
    }
    start = end + 1;
  }
  return undefined;
}
