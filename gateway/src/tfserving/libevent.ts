/**
 * What libevent 2.1.12 (TF Serving's HTTP layer) does before a request reaches TF's code: the
 * methods it accepts, the strict URI parse (evhttp_uri_parse) whose failure is a 400 page, the
 * reason phrases it puts on status lines and its HTML error pages.
 */
import { isIPv6 } from 'node:net';
import type { ServerResponse } from 'node:http';
import { libeventErrorPage } from './errors.js';

/** evhttp_new_object's default_content_type: libevent puts it on any answer that has none. */
export const DEFAULT_CONTENT_TYPE = 'text/html; charset=ISO-8859-1';

export { libeventErrorPage };

/** evhttp_set_allowed_methods in TF's evhttp_server.cc; anything else gets a 501 page. */
export const ALLOWED_METHODS: ReadonlySet<string> = new Set(['GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);

const PHRASES: Readonly<Record<number, string>> = {
  100: 'Continue',
  101: 'Switching Protocols',
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  203: 'Non-Authoritative Information',
  204: 'No Content',
  205: 'Reset Content',
  206: 'Partial Content',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  305: 'Use Proxy',
  // libevent's table lists 307's phrase at index 6, so it is 306 that reads "Temporary Redirect".
  306: 'Temporary Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Time-out',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Request Entity Too Large',
  414: 'Request-URI Too Large',
  415: 'Unsupported Media Type',
  416: 'Requested range not satisfiable',
  417: 'Expectation Failed',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Time-out',
  505: 'HTTP Version not supported',
};

const CLASS_NAMES: readonly string[] = ['Informational', 'Success', 'Redirection', 'Client Error', 'Server Error'];

/**
 * evhttp_response_phrase_internal: the table is indexed by position within its class, so codes
 * past a class's last entry (429, 499) get the class name ("Client Error").
 */
export function reasonPhrase(status: number): string {
  const phrase = PHRASES[status];
  if (phrase !== undefined) return phrase;
  const klass = Math.floor(status / 100) - 1;
  if (klass < 0 || klass >= CLASS_NAMES.length) return 'Unknown Status Class';
  return CLASS_NAMES[klass] as string;
}

/** evhttp_send_error: the HTML page, Content-Type text/html, and the connection closed after it. */
export function sendLibeventPage(res: ServerResponse, status: 400 | 404 | 501): void {
  const body = libeventErrorPage(status);
  res.writeHead(status, reasonPhrase(status), {
    'Content-Type': 'text/html',
    Connection: 'close',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** The same page written straight to a socket, for requests Node's parser refused. */
export function rawLibeventPage(status: 400 | 501): string {
  const body = libeventErrorPage(status);
  return (
    `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\nContent-Type: text/html\r\nConnection: close\r\n` +
    `Date: ${new Date().toUTCString()}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

// ---------------------------------------------------------------------------------------------
// evhttp_uri_parse (strict)

const SUBDELIMS = "!$&'()*+,;=";

function isUnreserved(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function isSubdelim(ch: string): boolean {
  return ch !== '' && SUBDELIMS.includes(ch);
}

/** Characters a path may hold as they are: unreserved, sub-delims, ':', '@' and '/'. */
const PATH_CHAR = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (isUnreserved(c) || isSubdelim(ch) || ch === ':' || ch === '@' || ch === '/') PATH_CHAR[c] = 1;
}

/** end_of_path: index just past the longest valid run of path (or query/fragment) characters. */
function endOfPath(s: string, from: number, allowQuestionMark: boolean): number {
  let i = from;
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c < 128 && PATH_CHAR[c] === 1) i++;
    else if (c === 37 && isHex(s.charCodeAt(i + 1)) && isHex(s.charCodeAt(i + 2))) i += 3;
    else if (c === 63 && allowQuestionMark) i++;
    else return i;
  }
  return i;
}

function schemeOk(s: string): boolean {
  if (s === '' || !/^[A-Za-z]/.test(s)) return false;
  return /^[A-Za-z][A-Za-z0-9+.-]*$/.test(s);
}

function charsOk(s: string, allowColon: boolean): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ch = s.charAt(i);
    if (isUnreserved(c) || isSubdelim(ch) || (allowColon && ch === ':')) continue;
    if (ch === '%' && isHex(s.charCodeAt(i + 1)) && isHex(s.charCodeAt(i + 2))) {
      i += 2;
      continue;
    }
    return false;
  }
  return true;
}

function bracketAddrOk(host: string): boolean {
  const inner = host.slice(1, -1);
  if (host.length < 3) return false;
  if (inner.startsWith('v')) return /^v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+$/.test(inner);
  return inner.length < 64 && isIPv6(inner);
}

function authorityOk(authority: string): boolean {
  if (authority === '') return true;
  let rest = authority;
  const at = rest.indexOf('@');
  if (at >= 0) {
    if (!charsOk(rest.slice(0, at), true)) return false;
    rest = rest.slice(at + 1);
  }
  let end = rest.length;
  let p = end - 1;
  while (p >= 0 && rest.charCodeAt(p) >= 0x30 && rest.charCodeAt(p) <= 0x39) p--;
  if (p >= 0 && rest.charAt(p) === ':') {
    const port = rest.slice(p + 1);
    if (port !== '' && Number(port) > 65535) return false;
    end = p;
  }
  const host = rest.slice(0, end);
  if (host.startsWith('[') && host.length >= 2 && host.endsWith(']')) return bracketAddrOk(host);
  return charsOk(host, false);
}

/**
 * TF's ParsedEvRequest::decode: the request-target through evhttp_uri_parse, then path, "?query"
 * and "#fragment" glued back together (TF matches its regexes against that string). null when
 * libevent rejects the URI, which TF answers with a 400 page.
 */
export function libeventPathAndQuery(target: string): string | null {
  // The usual origin-form target ("/v1/..."): no scheme, no authority, so what libevent gives back
  // is the target itself, provided every character is one it accepts.
  if (target.charCodeAt(0) === 47 && target.charCodeAt(1) !== 47) {
    // Reads stay within the string: one past its end (NaN) made V8 drop this function's optimized
    // code twice in every process's first seconds, a path without a query being the usual case.
    const n = target.length;
    let i = endOfPath(target, 0, false);
    if (i < n && target.charCodeAt(i) === 63) i = endOfPath(target, i + 1, true);
    if (i < n && target.charCodeAt(i) === 35) i = endOfPath(target, i + 1, true);
    return i === n ? target : null;
  }
  let rest = target;
  let scheme = false;
  const colon = rest.indexOf(':');
  if (colon >= 0 && schemeOk(rest.slice(0, colon))) {
    scheme = true;
    rest = rest.slice(colon + 1);
  }
  let gotAuthority = false;
  if (rest.startsWith('//')) {
    let end = 2;
    while (end < rest.length && !'?#/'.includes(rest.charAt(end))) end++;
    if (!authorityOk(rest.slice(2, end))) return null;
    rest = rest.slice(end);
    gotAuthority = true;
  }
  const pathEnd = endOfPath(rest, 0, false);
  const path = rest.slice(0, pathEnd);
  let i = pathEnd;
  let query: string | null = null;
  let fragment: string | null = null;
  if (rest.charAt(i) === '?') {
    const end = endOfPath(rest, i + 1, true);
    query = rest.slice(i + 1, end);
    i = end;
  }
  if (rest.charAt(i) === '#') {
    const end = endOfPath(rest, i + 1, true);
    fragment = rest.slice(i + 1, end);
    i = end;
  }
  if (i !== rest.length) return null;
  if (!gotAuthority && path.startsWith('//')) return null;
  if (gotAuthority && path !== '' && !path.startsWith('/')) return null;
  if (!scheme) {
    for (let k = 0; k < path.length; k++) {
      const ch = path.charAt(k);
      if (ch === ':') return null;
      if (ch === '/') break;
    }
  }
  let out = path;
  if (query !== null) out += '?' + query;
  if (fragment !== null) out += '#' + fragment;
  return out;
}
