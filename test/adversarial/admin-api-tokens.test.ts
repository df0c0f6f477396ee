/**
 * Token attacks on the admin API. Every write route (with a body it would accept) and every read
 * route, sent with no token, malformed ones, other schemes, near misses of the operator token,
 * the token where no token is read (query string, other headers), non-ASCII bytes, a duplicate
 * Authorization header and oversized values: 401 with `{error, details}` naming the header (or
 * Node's own 400/431 for bytes and sizes it does not read), and nothing written. A viewer's token
 * on every write: 403 and nothing written, whatever the body, If-Match or path spelling.
 *
 * Decided here: the scheme is case-insensitive and may be followed by several blanks (RFC 7235:
 * `auth-scheme 1*SP token68`, schemes case-insensitive), as the gateway does: tested as accepted.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { TEST_TOKEN, VIEWER_TOKEN } from '../helpers/gateway.js';
import { recordScenario } from '../../scripts/lib/reliability-records.js';
import { MODEL, OPERATOR, startAdminTarget, type AdminTarget, type Observed } from './admin-fixture.js';
import { rawRequest, type RawReply } from './admin-raw.js';

const M = `/api/models/${MODEL}`;

interface Route {
  readonly method: 'GET' | 'PUT' | 'POST';
  readonly path: string;
  /** A body the route accepts from an operator: a refusal is then down to the token alone. */
  readonly body?: string;
  /** Resume writes only when paused: pause first so that a resume let through shows. */
  readonly needsPause?: boolean;
}

const WRITES: readonly Route[] = [
  { method: 'PUT', path: `${M}/policy`, body: '{"stable": 1, "canary": 2, "percent": 30}' },
  { method: 'PUT', path: `${M}/percent`, body: '{"percent": 20}' },
  { method: 'PUT', path: `${M}/rules`, body: '{"salt": "attacker"}' },
  { method: 'PUT', path: `${M}/plan`, body: '{"plan": {"steps": [20, 50], "minDwellSeconds": 60, "minRequests": 10}}' },
  { method: 'PUT', path: `${M}/pools/1/replicas`, body: '{"replicas": ["http://127.0.0.1:9"]}' },
  { method: 'POST', path: `${M}/rollback`, body: '{"note": "attacker"}' },
  { method: 'POST', path: `${M}/promote`, body: '{"note": "attacker"}' },
  { method: 'POST', path: `${M}/abort`, body: '{"note": "attacker"}' },
  { method: 'POST', path: `${M}/pause`, body: '{"note": "attacker"}' },
  { method: 'POST', path: `${M}/resume`, body: '{"note": "attacker"}', needsPause: true },
];
const READS: readonly Route[] = ['/api/models', M, `/api/audit?model=${MODEL}`, '/api/session', '/api/openapi.json', '/api/events'].map((path) => ({ method: 'GET' as const, path }));

interface Attack {
  readonly name: string;
  readonly lines: readonly Buffer[];
  /** Appended to the query string. */
  readonly query?: string;
  readonly expect: readonly number[];
}

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');
const authorization = (...parts: Array<string | Buffer>): Buffer => Buffer.concat([bytes('Authorization: '), ...parts.map((p) => (typeof p === 'string' ? bytes(p) : p))]);
const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const changedOne = `${TEST_TOKEN.slice(0, 5)}${TEST_TOKEN[5] === 'x' ? 'y' : 'x'}${TEST_TOKEN.slice(6)}`;

const ATTACKS: readonly Attack[] = [
  { name: 'no Authorization', lines: [], expect: [401] },
  { name: 'Bearer without a token', lines: [authorization('Bearer')], expect: [401] },
  { name: 'Bearer and blanks', lines: [authorization('Bearer   \t ')], expect: [401] },
  { name: 'Basic with name:token', lines: [authorization(`Basic ${b64(`test-operator:${TEST_TOKEN}`)}`)], expect: [401] },
  { name: 'Basic with the token', lines: [authorization(`Basic ${b64(TEST_TOKEN)}`)], expect: [401] },
  { name: 'token without a scheme', lines: [authorization(TEST_TOKEN)], expect: [401] },
  { name: 'another scheme', lines: [authorization(`Token ${TEST_TOKEN}`)], expect: [401] },
  { name: 'Bearer: token', lines: [authorization(`Bearer:${TEST_TOKEN}`)], expect: [401] },
  { name: 'token and one more character', lines: [authorization(`Bearer ${TEST_TOKEN}x`)], expect: [401] },
  { name: 'token less its last character', lines: [authorization(`Bearer ${TEST_TOKEN.slice(0, -1)}`)], expect: [401] },
  { name: 'half the token', lines: [authorization(`Bearer ${TEST_TOKEN.slice(0, TEST_TOKEN.length / 2)}`)], expect: [401] },
  { name: 'one character changed', lines: [authorization(`Bearer ${changedOne}`)], expect: [401] },
  { name: 'token in upper case', lines: [authorization(`Bearer ${TEST_TOKEN.toUpperCase()}`)], expect: [401] },
  { name: 'token in quotes', lines: [authorization(`Bearer "${TEST_TOKEN}"`)], expect: [401] },
  { name: 'token twice', lines: [authorization(`Bearer ${TEST_TOKEN} ${TEST_TOKEN}`)], expect: [401] },
  { name: 'two credentials in one header', lines: [authorization(`Bearer ${VIEWER_TOKEN}, Bearer ${TEST_TOKEN}`)], expect: [401] },
  { name: '15 KiB token', lines: [authorization(`Bearer ${'a'.repeat(15 * 1024)}`)], expect: [401] },
  // Over Node's 16 KiB header limit: refused before any route runs.
  { name: '100 KiB token', lines: [authorization(`Bearer ${TEST_TOKEN}${'a'.repeat(100 * 1024)}`)], expect: [431] },
  { name: 'UTF-8 token', lines: [authorization('Bearer ', Buffer.from('tøken-ü-日本-🔑', 'utf8'))], expect: [401] },
  { name: 'token and a Latin-1 byte', lines: [authorization(`Bearer ${TEST_TOKEN}`, Buffer.from([0xe9]))], expect: [401] },
  { name: 'token and a NUL byte', lines: [authorization(`Bearer ${TEST_TOKEN}`, Buffer.from([0x00]))], expect: [400] },
  { name: 'token and a control byte', lines: [authorization(`Bearer ${TEST_TOKEN}`, Buffer.from([0x01]))], expect: [400] },
  // Node keeps the first of duplicate Authorization headers.
  { name: 'a wrong token, then the token in a second header', lines: [authorization('Bearer wrong-token-0123456789'), authorization(`Bearer ${TEST_TOKEN}`)], expect: [401] },
  { name: 'token in ?token=', lines: [], query: `token=${TEST_TOKEN}`, expect: [401] },
  { name: 'token in ?access_token=', lines: [], query: `access_token=${TEST_TOKEN}`, expect: [401] },
  { name: 'token in ?authorization=', lines: [], query: `authorization=Bearer%20${TEST_TOKEN}`, expect: [401] },
  { name: 'token in X-Admin-Token', lines: [bytes(`X-Admin-Token: ${TEST_TOKEN}`)], expect: [401] },
  { name: 'token in X-Api-Key', lines: [bytes(`X-Api-Key: ${TEST_TOKEN}`)], expect: [401] },
  { name: 'token in a cookie', lines: [bytes(`Cookie: token=${TEST_TOKEN}; authorization=Bearer%20${TEST_TOKEN}`)], expect: [401] },
  { name: 'token in Proxy-Authorization', lines: [bytes(`Proxy-Authorization: Bearer ${TEST_TOKEN}`)], expect: [401] },
];

const viewer = authorization(`Bearer ${VIEWER_TOKEN}`);
/** `rev` is the current revision (for If-Match). Path variants may miss the route: 404 is as good. */
const viewerAttacks = (rev: number): ReadonlyArray<Attack & { body?: string; path?: (path: string) => string }> => [
  { name: 'viewer token', lines: [viewer], expect: [403] },
  { name: 'viewer token, lower-case scheme', lines: [authorization(`bearer ${VIEWER_TOKEN}`)], expect: [403] },
  { name: 'viewer token with the current If-Match', lines: [viewer, bytes(`If-Match: "${rev}"`)], expect: [403] },
  { name: 'viewer token and an invalid body (role checked first)', lines: [viewer], body: '{"percent": "x", "unknown": 1}', expect: [403] },
  { name: 'viewer token, operator token in the query', lines: [viewer], query: `token=${TEST_TOKEN}`, expect: [403] },
  { name: 'viewer token, operator token in X-Admin-Token', lines: [viewer, bytes(`X-Admin-Token: ${TEST_TOKEN}`)], expect: [403] },
  { name: 'viewer token, then the operator token in a second header', lines: [viewer, authorization(`Bearer ${TEST_TOKEN}`)], expect: [403] },
  { name: 'viewer token, X-HTTP-Method-Override: GET', lines: [viewer, bytes('X-HTTP-Method-Override: GET')], expect: [403] },
  { name: 'viewer token, percent-encoded model name', lines: [viewer], path: (p) => p.replace(MODEL, encodeURIComponent(MODEL).replace(/_/g, '%5F')), expect: [403] },
  { name: 'viewer token, trailing slash', lines: [viewer], path: (p) => `${p}/`, expect: [403, 404] },
  { name: 'viewer token, doubled slashes', lines: [viewer], path: (p) => p.replace('/api/models/', '/api//models//'), expect: [403, 404] },
  { name: 'viewer token, dot segment', lines: [viewer], path: (p) => p.replace('/api/models/', '/api/models/./'), expect: [403, 404] },
];

let target: AdminTarget;
before(async () => {
  target = await startAdminTarget({ type: 'memory' });
});
after(async () => {
  await target?.close();
});

const withQuery = (path: string, query: string | undefined): string => (query === undefined ? path : `${path}${path.includes('?') ? '&' : '?'}${query}`);

/** What is wrong with a refusal, or undefined. */
function judgeRefusal(reply: RawReply, expect: readonly number[]): string | undefined {
  if (!expect.includes(reply.status)) return `${reply.status} instead of ${expect.join(' or ')}`;
  if (reply.status !== 401 && reply.status !== 403) return undefined; // Node's parser answered: no route ran
  let body: { error?: unknown; details?: Array<{ path?: unknown }> };
  try {
    body = JSON.parse(reply.body) as typeof body;
  } catch {
    return `${reply.status} without a JSON body`;
  }
  if (typeof body.error !== 'string' || body.error === '') return `${reply.status} without an error message`;
  if (!body.details?.some((d) => d.path === '/headers/authorization')) return `${reply.status} not naming /headers/authorization`;
  if (reply.status === 401 && reply.headers['www-authenticate'] !== 'Bearer realm="canary-gateway"') return '401 without WWW-Authenticate: Bearer';
  return undefined;
}

interface Outcome {
  requests: number;
  failures: number;
  readonly reasons: Record<string, number>;
  readonly examples: string[];
}

const operatorLines = [authorization(OPERATOR)];

/** Sends every attack to `route`, checking each answer and, for writes, that nothing changed. */
async function attackRoute(route: Route, attacks: ReturnType<typeof viewerAttacks>, outcome: Outcome): Promise<void> {
  const prepare = async (): Promise<Observed | undefined> => {
    if (route.needsPause === true) {
      const paused = await rawRequest(target.gw.admin, 'POST', `${M}/pause`, operatorLines, '{}');
      assert.equal(paused.status, 200, paused.body);
    }
    return route.method === 'GET' ? undefined : target.observe();
  };
  let before = await prepare();
  for (const attack of attacks) {
    const path = withQuery(attack.path?.(route.path) ?? route.path, attack.query);
    const reply = await rawRequest(target.gw.admin, route.method, path, attack.lines, attack.body ?? route.body ?? '');
    outcome.requests++;
    let problem = judgeRefusal(reply, attack.expect);
    if (before !== undefined && !isDeepStrictEqual(before, await target.observe())) {
      problem = `${reply.status}, and something was written`;
      await target.restore();
      before = await prepare();
    }
    if (problem === undefined) continue;
    outcome.failures++;
    const reason = `${problem}: ${attack.name}`;
    outcome.reasons[reason] = (outcome.reasons[reason] ?? 0) + 1;
    if (outcome.examples.length < 10) outcome.examples.push(`${route.method} ${path} [${attack.name}]: ${reply.status} ${reply.body.slice(0, 300)}`);
  }
  if (route.needsPause === true) await target.restore();
}

test('the routes answer a valid token (so the refusals below are down to the token)', async () => {
  for (const route of READS.filter((r) => r.path !== '/api/events')) {
    for (const token of [TEST_TOKEN, VIEWER_TOKEN]) {
      const reply = await rawRequest(target.gw.admin, 'GET', route.path, [authorization(`Bearer ${token}`)]);
      assert.equal(reply.status, 200, `${route.path}: ${reply.body.slice(0, 200)}`);
    }
  }
  // The write bodies are the ones an operator gets through (each write undone before the next).
  for (const route of WRITES) {
    await target.restore();
    if (route.needsPause === true) await rawRequest(target.gw.admin, 'POST', `${M}/pause`, operatorLines, '{}');
    const reply = await rawRequest(target.gw.admin, route.method, route.path, operatorLines, route.body);
    assert.equal(reply.status, 200, `${route.method} ${route.path}: ${reply.body.slice(0, 300)}`);
  }
  await target.restore();
});

test('token attacks: 30 kinds on every write and read route, 401 and nothing written', async () => {
  const startedAt = Date.now();
  const outcome: Outcome = { requests: 0, failures: 0, reasons: {}, examples: [] };
  for (const route of [...WRITES, ...READS]) await attackRoute(route, ATTACKS, outcome);
  recordScenario({
    suite: 'admin-api',
    scenario: 'token attacks',
    load: `${ATTACKS.length} kinds of credential x ${WRITES.length + READS.length} routes (${WRITES.length} writes with valid bodies, ${READS.length} reads), one at a time`,
    fault: 'no token, empty Bearer, Basic, other schemes, near misses of the operator token (prefix, extra or changed character, case), 15 and 100 KiB values, non-ASCII and control bytes, a duplicate header, the token in the query string, other headers or a cookie',
    requests: outcome.requests,
    failures: outcome.failures,
    reasons: outcome.reasons,
    target: '401 {error, details: /headers/authorization} with WWW-Authenticate (Node answers 400 for control bytes, 431 over 16 KiB); nothing written',
    met: outcome.failures === 0,
    notes: 'tokens are compared as SHA-256 digests with timingSafeEqual against every configured token; "bearer"/"BEARER" and extra blanks before the token are accepted (RFC 7235)',
    durationMs: Date.now() - startedAt,
  });
  assert.equal(outcome.failures, 0, outcome.examples.join('\n'));
});

test('viewer writes: a viewer token on every write route, 403 and nothing written', async () => {
  const startedAt = Date.now();
  const outcome: Outcome = { requests: 0, failures: 0, reasons: {}, examples: [] };
  const attacks = viewerAttacks((await target.observe()).view.revision);
  for (const route of WRITES) await attackRoute(route, attacks, outcome);
  recordScenario({
    suite: 'admin-api',
    scenario: 'viewer writes',
    load: `${attacks.length} variants x ${WRITES.length} write routes, one at a time`,
    fault: 'a viewer token on every write: plain, lower-case scheme, with the current If-Match, with an invalid body, with the operator token in the query, another header or a second Authorization header, a method override, path spellings (encoded, trailing slash, doubled slashes, dot segment)',
    requests: outcome.requests,
    failures: outcome.failures,
    reasons: outcome.reasons,
    target: '403 naming /headers/authorization (404 for a path spelling no route matches); nothing written',
    met: outcome.failures === 0,
    durationMs: Date.now() - startedAt,
  });
  assert.equal(outcome.failures, 0, outcome.examples.join('\n'));
});

test('accepted spellings of a valid token: any case of the scheme, several blanks before the token', async () => {
  for (const value of [`bearer ${TEST_TOKEN}`, `BEARER ${TEST_TOKEN}`, `Bearer    ${TEST_TOKEN}`, `Bearer\t${TEST_TOKEN}`, `Bearer ${TEST_TOKEN}  `]) {
    const reply = await rawRequest(target.gw.admin, 'GET', '/api/session', [authorization(value)]);
    assert.equal(reply.status, 200, JSON.stringify(value));
    assert.equal((JSON.parse(reply.body) as { name: string }).name, 'test-operator');
  }
});
