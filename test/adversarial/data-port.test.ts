/**
 * Adversarial input on the data (REST) port. The gateway runs as a child process (so "never
 * crashes" and "memory stays bounded" can be read off the process itself) in front of two
 * simulated half_plus_two replicas and a recording replica serving a model named `echo`, which
 * answers with what reached it. Raw sockets send what HTTP clients would refuse or normalise.
 *
 * "TF-style" means what TF Serving itself answers: `{"error": "..."}` JSON for /v1 paths, and
 * libevent's HTML pages for what never reaches its handlers (paths outside /v1, unparsable
 * requests: 400, methods libevent refuses: 501). A request that times out is closed without an
 * answer, as libevent does.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { spawnNode, stopChild } from '../../scripts/lib/processes.js';
import { GATEWAY_NODE_FLAGS } from '../../gateway/src/runtime/heap.js';
import { TestClient, inParallel } from '../helpers/http.js';
import { startRecordingReplica, type Received, type RecordingReplica } from '../helpers/recording-replica.js';
import { recordScenario } from '../../scripts/lib/reliability-records.js';
import { startReplica, type SimulatorHandle } from '../helpers/simulator.js';
import { describeOutcome, describeResponse, libeventPage, rawExchange, tfError, type RawOutcome, type RawResponse } from './raw-http.js';

const MAIN = fileURLToPath(new URL('../../gateway/src/main.js', import.meta.url));
const SUITE = 'data-port';
const TOKEN = 'adversarial-operator-token-0123456789';
/** proxy.maxBodyBytes: small, so oversized bodies are cheap to send. */
const LIMIT = 1024 * 1024;
/** proxy.deadlineMs; the REST listener's headersTimeout and requestTimeout follow it. */
const DEADLINE_MS = 2_000;
/** Generous: the gateway's own baseline is about 110 MB; growth beyond this would be a leak or unbounded buffering. */
const RSS_GROWTH_BOUND_MIB = 64;
const HOST = 'Host: gateway.test\r\n';

let child: ChildProcess;
let restPort = 0;
let admin = '';
let rest = '';
let workDir = '';
/** Log lines seen so far that tell of a bug or of a replica taken out. */
const logged = { handlerFailures: 0, breakersOpened: 0 };
let rssBaseline = 0;
let recorder: RecordingReplica;
const sims: SimulatorHandle[] = [];
const client = new TestClient(16);

// ---------------------------------------------------------------------------------------------
// What an answer must be

type ResponseCheck = (r: RawResponse) => string | undefined;

interface Expectation {
  readonly answers: readonly ResponseCheck[];
  /** The gateway must close the connection after the answers. */
  readonly closes?: boolean;
}

interface Probe {
  readonly label: string;
  readonly send: string | Buffer | ReadonlyArray<string | Buffer>;
  readonly expect: Expectation;
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
}

/** TF Serving's JSON error: status, `{"error": ...}` only, and the message when given. */
const tf =
  (status: number, message?: string | RegExp): ResponseCheck =>
  (r) => {
    if (r.status !== status) return `status ${r.status} (${describeResponse(r)}), expected ${status}`;
    const error = tfError(r);
    if (error === undefined) return `not a TF error body: ${r.headers['content-type'] ?? '-'} ${JSON.stringify(r.body.slice(0, 120))}`;
    if (message === undefined) return undefined;
    const ok = typeof message === 'string' ? error === message : message.test(error);
    return ok ? undefined : `error ${JSON.stringify(error.slice(0, 160))}, expected ${String(message)}`;
  };

/** libevent's HTML page, with Connection: close. */
const page =
  (status: 400 | 404 | 501): ResponseCheck =>
  (r) => {
    if (r.status !== status) return `status ${r.status} (${describeResponse(r)}), expected ${status} page`;
    if (r.headers['content-type'] !== 'text/html' || r.body !== libeventPage(status)) return `not libevent's ${status} page: ${JSON.stringify(r.body.slice(0, 80))}`;
    return r.headers['connection']?.toLowerCase() === 'close' ? undefined : 'no Connection: close';
  };

/** An answer relayed from the recording replica, optionally checking the path the replica saw. */
const relayed =
  (status = 200, path?: string, check?: (seen: Received) => string | undefined): ResponseCheck =>
  (r) => {
    if (r.status !== status || r.headers['x-model-version'] !== '1') return `${describeResponse(r)}, expected ${status} relayed from the replica`;
    if (path === undefined && check === undefined) return undefined;
    let seen: Received;
    try {
      seen = JSON.parse(r.body) as Received;
    } catch {
      return `not the recording replica's echo: ${JSON.stringify(r.body.slice(0, 80))}`;
    }
    if (path !== undefined && seen.path !== path) return `the replica saw ${JSON.stringify(seen.path)}, expected ${JSON.stringify(path)}`;
    return check?.(seen);
  };

/** An answer without a body (a CORS preflight, node's own 417). */
const bare =
  (status: number): ResponseCheck =>
  (r) =>
    r.status === status && r.body === '' ? undefined : `${describeResponse(r)}, expected ${status} with an empty body`;

const interim: ResponseCheck = (r) => (r.status === 100 ? undefined : `${describeResponse(r)}, expected 100 Continue`);

const answer = (...answers: ResponseCheck[]): Expectation => ({ answers });
const answerAndClose = (...answers: ResponseCheck[]): Expectation => ({ answers, closes: true });
const SILENT_CLOSE: Expectation = { answers: [], closes: true };

function verify(expect: Expectation, o: RawOutcome): string | undefined {
  if (o.responses.length !== expect.answers.length) {
    return o.timedOut ? `nothing conclusive within the socket timeout: ${describeOutcome(o)}` : `expected ${expect.answers.length} answer(s), got ${describeOutcome(o)}`;
  }
  for (let i = 0; i < expect.answers.length; i++) {
    const miss = (expect.answers[i] as ResponseCheck)(o.responses[i] as RawResponse);
    if (miss !== undefined) return expect.answers.length === 1 ? miss : `answer ${i + 1}: ${miss}`;
  }
  if (expect.closes === true && !o.closed) return `connection left open after ${describeOutcome(o)}`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// One scenario's tally, recorded before it is asserted

class Tally {
  requests = 0;
  readonly failures: string[] = [];
  readonly reasons: Record<string, number> = {};
  readonly answers: Record<string, number> = {};
  readonly notes: string[] = [];

  add(label: string, outcome: RawOutcome, miss: string | undefined): void {
    this.requests++;
    const what = describeOutcome(outcome);
    this.answers[what] = (this.answers[what] ?? 0) + 1;
    if (miss === undefined) return;
    this.reasons[what] = (this.reasons[what] ?? 0) + 1;
    this.failures.push(`${label}: ${miss}`);
  }

  /** A check that is not one request's answer (what the replica saw, the process...). */
  require(ok: boolean, failure: string): void {
    if (!ok) this.failures.push(failure);
  }

  async probe(p: Probe): Promise<RawOutcome> {
    const outcome = await rawExchange(restPort, p.send, {
      timeoutMs: p.timeoutMs ?? 5_000,
      // Expecting a close: wait for it (the timeout catches a gateway that keeps the socket).
      responses: p.expect.closes === true ? undefined : p.expect.answers.length,
      ...(p.intervalMs === undefined ? {} : { intervalMs: p.intervalMs }),
    });
    this.add(p.label, outcome, verify(p.expect, outcome));
    return outcome;
  }

  async probes(list: readonly Probe[]): Promise<void> {
    for (const p of list) await this.probe(p);
  }
}

interface ScenarioSpec {
  /** "{n}" stands for the number of requests the scenario sent. */
  readonly load: string;
  readonly fault: string;
  readonly target: string;
}

const TARGET = 'clear TF-style answer for each, nothing unintended reaches a replica, gateway alive';

async function scenario(name: string, spec: ScenarioSpec, body: (t: Tally) => Promise<void>): Promise<void> {
  const t = new Tally();
  const started = performance.now();
  const bugsBefore = logged.handlerFailures;
  await body(t);
  await checkAlive(t);
  t.require(logged.handlerFailures === bugsBefore, `the gateway logged ${logged.handlerFailures - bugsBefore} request handler failure(s)`);
  t.notes.push(`gateway RSS ${rssMiB().toFixed(1)} MiB after the scenario`);
  recordScenario({
    suite: SUITE,
    scenario: name,
    load: spec.load.replace('{n}', String(t.requests)),
    fault: spec.fault,
    requests: t.requests,
    failures: t.failures.length,
    reasons: t.reasons,
    answers: t.answers,
    target: spec.target,
    met: t.failures.length === 0,
    ...(t.notes.length === 0 ? {} : { notes: t.notes.join('; ') }),
    durationMs: Math.round(performance.now() - started),
  });
  assert.deepEqual(t.failures, [], `${name}: ${t.failures.length} failure(s)`);
}

/** The process runs and still serves a status request (from a simulated replica). */
async function checkAlive(t: Tally): Promise<void> {
  t.require(child.exitCode === null && child.signalCode === null, `the gateway exited (${String(child.exitCode ?? child.signalCode)})`);
  try {
    const reply = await client.get(`${rest}/v1/models/half_plus_two`);
    t.require(reply.status === 200 && reply.text.includes('AVAILABLE'), `after the scenario the status request answered ${reply.status}`);
  } catch (err) {
    t.failures.push(`after the scenario the status request failed: ${String(err)}`);
  }
}

function rssMiB(): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid ?? 0}/status`, 'utf8'));
  return match === null ? Number.NaN : Number(match[1]) / 1024;
}

/** What reached the recording replica since `mark`. */
function seenSince(mark: number): Received[] {
  return recorder.received.slice(mark);
}

function header(seen: Received, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < seen.rawHeaders.length; i += 2) {
    if ((seen.rawHeaders[i] as string).toLowerCase() === name) out.push(seen.rawHeaders[i + 1] as string);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Requests

const get = (target: string, extra = ''): string => `GET ${target} HTTP/1.1\r\n${HOST}${extra}\r\n`;
const post = (target: string, body: string, extra = ''): string =>
  `POST ${target} HTTP/1.1\r\n${HOST}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
const chunked = (target: string, size: number, extra = ''): Buffer => {
  const piece = Buffer.alloc(64 * 1024, 0x31);
  const parts: Buffer[] = [Buffer.from(`POST ${target} HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n${extra}\r\n`)];
  for (let sent = 0; sent < size; sent += piece.length) parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
};

// ---------------------------------------------------------------------------------------------

before(async () => {
  for (let i = 0; i < 2; i++) sims.push(await startReplica({ model: 'half_plus_two', versions: [1], behaviour: 'half_plus_two' }));
  recorder = await startRecordingReplica('echo', 1);
  workDir = mkdtempSync(join(tmpdir(), 'cg-adversarial-'));
  const file = join(workDir, 'gateway.json');
  writeFileSync(
    file,
    JSON.stringify({
      listeners: { rest: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
      admin: { tokens: [{ name: 'adversarial-operator', token: TOKEN, role: 'operator' }] },
      store: { type: 'memory' },
      proxy: { deadlineMs: DEADLINE_MS, maxBodyBytes: LIMIT, retryBufferBytes: 64 * 1024 },
      shutdown: { readinessDelayMs: 0, drainTimeoutMs: 1_000 },
      models: {
        half_plus_two: { pools: { '1': { replicas: sims.map((s) => s.url) } }, policy: { stable: 1 } },
        echo: { pools: { '1': { replicas: [recorder.url] } }, policy: { stable: 1 } },
      },
    }),
  );
  const spawned = await spawnNode(MAIN, ['--config', file], /REST on [\d.]+:(\d+), admin API on [\d.]+:(\d+)/, {
    env: { PATH: process.env['PATH'], LOG_LEVEL: 'warn', GATEWAY_STORE: 'memory' },
    nodeArgs: GATEWAY_NODE_FLAGS,
  });
  child = spawned.child;
  process.once('exit', () => child.kill('SIGKILL'));
  // Keep reading its log (a full pipe would block it), counting the lines the checks look for.
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.includes('request handler failed')) logged.handlerFailures++;
      if (line.includes('breaker open')) logged.breakersOpened++;
    }
  });
  restPort = Number(spawned.match[1]);
  rest = `http://127.0.0.1:${restPort}`;
  admin = `http://127.0.0.1:${spawned.match[2]}`;
  // Warm up (JIT, connection pools) before the baseline is read.
  await inParallel(40, 8, async (i) => {
    const reply = i % 2 === 0 ? await client.post(`${rest}/v1/models/half_plus_two:predict`, '{"instances": [1.0]}') : await client.get(`${rest}/v1/models/echo`);
    assert.equal(reply.status, 200);
  });
  rssBaseline = rssMiB();
});

after(async () => {
  if (child !== undefined) await stopChild(child, 3_000);
  await client.close();
  await recorder?.close();
  await Promise.all(sims.map((s) => s.close()));
  if (workDir !== '') rmSync(workDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------


/** The echo pool's error count and each replica's breaker and consecutive failures, as JSON. */
async function echoPoolHealth(): Promise<string> {
  const state = await client.get(`${admin}/api/models/echo`, { authorization: `Bearer ${TOKEN}` });
  const pool = state.json<{ pools: Array<{ stats: { errors: number }; replicas: Array<{ breaker: string; consecutiveFailures: number }> }> }>().pools[0];
  return JSON.stringify({ errors: pool?.stats.errors, replicas: pool?.replicas.map((r) => [r.breaker, r.consecutiveFailures]) });
}
test('path traversal', () =>
  scenario(
    'path traversal',
    {
      load: '{n} raw requests, one at a time',
      fault: '../ and %2e%2e segments in model, version and label positions, outside and inside /v1',
      target: `${TARGET}; dot segments are never resolved, a replica sees only /v1/models/echo...`,
    },
    async (t) => {
      const mark = recorder.received.length;
      const malformed = (target: string): Probe => ({ label: target, send: get(target), expect: answer(tf(400, `Malformed request: GET ${target}`)) });
      await t.probes([
        malformed('/v1/models/../../etc/passwd'),
        malformed('/v1/models/half_plus_two/../x'),
        malformed('/v1/models/half_plus_two/../../../../etc/passwd'),
        malformed('/v1/../admin'),
        malformed('/v1/models/%2e%2e/%2e%2e/etc/passwd'),
        malformed('/v1/models/echo/versions/1/../../../admin'),
        { label: '/../../etc/passwd', send: get('/../../etc/passwd'), expect: answerAndClose(page(404)) },
        { label: '/v1/models/%2e%2e', send: get('/v1/models/%2e%2e'), expect: answer(tf(404, 'Could not find any versions of model ..')) },
        { label: 'POST /v1/models/..:predict', send: post('/v1/models/..:predict', '{"instances": [1]}'), expect: answer(tf(404, 'Servable not found for request: Latest(..)')) },
        {
          label: 'label ..%2F..%2Fadmin',
          send: post('/v1/models/echo/labels/..%2F..%2Fadmin:predict', '{"instances": [1]}'),
          expect: answer(tf(400, 'Unrecognized servable version label: ../../admin')),
        },
        {
          label: 'version 1%2F..%2F2',
          send: get('/v1/models/echo/versions/1%2F..%2F2'),
          expect: answer(tf(400, 'Malformed request: GET /v1/models/echo/versions/1%2F..%2F2')),
        },
        // A status request goes to a replica as written; TF Serving reads ".." as a label name
        // and, not resolving labels on status requests, lists the model's versions.
        { label: 'label ..', send: get('/v1/models/echo/labels/..'), expect: answer(relayed(200, '/v1/models/echo/labels/..')) },
        { label: 'label %2e%2e', send: get('/v1/models/echo/labels/%2e%2e'), expect: answer(relayed(200, '/v1/models/echo/labels/%2e%2e')) },
      ]);
      const paths = seenSince(mark).map((s) => s.path);
      t.require(
        JSON.stringify(paths) === JSON.stringify(['/v1/models/echo/labels/..', '/v1/models/echo/labels/%2e%2e']),
        `the replica saw ${JSON.stringify(paths)}`,
      );
      t.notes.push('status paths reach the replica byte for byte, never normalised');
    },
  ));

test('encoded slashes', () =>
  scenario(
    'encoded slashes',
    {
      load: '{n} raw requests, one at a time',
      fault: '%2F, %2f, %252F and %00 inside model names, labels and versions',
      target: `${TARGET}; a decoded name is one name, never a path`,
    },
    async (t) => {
      const mark = recorder.received.length;
      await t.probes([
        { label: 'echo%2Fversions%2F1', send: get('/v1/models/echo%2Fversions%2F1'), expect: answer(tf(404, 'Could not find any versions of model echo/versions/1')) },
        {
          label: 'echo%2f..%2f..%2fapi%2fmodels',
          send: get('/v1/models/echo%2f..%2f..%2fapi%2fmodels'),
          expect: answer(tf(404, 'Could not find any versions of model echo/../../api/models')),
        },
        {
          label: 'predict half_plus_two%2F..%2Fecho',
          send: post('/v1/models/half_plus_two%2F..%2Fecho:predict', '{"instances": [1]}'),
          expect: answer(tf(404, 'Servable not found for request: Latest(half_plus_two/../echo)')),
        },
        {
          label: 'predict echo%2Fversions%2F1',
          send: post('/v1/models/echo%2Fversions%2F1:predict', '{"instances": [1]}'),
          expect: answer(tf(404, 'Servable not found for request: Latest(echo/versions/1)')),
        },
        { label: 'double-encoded echo%252Fx', send: get('/v1/models/echo%252Fx'), expect: answer(tf(404, 'Could not find any versions of model echo%2Fx')) },
        { label: 'encoded NUL echo%00', send: get('/v1/models/echo%00'), expect: answer(tf(404, 'Could not find any versions of model echo\u0000')) },
        { label: 'version 1%2F2', send: get('/v1/models/echo/versions/1%2F2'), expect: answer(tf(400, 'Malformed request: GET /v1/models/echo/versions/1%2F2')) },
        // Decoded to the known model: a status path is relayed as written, an inference one on the
        // pool's own canonical path.
        { label: 'status ech%6F', send: get('/v1/models/ech%6F'), expect: answer(relayed(200, '/v1/models/ech%6F')) },
        { label: 'predict ech%6F', send: post('/v1/models/ech%6F:predict', '{"instances": [1]}'), expect: answer(relayed(200, '/v1/models/echo/versions/1:predict')) },
        { label: 'label a%2Fb', send: get('/v1/models/echo/labels/a%2Fb'), expect: answer(relayed(200, '/v1/models/echo/labels/a%2Fb')) },
      ]);
      const paths = seenSince(mark).map((s) => s.path);
      t.require(
        JSON.stringify(paths) === JSON.stringify(['/v1/models/ech%6F', '/v1/models/echo/versions/1:predict', '/v1/models/echo/labels/a%2Fb']),
        `the replica saw ${JSON.stringify(paths)}`,
      );
    },
  ));

test('control bytes and bad request lines', () =>
  scenario(
    'control bytes',
    {
      load: '{n} raw requests, one at a time',
      fault: 'NUL, ^A, DEL, tab and raw UTF-8 in the target; NUL in a header; bad versions, bare LF, HTTP/2 preface, TLS hello; junk behind a request still being answered',
      target: `${TARGET}; libevent's 400 page (501 for a non-method), connection closed`,
    },
    async (t) => {
      const mark = recorder.received.length;
      const bad = (label: string, send: string | Buffer, status: 400 | 501 = 400): Probe => ({ label, send, expect: answerAndClose(page(status)) });
      await t.probes([
        bad('NUL in path', get('/v1/models/half\u0000plus_two')),
        bad('^A in path', get('/v1/models/half\u0001plus_two')),
        bad('DEL in path', get('/v1/models/echo\u007f')),
        bad('tab in path', get('/v1/models/ec\tho')),
        bad('raw UTF-8 in path', Buffer.concat([Buffer.from('GET /v1/models/h'), Buffer.from([0xc3, 0xa9]), Buffer.from(` HTTP/1.1\r\n${HOST}\r\n`)])),
        bad('NUL in a header value', get('/v1/models/echo', 'X-A: a\u0000b\r\n')),
        bad('DEL in a header name', get('/v1/models/echo', 'X-\u007fA: 1\r\n')),
        bad('space in a header name', get('/v1/models/echo', 'X A: 1\r\n')),
        bad('header without colon', get('/v1/models/echo', 'X-No-Colon\r\n')),
        bad('HTTP/9.9', `GET /v1/models/echo HTTP/9.9\r\n${HOST}\r\n`),
        bad('HTTP/1.2', `GET /v1/models/echo HTTP/1.2\r\n${HOST}\r\n`),
        bad('bare LF line ends', 'GET /v1/models/echo HTTP/1.1\nHost: gateway.test\n\n'),
        bad('HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
        bad('TLS client hello', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), 501),
        bad('request line of spaces', '    \r\n\r\n', 501),
        bad('target without slash', `GET v1/models/echo HTTP/1.1\r\n${HOST}\r\n`),
      ]);
      t.require(seenSince(mark).length === 0, `the replica saw ${seenSince(mark).length} request(s)`);
      // Junk right behind a request still being answered: libevent reads the next request only
      // after answering, so the answer comes first, then the page, then the close.
      for (const s of sims) s.setFaults({ latencyMs: 300 });
      try {
        await t.probe({
          label: 'junk behind a request still being answered',
          send: `${post('/v1/models/half_plus_two:predict', '{"instances": [1.0]}')}\u0001\u0002junk\r\n\r\n`,
          expect: answerAndClose(relayed(200), page(501)),
        });
      } finally {
        for (const s of sims) s.clearFaults();
      }
    },
  ));

test('huge URLs', () =>
  scenario(
    'huge URLs',
    {
      load: '{n} raw requests, one at a time',
      fault: 'request targets of 8 KiB, 15 KiB, 64 KiB and 1 MiB (twice); a 12 KiB query string',
      target: `${TARGET}; TF's 404 while the request fits node's 16 KiB header limit, libevent's 400 page beyond`,
    },
    async (t) => {
      const mark = recorder.received.length;
      const name = (n: number): string => 'a'.repeat(n);
      await t.probes([
        { label: '8 KiB', send: get(`/v1/models/${name(8 * 1024)}`), expect: answer(tf(404, `Could not find any versions of model ${name(8 * 1024)}`)) },
        { label: '15 KiB', send: get(`/v1/models/${name(15 * 1024)}`), expect: answer(tf(404, `Could not find any versions of model ${name(15 * 1024)}`)) },
        { label: '12 KiB query', send: get(`/v1/models/echo?${name(12 * 1024)}`), expect: answer(tf(404, `Could not find any versions of model echo?${name(12 * 1024)}`)) },
        { label: '64 KiB', send: get(`/v1/models/${name(64 * 1024)}`), expect: answerAndClose(page(400)) },
        { label: '1 MiB', send: get(`/v1/models/${name(1024 * 1024)}`), expect: answerAndClose(page(400)) },
        { label: '1 MiB again', send: get(`/v1/models/${name(1024 * 1024)}`), expect: answerAndClose(page(400)) },
      ]);
      // TF Serving matches the path with its query, so "echo?aaa..." names a model nobody serves.
      t.require(seenSince(mark).length === 0, `the replica saw ${seenSince(mark).length} request(s)`);
    },
  ));

test('unknown verbs', () =>
  scenario(
    'unknown verbs',
    {
      load: '{n} raw requests, one at a time',
      fault: 'BREW, PROPFIND, TRACE, CONNECT, MKCOL, lower-case get, PUT, DELETE, PATCH, OPTIONS',
      target: `${TARGET}; libevent's 501 page for methods it refuses, TF's 400 for the others`,
    },
    async (t) => {
      const mark = recorder.received.length;
      const refused = (method: string, target = '/v1/models/half_plus_two'): Probe => ({
        label: method,
        send: `${method} ${target} HTTP/1.1\r\n${HOST}\r\n`,
        expect: answerAndClose(page(501)),
      });
      const malformed = (method: string): Probe => ({
        label: method,
        send: `${method} /v1/models/half_plus_two HTTP/1.1\r\n${HOST}Content-Length: 2\r\n\r\n{}`,
        expect: answer(tf(400, `Malformed request: ${method} /v1/models/half_plus_two`)),
      });
      await t.probes([
        refused('BREW'),
        refused('PROPFIND'),
        refused('TRACE'),
        refused('CONNECT', '127.0.0.1:22'),
        refused('CONNECT', `127.0.0.1:${new URL(admin).port}`),
        refused('MKCOL'),
        refused('get', '/v1/models/echo'),
        refused('M-SEARCH', '*'),
        malformed('PUT'),
        malformed('DELETE'),
        malformed('PATCH'),
        // TF Serving answers a CORS preflight itself, adding no CORS header.
        { label: 'OPTIONS with Origin', send: get('/v1/models/echo', 'Origin: https://evil.example\r\n').replace('GET', 'OPTIONS'), expect: answer(bare(200)) },
        { label: 'OPTIONS without Origin', send: get('/v1/models/echo').replace('GET', 'OPTIONS'), expect: answer(bare(400)) },
      ]);
      t.require(seenSince(mark).length === 0, `the replica saw ${seenSince(mark).length} request(s)`);
    },
  ));

test('oversized headers', () =>
  scenario(
    'oversized headers',
    {
      load: '{n} raw requests, one at a time',
      fault: 'one 100 KiB header; 2,000 headers of 16 KB in all; 2,000 headers of 70 KB; 20,000 empty lines before the request; a 15 KiB cookie',
      target: `${TARGET}; over node's 16 KiB header limit: libevent's 400 page; under it: served`,
    },
    async (t) => {
      const mark = recorder.received.length;
      const many = (count: number, nameLength: number): string =>
        Array.from({ length: count }, (_, i) => `X-${String(i).padStart(nameLength, '0')}: v\r\n`).join('');
      await t.probes([
        { label: '100 KiB header', send: get('/v1/models/echo', `X-Big: ${'b'.repeat(100 * 1024)}\r\n`), expect: answerAndClose(page(400)) },
        { label: '2,000 long headers', send: get('/v1/models/echo', many(2_000, 32)), expect: answerAndClose(page(400)) },
        {
          label: '2,000 short headers',
          send: get('/v1/models/echo', many(2_000, 4)),
          // node keeps at most 2,000 raw header lines (maxHeadersCount): the rest are dropped.
          expect: answer(relayed(200, '/v1/models/echo', (seen) => (seen.rawHeaders.length <= 2 * 2_010 ? undefined : `${seen.rawHeaders.length / 2} headers forwarded`))),
        },
        { label: '20,000 empty lines first', send: `${'\r\n'.repeat(20_000)}${get('/v1/models/echo')}`, expect: answer(relayed(200, '/v1/models/echo')) },
        {
          label: '15 KiB cookie',
          send: get('/v1/models/echo', `Cookie: c=${'c'.repeat(15 * 1024)}\r\n`),
          expect: answer(relayed(200, '/v1/models/echo', (seen) => (header(seen, 'cookie')[0]?.length === 15 * 1024 + 2 ? undefined : 'cookie not forwarded whole'))),
        },
      ]);
      const seen = seenSince(mark);
      t.require(seen.length === 3, `the replica saw ${seen.length} request(s), expected the 3 that fit`);
      const forwarded = seen[0] === undefined ? 0 : seen[0].rawHeaders.length / 2;
      t.notes.push(`of 2,000 short headers the replica received ${forwarded} (node keeps a bounded number: maxHeadersCount)`);
    },
  ));

test('oversized bodies', () =>
  scenario(
    'oversized bodies',
    {
      load: '{n} raw requests, one at a time, then the model and its breaker checked',
      fault: `bodies over the ${LIMIT}-byte limit: declared, chunked (12 in a row to one replica), without framing, and a 100 KiB gzip bomb (100 MiB inflated)`,
      target: `${TARGET}; 413 TF error; no oversized body reaches a replica; a client's 413 never counts against the replica`,
    },
    async (t) => {
      const mark = recorder.received.length;
      const tooLarge = tf(413, `Request body is larger than the gateway's limit of ${LIMIT} bytes`);
      const bomb = gzipSync(Buffer.alloc(100 * 1024 * 1024, 0x20), { level: 9 });
      const zipped = (target: string): Buffer =>
        Buffer.concat([Buffer.from(`POST ${target} HTTP/1.1\r\n${HOST}Content-Encoding: gzip\r\nContent-Length: ${bomb.length}\r\n\r\n`), bomb]);
      // Past the retry buffer a body streams to the replica and the gateway cuts it at the limit.
      // Twelve in a row, more than the breaker's volume threshold (10): the client's 413s must not
      // count against the replica (they once did, opening its breaker: 503 for everyone).
      await t.probes(
        Array.from({ length: 12 }, (_, i): Probe => ({ label: `chunked #${i + 1}`, send: chunked('/v1/models/echo:predict', LIMIT + 128 * 1024), expect: answerAndClose(tooLarge) })),
      );
      const health = await echoPoolHealth();
      t.require(health === '{"errors":0,"replicas":[["closed",0]]}', `the echo pool after twelve 413s: ${health}`);
      await t.probes([
        { label: 'declared limit + 1', send: post('/v1/models/echo:predict', 'x'.repeat(LIMIT + 1)), expect: answerAndClose(tooLarge) },
        { label: 'declared 10 GiB, sent 2 bytes', send: `POST /v1/models/echo:predict HTTP/1.1\r\n${HOST}Content-Length: 10737418240\r\n\r\n{}`, expect: answerAndClose(tooLarge) },
        { label: 'declared 2 MiB, unknown model', send: `POST /v1/models/nope:predict HTTP/1.1\r\n${HOST}Content-Length: ${2 * LIMIT}\r\n\r\n{}`, expect: answerAndClose(tooLarge) },
        { label: 'chunked, unknown model', send: chunked('/v1/models/nope:predict', LIMIT + 128 * 1024), expect: answerAndClose(tooLarge) },
        { label: 'exactly the limit', send: post('/v1/models/echo:predict', 'x'.repeat(LIMIT)), expect: answer(relayed(200, '/v1/models/echo/versions/1:predict', (s) => (s.bodyLength === LIMIT ? undefined : `body ${s.bodyLength}`))) },
        // TF Serving inflates gzip bodies to check the JSON before the model lookup; the gateway
        // inflates only the first 64 KiB (spaces: no syntax error there), then answers the lookup.
        { label: 'gzip bomb, unknown model', send: zipped('/v1/models/nope:predict'), expect: answer(tf(404, 'Servable not found for request: Latest(nope)')) },
        { label: 'gzip bomb, unknown version', send: zipped('/v1/models/echo/versions/9:predict'), expect: answer(tf(404, 'Servable not found for request: Specific(echo, 9)')) },
        // On the proxy path bodies are never inflated: the replica gets the compressed bytes.
        { label: 'gzip bomb, proxied', send: zipped('/v1/models/echo:predict'), expect: answer(relayed(200, undefined, (s) => (s.bodyLength === bomb.length ? undefined : `body ${s.bodyLength}`))) },
      ]);
      // No framing: an HTTP/1.1 request without Content-Length or Transfer-Encoding has no body,
      // so the bytes after it are read as the next request, which is no request at all.
      const unframed = await rawExchange(restPort, Buffer.concat([Buffer.from(`POST /v1/models/echo:predict HTTP/1.1\r\n${HOST}X-Probe: unframed\r\n\r\n`), Buffer.alloc(2 * LIMIT, 0x78)]), {
        timeoutMs: 5_000,
      });
      const last = unframed.responses[unframed.responses.length - 1];
      const earlier = unframed.responses.slice(0, -1);
      t.add(
        'no framing, 2 MiB',
        unframed,
        last !== undefined && page(501)(last) === undefined && unframed.closed && earlier.every((r) => relayed(200)(r) === undefined) ? undefined : describeOutcome(unframed),
      );
      const seen = seenSince(mark);
      const oversized = seen.filter((s) => s.bodyLength > LIMIT);
      t.require(oversized.length === 0, `${oversized.length} oversized bodies reached the replica`);
      const unframedSeen = seen.filter((s) => header(s, 'x-probe')[0] === 'unframed');
      t.require(unframedSeen.every((s) => s.bodyLength === 0), `the unframed request reached the replica with a body: ${JSON.stringify(unframedSeen.map((s) => s.bodyLength))}`);
      const echo = await client.get(`${rest}/v1/models/echo`);
      t.require(echo.status === 200, `after the oversized bodies the echo model answered ${echo.status}: ${echo.text.slice(0, 200)}`);
      t.notes.push(`gzip bomb ${bomb.length} bytes -> 100 MiB`);
    },
  ));

test('slow headers', () =>
  scenario(
    'slow headers',
    {
      load: '{n} slow connections at once, 24 normal requests alongside',
      fault: `slowloris: headers dribbled 1 byte per 100 ms (16 connections, 2 of them after a first answered request); 2 connections that send nothing; headersTimeout ${DEADLINE_MS} ms`,
      target: `each closed by the gateway without an answer (as libevent does on a timeout) before the client finishes; normal requests served meanwhile; gateway alive`,
    },
    async (t) => {
      const mark = recorder.received.length;
      const slow = [...`GET /v1/models/echo HTTP/1.1\r\n${HOST}X-Probe: slowloris\r\nX-Padding: ${'p'.repeat(400)}\r\n\r\n`];
      const timeoutMs = DEADLINE_MS + 8_000;
      const probes: Probe[] = [
        ...Array.from({ length: 14 }, (_, i): Probe => ({ label: `slowloris #${i + 1}`, send: slow, intervalMs: 100, timeoutMs, expect: SILENT_CLOSE })),
        ...Array.from({ length: 2 }, (_, i): Probe => ({ label: `silent #${i + 1}`, send: [], timeoutMs, expect: SILENT_CLOSE })),
        // A kept-alive connection that turns slow on its second request.
        ...Array.from({ length: 2 }, (_, i): Probe => ({
          label: `slowloris after a request #${i + 1}`,
          send: [get('/v1/models/echo'), ...slow],
          intervalMs: 100,
          timeoutMs,
          expect: answerAndClose(relayed(200, '/v1/models/echo')),
        })),
      ];
      const served: number[] = [];
      const [outcomes] = await Promise.all([
        Promise.all(probes.map((p) => t.probe(p))),
        (async () => {
          // Spread over the attack, while the slow connections are open.
          for (let i = 0; i < 24; i++) {
            await new Promise((resolve) => setTimeout(resolve, 100));
            served.push((await client.post(`${rest}/v1/models/half_plus_two:predict`, '{"instances": [1.0]}')).status);
          }
        })(),
      ]);
      t.require(served.every((s) => s === 200), `normal requests during the attack: ${JSON.stringify(served)}`);
      t.require(seenSince(mark).every((s) => header(s, 'x-probe').length === 0), 'a slow request reached the replica');
      const closedAt = outcomes.map((o) => o.ms).sort((a, b) => a - b);
      t.notes.push(`closed after ${closedAt[0]}-${closedAt[closedAt.length - 1]} ms (headersTimeout ${DEADLINE_MS} ms, checked every second); a whole dribble takes ${slow.length / 10} s`);
    },
  ));

test('slow bodies', () =>
  scenario(
    'slow bodies',
    {
      load: '{n} slow uploads at once',
      fault: `Content-Length announced, body dribbled 16 bytes per 100 ms: 6 buffered for the replica, 4 to an unknown model, 3 streamed (past the retry buffer); requestTimeout and deadline ${DEADLINE_MS} ms`,
      target: `each cut: closed without an answer while the gateway buffers it, 408 TF error once it streams (the client's fault: the replica is not blamed); no partial body reaches a replica as a request; gateway alive`,
    },
    async (t) => {
      const mark = recorder.received.length;
      const dribble = (target: string, head: string, length: number): string[] => {
        const pieces = [`POST ${target} HTTP/1.1\r\n${HOST}X-Probe: slow-body\r\nContent-Length: ${length}\r\n\r\n${head}`];
        for (let i = 0; i < 200; i++) pieces.push('z'.repeat(16));
        return pieces;
      };
      const timeoutMs = DEADLINE_MS + 8_000;
      const streamed = tf(408, `Request timeout: the request body did not arrive within ${DEADLINE_MS} ms`);
      const probes: Probe[] = [
        ...Array.from({ length: 6 }, (_, i): Probe => ({ label: `buffered #${i + 1}`, send: dribble('/v1/models/echo:predict', '', 4096), intervalMs: 100, timeoutMs, expect: SILENT_CLOSE })),
        ...Array.from({ length: 4 }, (_, i): Probe => ({ label: `unknown model #${i + 1}`, send: dribble('/v1/models/nope:predict', '', 4096), intervalMs: 100, timeoutMs, expect: SILENT_CLOSE })),
      ];
      await Promise.all([
        ...probes.map((p) => t.probe(p)),
        // Streamed: the exchange has started, so the deadline (408: the upload is late, not the
        // replica) and the request timeout (a close) race; either is a clear end.
        ...Array.from({ length: 3 }, async (_, i) => {
          const outcome = await rawExchange(restPort, dribble('/v1/models/echo:predict', 'z'.repeat(70 * 1024), 200 * 1024), { intervalMs: 100, timeoutMs });
          const first = outcome.responses[0];
          // The 408 goes out while the upload runs; the request timeout then closes the socket.
          const ok = outcome.closed && (outcome.responses.length === 0 || (outcome.responses.length === 1 && first !== undefined && streamed(first) === undefined));
          t.add(`streamed #${i + 1}`, outcome, ok ? undefined : `${describeOutcome(outcome)} closed=${outcome.closed} after ${outcome.ms} ms`);
        }),
      ]);
      const reached = seenSince(mark).filter((s) => header(s, 'x-probe').length > 0);
      t.require(reached.length === 0, `${reached.length} slow uploads reached the replica as whole requests`);
      // A slow upload is no sign of a sick replica: counted against it, a few would open its
      // breaker or roll a canary back.
      const health = await echoPoolHealth();
      t.require(health === '{"errors":0,"replicas":[["closed",0]]}', `the echo pool after the slow uploads: ${health}`);
    },
  ));

test('invalid JSON', () =>
  scenario(
    'invalid JSON',
    {
      load: '{n} raw requests, one at a time',
      fault: 'truncated, wrong types, not an object, empty, invalid UTF-8, 500,000-digit and 1e999999 numbers, 100,000-deep arrays and objects',
      target: `${TARGET}; TF's 400 (or its 404 once the JSON is valid); the gateway parses only for its own answers, never on the proxy path`,
    },
    async (t) => {
      const mark = recorder.received.length;
      const deepArray = `{"instances": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
      const deepOpen = `{"instances": ${'['.repeat(100_000)}`;
      const deepObject = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
      const deepSmall = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
      const hugeInteger = `{"instances": [${'9'.repeat(500_000)}]}`;
      const parseError = /^JSON Parse error: /;
      const badUtf8 = Buffer.concat([Buffer.from('{"instances": ["'), Buffer.from([0xff, 0xfe]), Buffer.from('"]}')]);
      // [label, body, replica's answer, the gateway's own for an unknown model]. TF Serving checks
      // only the document and signature_name before the model lookup: the rest is a 404 there.
      const notFound = 'Servable not found for request: Latest(nope)';
      const cases: Array<[string, string, RegExp | string, [number, RegExp | string]]> = [
        ['truncated', '{"instances": ', 'JSON Parse error: Invalid value. at offset: 14', [400, 'JSON Parse error: Invalid value. at offset: 14']],
        ['instances a string', '{"instances": "string"}', /Expecting 'instances' to be an list\/array/, [404, notFound]],
        ['signature_name a number', '{"signature_name": 12, "instances": [1]}', /'signature_name' key must be a string value/, [400, /'signature_name' key must be a string value/]],
        ['an array', '[1]', /Is not object/, [400, /Is not object/]],
        ['empty', '', 'JSON Parse error: The document is empty', [400, 'JSON Parse error: The document is empty']],
        ['500,000 digits', hugeInteger, 'JSON Parse error: Number too big to be stored in double. at offset: 15', [400, 'JSON Parse error: Number too big to be stored in double. at offset: 15']],
        ['1e999999', '{"instances": [1e999999]}', parseError, [400, parseError]],
      ];
      const probes: Probe[] = [];
      // Proxied: the (simulated) replica parses and answers as TF Serving does.
      for (const [label, body, message] of cases) probes.push({ label: `replica: ${label}`, send: post('/v1/models/half_plus_two:predict', body), expect: answer(tf(400, message)) });
      // Answered by the gateway itself, which parses as TF does before its 404.
      for (const [label, body, , [status, message]] of cases) probes.push({ label: `unknown model: ${label}`, send: post('/v1/models/nope:predict', body), expect: answer(tf(status, message)) });
      probes.push(
        // rapidjson as TF Serving runs it does not validate UTF-8: a valid document, so a 404.
        { label: 'invalid UTF-8, unknown model', send: Buffer.concat([Buffer.from(`POST /v1/models/nope:predict HTTP/1.1\r\n${HOST}Content-Length: ${badUtf8.length}\r\n\r\n`), badUtf8]), expect: answer(tf(404, notFound)) },
        { label: 'deep arrays, unknown model', send: post('/v1/models/nope:predict', deepArray), expect: answer(tf(404, 'Servable not found for request: Latest(nope)')) },
        { label: 'deep arrays, unknown version', send: post('/v1/models/echo/versions/9:predict', deepArray), expect: answer(tf(404, 'Servable not found for request: Specific(echo, 9)')) },
        // Over 64 KiB, the gateway checks only the head: the error at the far end (unclosed) and the
        // document-level one (regress needs an object of examples) are past it, so the lookup answers.
        { label: 'deep arrays unclosed, unknown model', send: post('/v1/models/nope:predict', deepOpen), expect: answer(tf(404, notFound)) },
        { label: 'deep objects, unknown model (regress)', send: post('/v1/models/nope:regress', deepObject), expect: answer(tf(404, notFound)) },
        { label: 'deep objects under 64 KiB, unknown model (regress)', send: post('/v1/models/nope:regress', deepSmall), expect: answer(tf(400, /^JSON Value: \{/)) },
        { label: 'deep arrays, proxied unparsed', send: post('/v1/models/echo:predict', deepArray), expect: answer(relayed(200, '/v1/models/echo/versions/1:predict', (s) => (s.bodyLength === deepArray.length ? undefined : `body ${s.bodyLength}`))) },
      );
      await t.probes(probes);
      const seen = seenSince(mark);
      t.require(seen.length === 1, `the recording replica saw ${seen.length} request(s), expected only the proxied deep body`);
    },
  ));

test('request smuggling', () =>
  scenario(
    'request smuggling',
    {
      load: '{n} raw requests, each followed by a pipelined second request on the same connection',
      fault: 'Content-Length with Transfer-Encoding, two lengths, "2, 2", "chunked, identity", "Transfer-Encoding : chunked", xchunked, two TE headers, signed/hex/huge lengths, bad chunks, bare LF',
      target: 'ambiguous framing: libevent\'s 400 page, connection closed, the pipelined request never reaches a replica; unambiguous framing: both requests served exactly as framed',
    },
    async (t) => {
      const mark = recorder.received.length;
      const tail = (i: number, kind: 'smuggled' | 'pipelined'): string => `GET /v1/models/echo/labels/${kind}-${i} HTTP/1.1\r\n${HOST}X-${kind}: ${i}\r\n\r\n`;
      const start = `POST /v1/models/echo:predict HTTP/1.1\r\n${HOST}`;
      const ambiguous: Array<[string, string]> = [
        ['CL then TE', 'Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
        ['TE then CL', 'Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n'],
        ['CL and TE chunked with a body', 'Content-Length: 60\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n'],
        ['two different CLs', 'Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}'],
        ['two equal CLs', 'Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}'],
        ['CL "2, 2"', 'Content-Length: 2, 2\r\n\r\n{}'],
        ['TE chunked, identity', 'Transfer-Encoding: chunked, identity\r\n\r\n2\r\n{}\r\n0\r\n\r\n'],
        ['TE identity', 'Transfer-Encoding: identity\r\n\r\n{}'],
        ['TE with space before colon', 'Transfer-Encoding : chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n'],
        ['TE xchunked', 'Transfer-Encoding: xchunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n'],
        ['TE chunked then TE identity', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n2\r\n{}\r\n0\r\n\r\n'],
        ['TE chunked twice', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n'],
        ['CL -1', 'Content-Length: -1\r\n\r\n{}'],
        ['CL +2', 'Content-Length: +2\r\n\r\n{}'],
        ['CL 0x2', 'Content-Length: 0x2\r\n\r\n{}'],
        ['CL 2^70', 'Content-Length: 1180591620717411303424\r\n\r\n{}'],
        ['chunk size overflow', 'Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n{}\r\n0\r\n\r\n'],
        ['chunk longer than its size', 'Transfer-Encoding: chunked\r\n\r\n2\r\n{}xx\r\n0\r\n\r\n'],
        ['bare LF in the chunk framing', 'Transfer-Encoding: chunked\r\n\r\n2\n{}\n0\n\n'],
      ];
      const probes: Probe[] = ambiguous.map(([label, rest], i) => ({ label, send: start + rest + tail(i, 'smuggled'), expect: answerAndClose(page(400)) }));
      // Framing node accepts without doubt: the second request is a legitimate pipelined one and
      // must arrive (this also shows the check for smuggled requests can see one).
      const exact = (s: Received): string | undefined =>
        s.bodyLength === 2 && header(s, 'transfer-encoding').length === 0 && header(s, 'content-length')[0] === '2' ? undefined : `replica got ${JSON.stringify(s)}`;
      const unambiguous: Array<[string, string]> = [
        ['CL only', 'Content-Length: 2\r\n\r\n{}'],
        ['TE with a tab', 'Transfer-Encoding:\tchunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n'],
        ['TE CHUNKED', 'Transfer-Encoding: CHUNKED\r\n\r\n2\r\n{}\r\n0\r\n\r\n'],
        ['chunk extension', 'Transfer-Encoding: chunked\r\n\r\n2;ext="a b"\r\n{}\r\n0\r\n\r\n'],
      ];
      unambiguous.forEach(([label, rest], i) =>
        probes.push({
          label,
          send: start + rest + tail(i, 'pipelined'),
          expect: answer(relayed(200, '/v1/models/echo/versions/1:predict', exact), relayed(200, `/v1/models/echo/labels/pipelined-${i}`)),
        }),
      );
      await t.probes(probes);
      // Anything the gateway had taken for a request would have reached the replica by now; one
      // more request behind them makes sure.
      await client.get(`${rest}/v1/models/echo/labels/sentinel`);
      const seen = seenSince(mark);
      const smuggled = seen.filter((s) => s.path.includes('smuggled') || header(s, 'x-smuggled').length > 0);
      t.require(smuggled.length === 0, `smuggled requests reached the replica: ${JSON.stringify(smuggled.map((s) => s.path))}`);
      const pipelined = seen.filter((s) => s.path.includes('pipelined')).length;
      t.require(pipelined === unambiguous.length, `${pipelined} of ${unambiguous.length} legitimate pipelined requests reached the replica`);
      const reframed = seen.filter((s) => header(s, 'transfer-encoding').length > 0);
      t.require(reframed.length === 0, `${reframed.length} requests reached the replica with the client's Transfer-Encoding`);
    },
  ));

test('header injection', () =>
  scenario(
    'header injection',
    {
      load: '{n} raw requests, one at a time',
      fault: 'bare CR and bare LF inside a header value, obs-fold continuation, CR/LF before a header, %0D%0A in a forwarded path',
      target: `${TARGET}; node's parser refuses split headers (libevent's 400 page); an encoded CRLF stays encoded`,
    },
    async (t) => {
      const mark = recorder.received.length;
      await t.probes([
        { label: 'bare CR in a value', send: get('/v1/models/echo', 'X-A: a\rX-Injected: 1\r\n'), expect: answerAndClose(page(400)) },
        { label: 'bare LF in a value', send: get('/v1/models/echo', 'X-A: a\nX-Injected: 1\r\n'), expect: answerAndClose(page(400)) },
        { label: 'obs-fold', send: get('/v1/models/echo', 'X-A: a\r\n X-Injected: 1\r\n'), expect: answerAndClose(page(400)) },
        { label: 'CR before a header', send: get('/v1/models/echo', '\rX-Injected: 1\r\n'), expect: answerAndClose(page(400)) },
        { label: 'CRLF in the request line', send: `GET /v1/models/echo\rX-Injected: 1 HTTP/1.1\r\n${HOST}\r\n`, expect: answerAndClose(page(400)) },
        {
          label: 'encoded CRLF in a label',
          send: get('/v1/models/echo/labels/a%0D%0AX-Injected%3A%201'),
          expect: answer(relayed(200, '/v1/models/echo/labels/a%0D%0AX-Injected%3A%201')),
        },
        {
          label: 'encoded CRLF in x-request-id',
          send: get('/v1/models/echo', 'X-Request-Id: a%0D%0AX-Injected: 1\r\n'),
          // Not a sane id: the gateway uses its own, and the replica never sees the client's.
          expect: answer(relayed(200, '/v1/models/echo', (s) => (header(s, 'x-request-id')[0]?.includes('%') === false ? undefined : `x-request-id ${header(s, 'x-request-id')[0] ?? '-'}`))),
        },
      ]);
      const injected = seenSince(mark).filter((s) => header(s, 'x-injected').length > 0);
      t.require(injected.length === 0, `${injected.length} requests reached the replica with an injected header`);
    },
  ));

test('hop-by-hop and spoofed headers', () =>
  scenario(
    'hop-by-hop and spoofing',
    {
      load: '{n} raw requests, one at a time',
      fault: 'Connection naming X-Secret and the gateway\'s own headers, several Connection lines, Keep-Alive, Proxy-*, TE, Trailer, Upgrade (websocket, h2c), Expect, spoofed Host, X-Forwarded-*, Forwarded, no Host, absolute-form target, a replica naming the gateway\'s headers in its Connection',
      target: 'hop-by-hop and Connection-named headers dropped both ways, never the gateway\'s own; Host is the replica\'s; X-Forwarded-For ends with the real peer; no upgrade; gateway alive',
    },
    async (t) => {
      const mark = recorder.received.length;
      const stripped = ['x-secret', 'x-second', 'keep-alive', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'upgrade', 'expect', 'http2-settings'];
      const upstream =
        (xff: string, requestId?: string) =>
        (s: Received): string | undefined => {
          const leaked = stripped.filter((h) => header(s, h).length > 0);
          if (leaked.length > 0) return `forwarded ${leaked.join(', ')}`;
          if (JSON.stringify(header(s, 'connection')) !== '["keep-alive"]') return `connection ${JSON.stringify(header(s, 'connection'))}`;
          if (JSON.stringify(header(s, 'host')) !== JSON.stringify([new URL(recorder.url).host])) return `host ${JSON.stringify(header(s, 'host'))}`;
          if (JSON.stringify(header(s, 'x-forwarded-for')) !== JSON.stringify([xff])) return `x-forwarded-for ${JSON.stringify(header(s, 'x-forwarded-for'))}`;
          const id = header(s, 'x-request-id');
          if (id.length !== 1 || (requestId !== undefined && id[0] !== requestId)) return `x-request-id ${JSON.stringify(id)}`;
          return undefined;
        };
      const spoofed = (s: Received): string | undefined =>
        // End-to-end headers the gateway neither sets nor vouches for pass as the client sent them.
        header(s, 'x-forwarded-host')[0] === 'evil.example' && header(s, 'forwarded')[0] === 'for=203.0.113.9;host=evil.example' && header(s, 'x-real-ip')[0] === '203.0.113.9'
          ? upstream('127.0.0.1', 'client-id-1')(s)
          : `end-to-end headers altered: ${JSON.stringify(s.rawHeaders)}`;
      const hostile = [
        'Host: evil.example',
        'Connection: keep-alive, X-Secret, X-Forwarded-For, X-Request-Id, Content-Length',
        'Connection: X-Second',
        'X-Secret: 1',
        'X-Second: 1',
        'Keep-Alive: timeout=5',
        'Proxy-Authorization: Basic Zm9vOmJhcg==',
        'Proxy-Connection: keep-alive',
        'TE: trailers',
        'Trailer: X-Trailer',
        'Upgrade: websocket',
        'X-Forwarded-For: 203.0.113.9',
        'X-Forwarded-Host: evil.example',
        'X-Forwarded-Proto: https',
        'Forwarded: for=203.0.113.9;host=evil.example',
        'X-Real-IP: 203.0.113.9',
        'X-Request-Id: client-id-1',
        'Content-Length: 2',
      ].join('\r\n');
      await t.probes([
        {
          label: 'every hop-by-hop header, gateway headers named in Connection',
          send: `POST /v1/models/echo:predict HTTP/1.1\r\n${hostile}\r\n\r\n{}`,
          expect: answer(relayed(200, '/v1/models/echo/versions/1:predict', (s) => spoofed(s) ?? (s.bodyLength === 2 && header(s, 'content-length')[0] === '2' ? undefined : 'body length lost'))),
        },
        { label: 'X-Forwarded-For appended', send: get('/v1/models/echo', 'X-Forwarded-For: 203.0.113.9\r\n'), expect: answer(relayed(200, '/v1/models/echo', upstream('203.0.113.9, 127.0.0.1'))) },
        { label: 'Expect: 100-continue', send: post('/v1/models/echo:predict', '{}', 'Expect: 100-continue\r\n'), expect: answer(interim, relayed(200, undefined, upstream('127.0.0.1'))) },
        // node answers an expectation it does not know itself, before the gateway sees the request.
        { label: 'Expect: 200-ok', send: post('/v1/models/echo:predict', '{}', 'Expect: 200-ok\r\n'), expect: answer(bare(417)) },
        {
          label: 'Upgrade: websocket',
          send: get('/v1/models/echo', 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n'),
          expect: answer(relayed(200, '/v1/models/echo', upstream('127.0.0.1'))),
        },
        {
          label: 'Upgrade: h2c',
          send: get('/v1/models/echo', 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n'),
          expect: answer(relayed(200, '/v1/models/echo', upstream('127.0.0.1'))),
        },
        { label: 'no Host', send: 'GET /v1/models/echo HTTP/1.1\r\n\r\n', expect: answer(relayed(200, '/v1/models/echo', upstream('127.0.0.1'))) },
        { label: 'two Hosts', send: get('/v1/models/echo', 'Host: evil.example\r\n'), expect: answer(relayed(200, '/v1/models/echo', upstream('127.0.0.1'))) },
        {
          label: 'absolute-form target to another host',
          send: `GET http://admin.internal:9901/v1/models/echo HTTP/1.1\r\nHost: admin.internal:9901\r\n\r\n`,
          expect: answer(relayed(200, '/v1/models/echo', upstream('127.0.0.1'))),
        },
      ]);
      // The replica names the gateway's own headers in its Connection header: they still reach the client.
      recorder.responseHeaders = ['Connection', 'X-Model-Version, X-Request-Id, X-Replica-Secret', 'X-Replica-Secret', '1', 'X-Model-Version', '99'];
      try {
        await t.probe({
          label: 'replica names x-model-version in Connection',
          send: get('/v1/models/echo', 'X-Request-Id: client-id-2\r\n'),
          expect: answer((r) =>
            relayed(200)(r) ??
            (r.headers['x-request-id'] === 'client-id-2' && r.headers['x-replica-secret'] === undefined ? undefined : `client got ${JSON.stringify(r.headers)}`),
          ),
        });
      } finally {
        recorder.responseHeaders = [];
      }
      t.require(seenSince(mark).length === 9, `the replica saw ${seenSince(mark).length} requests, expected 9 (not the 417)`);
      t.notes.push('X-Forwarded-Host/-Proto, Forwarded, X-Real-IP pass as sent (end to end; the gateway vouches only for the last X-Forwarded-For entry)');
    },
  ));

test('admin API through the data port', () =>
  scenario(
    'admin via data port',
    {
      load: '{n} raw requests with the operator token, one at a time',
      fault: '/api/* reads and writes, /healthz, /readyz, /metrics, the UI, /v1/admin..., traversal and encoded paths to /api, absolute-form and Host naming the admin port',
      target: 'TF Serving\'s 404 page or its 400/404 JSON, never admin content; policy and audit trail unchanged; gateway alive',
    },
    async (t) => {
      const mark = recorder.received.length;
      const auth = `Authorization: Bearer ${TOKEN}\r\n`;
      const adminHost = new URL(admin).host;
      const policyBefore = (await client.get(`${admin}/api/models/half_plus_two`, { authorization: `Bearer ${TOKEN}` })).json<{ revision: number; policy: unknown }>();
      const auditBefore = (await client.get(`${admin}/api/audit?limit=50`, { authorization: `Bearer ${TOKEN}` })).text;
      const notFound = (label: string, send: string): Probe => ({ label, send, expect: answerAndClose(page(404)) });
      const body = '{"percent": 100, "note": "via the data port"}';
      const write = (method: string, target: string): string =>
        `${method} ${target} HTTP/1.1\r\n${HOST}${auth}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      const outcomes: RawOutcome[] = [];
      for (const p of [
        ...['/api/models', '/api/models/half_plus_two', '/api/openapi.json', '/api/events', '/api/session', '/api/audit?limit=5', '/healthz', '/readyz', '/metrics', '/', '/index.html', '/API/models', '/admin'].map(
          (target) => notFound(`GET ${target}`, get(target, auth)),
        ),
        notFound('PUT percent', write('PUT', '/api/models/half_plus_two/percent')),
        notFound('POST rollback', write('POST', '/api/models/half_plus_two/rollback')),
        notFound('OPTIONS preflight', get('/api/models', 'Origin: https://evil.example\r\nAccess-Control-Request-Method: PUT\r\n').replace('GET', 'OPTIONS')),
        notFound('absolute-form to the admin port', `GET http://${adminHost}/api/models HTTP/1.1\r\nHost: ${adminHost}\r\n${auth}\r\n`),
        notFound('Host naming the admin port', `GET /api/models HTTP/1.1\r\nHost: ${adminHost}\r\n${auth}\r\n`),
        { label: 'GET /v1/admin', send: get('/v1/admin', auth), expect: answer(tf(400, 'Malformed request: GET /v1/admin')) },
        { label: 'GET /v1/admin/models', send: get('/v1/admin/models', auth), expect: answer(tf(400, 'Malformed request: GET /v1/admin/models')) },
        { label: 'GET /v1/api/models', send: get('/v1/api/models', auth), expect: answer(tf(400, 'Malformed request: GET /v1/api/models')) },
        { label: 'GET /v1/models/../../api/models', send: get('/v1/models/../../api/models', auth), expect: answer(tf(400, 'Malformed request: GET /v1/models/../../api/models')) },
        { label: 'GET /v1/models/%2e%2e%2fapi%2fmodels', send: get('/v1/models/%2e%2e%2fapi%2fmodels', auth), expect: answer(tf(404, 'Could not find any versions of model ../api/models')) },
        { label: 'PUT /v1/models/half_plus_two', send: write('PUT', '/v1/models/half_plus_two'), expect: answer(tf(400, 'Malformed request: PUT /v1/models/half_plus_two')) },
      ]) {
        outcomes.push(await t.probe(p));
      }
      const leaks = outcomes.filter((o) => o.responses.some((r) => /"revision"|openapi|event: |canary_gateway_|<!doctype|"role"|"model_version_status"/i.test(r.body)));
      t.require(leaks.length === 0, `${leaks.length} answers carried admin content`);
      const policyAfter = (await client.get(`${admin}/api/models/half_plus_two`, { authorization: `Bearer ${TOKEN}` })).json<{ revision: number; policy: unknown }>();
      t.require(
        policyAfter.revision === policyBefore.revision && JSON.stringify(policyAfter.policy) === JSON.stringify(policyBefore.policy),
        `the policy changed: revision ${policyBefore.revision} -> ${policyAfter.revision}`,
      );
      const auditAfter = (await client.get(`${admin}/api/audit?limit=50`, { authorization: `Bearer ${TOKEN}` })).text;
      t.require(auditAfter === auditBefore, 'the audit trail changed');
      t.require(seenSince(mark).length === 0, `the replica saw ${seenSince(mark).length} request(s)`);
    },
  ));

test('memory stays bounded', () =>
  scenario(
    'memory under abuse',
    {
      load: '{n} requests: 3 rounds of 20 chunked + 20 declared oversized bodies and 10 gzip bombs (5 at a time), with 16 slowloris connections open',
      fault: `bodies of ${LIMIT / 1024 / 1024} MiB + 128 KiB over the limit, 100 KiB gzip bombs, headers dribbled; then RSS compared with the start`,
      target: `RSS growth under ${RSS_GROWTH_BOUND_MIB} MiB after the whole barrage and after this round; every answer 413/400/closed as in the other scenarios; gateway alive`,
    },
    async (t) => {
      const afterBarrage = rssMiB();
      const tooLarge = tf(413, `Request body is larger than the gateway's limit of ${LIMIT} bytes`);
      const bomb = gzipSync(Buffer.alloc(100 * 1024 * 1024, 0x20), { level: 9 });
      const round: Probe[] = [];
      for (let i = 0; i < 20; i++) {
        round.push({ label: `chunked ${i}`, send: chunked(i % 2 === 0 ? '/v1/models/echo:predict' : '/v1/models/nope:predict', LIMIT + 128 * 1024), expect: answerAndClose(tooLarge) });
        round.push({
          label: `declared ${i}`,
          send: `POST /v1/models/echo:predict HTTP/1.1\r\n${HOST}Content-Length: ${4 * LIMIT}\r\n\r\n${'x'.repeat(64 * 1024)}`,
          expect: answerAndClose(tooLarge),
        });
        if (i % 2 === 0) {
          round.push({
            label: `gzip bomb ${i}`,
            send: Buffer.concat([Buffer.from(`POST /v1/models/nope:predict HTTP/1.1\r\n${HOST}Content-Encoding: gzip\r\nContent-Length: ${bomb.length}\r\n\r\n`), bomb]),
            expect: answer(tf(404, 'Servable not found for request: Latest(nope)')),
          });
        }
      }
      const slow = [...`GET /v1/models/echo HTTP/1.1\r\n${HOST}X-Padding: ${'p'.repeat(400)}\r\n\r\n`];
      await Promise.all([
        ...Array.from({ length: 16 }, (_, i) => t.probe({ label: `slowloris ${i}`, send: slow, intervalMs: 100, timeoutMs: DEADLINE_MS + 8_000, expect: SILENT_CLOSE })),
        (async () => {
          for (let r = 0; r < 3; r++) await inParallel(round.length, 5, (i) => t.probe(round[i] as Probe));
        })(),
      ]);
      const afterRound = rssMiB();
      t.notes.push(`RSS ${rssBaseline.toFixed(1)} MiB at start, ${afterBarrage.toFixed(1)} MiB after the other scenarios, ${afterRound.toFixed(1)} MiB after this round (bound: +${RSS_GROWTH_BOUND_MIB} MiB)`);
      t.require(afterBarrage - rssBaseline < RSS_GROWTH_BOUND_MIB, `RSS grew ${(afterBarrage - rssBaseline).toFixed(1)} MiB over the barrage`);
      t.require(afterRound - rssBaseline < RSS_GROWTH_BOUND_MIB, `RSS grew ${(afterRound - rssBaseline).toFixed(1)} MiB by the end of the abuse round`);
      t.require(logged.breakersOpened === 0, `${logged.breakersOpened} replica breaker(s) opened during the suite`);
    },
  ));
