/**
 * Adversarial input on the gRPC port. The gateway runs as a child process (so "never crashes" and
 * "memory stays bounded" are read off the process itself) in front of simulated replicas serving
 * gRPC: two of half_plus_two for the good calls, one of the model the probes name (`probe`), so
 * whatever reaches that one was sent by a probe. Every scenario runs while a well-behaved grpc-js
 * client keeps calling Predict: each of its calls must succeed. What the scenario sends is written with node:http2
 * when a client could send it, and frame by frame on a raw socket (raw-h2.ts) when no client
 * would: a bad preface, broken frames, more streams than allowed, streams opened and reset by the
 * thousand.
 *
 * Each probe's target: a clear answer (a gRPC status, as TF Serving's gRPC server gives it, or for
 * a broken connection a GOAWAY and a close), nothing reaching a replica that should not, the process
 * up, its memory bounded, and no handler failure in its log.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import http2 from 'node:http2';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { spawnNode, stopChild } from '../../scripts/lib/processes.js';
import { recordScenario } from '../../scripts/lib/reliability-records.js';
import { GATEWAY_NODE_FLAGS } from '../../gateway/src/runtime/heap.js';
import { frameMessage } from '../../gateway/src/tfserving/grpc-wire.js';
import { messageCodec } from '../../gateway/src/tfserving/protos.js';
import { rawCall, tfServingClient, type RawAnswer, type TfServingClient } from '../helpers/grpc-client.js';
import { startReplica, type SimulatorHandle } from '../helpers/simulator.js';
import {
  dataFrame,
  frame,
  FRAME,
  grpcRequestHeaders,
  H2_ERROR,
  h2ErrorName,
  headersFrame,
  PREFACE,
  RawH2,
  rstStreamFrame,
  settingsFrame,
  windowUpdateFrame,
} from './raw-h2.js';

const MAIN = fileURLToPath(new URL('../../gateway/src/main.js', import.meta.url));
const SUITE = 'grpc';
/** The model the good calls alongside use. */
const MODEL = 'half_plus_two';
/** The model the probes name, on a replica of its own: what reaches it was sent by a probe. */
const PROBE_MODEL = 'probe';
const PREDICT = '/tensorflow.serving.PredictionService/Predict';
/** proxy.maxBodyBytes: the largest request message. */
const LIMIT = 1024 * 1024;
/** proxy.deadlineMs: a call not over by then gets DEADLINE_EXCEEDED. */
const DEADLINE_MS = 2_000;
/** What the listener advertises (SETTINGS_MAX_CONCURRENT_STREAMS, listener.ts). */
const MAX_STREAMS = 1000;
/** Generous: growth beyond this would be a leak or unbounded buffering. */
const RSS_GROWTH_BOUND_MIB = 64;
const GRPC_HEADERS = { 'content-type': 'application/grpc', te: 'trailers' } as const;

let child: ChildProcess;
let grpcPort = 0;
let grpcAddress = '';
let workDir = '';
let rssBaseline = 0;
const sims: SimulatorHandle[] = [];
let probeReplica: SimulatorHandle;
let client: TfServingClient;
const logged = { handlerFailures: 0 };

const predictCodec = messageCodec<object>('tensorflow.serving.PredictRequest');
const predictRequest = (x: number[], name = MODEL): object => ({
  model_spec: { name },
  inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: String(x.length) }] }, float_val: x } },
});
/** A valid Predict request message (the probe model, x = [1]), without the 5-byte prefix. */
const PREDICT_MESSAGE = Buffer.from(predictCodec.encode(predictRequest([1], PROBE_MODEL)));
const PREDICT_BODY = frameMessage(PREDICT_MESSAGE);

// ---------------------------------------------------------------------------------------------
// One scenario's tally, recorded before it is asserted

class Tally {
  requests = 0;
  readonly failures: string[] = [];
  readonly reasons: Record<string, number> = {};
  readonly answers: Record<string, number> = {};
  readonly notes: string[] = [];

  /** One probe: how it was answered (`what`), and why it missed the target, if it did. */
  add(label: string, what: string, miss: string | undefined): void {
    this.requests++;
    this.answers[what] = (this.answers[what] ?? 0) + 1;
    if (miss === undefined) return;
    this.reasons[what] = (this.reasons[what] ?? 0) + 1;
    this.failures.push(`${label}: ${miss}`);
  }

  require(ok: boolean, failure: string): void {
    if (!ok) this.failures.push(failure);
  }
}

interface ScenarioSpec {
  /** "{n}" stands for the number of probes sent, "{good}" for the good calls made alongside. */
  readonly load: string;
  readonly fault: string;
  readonly target: string;
}

const ALONGSIDE = 'every good call alongside succeeds, gateway alive, memory bounded';

async function scenario(name: string, spec: ScenarioSpec, body: (t: Tally) => Promise<void>): Promise<void> {
  const t = new Tally();
  const started = performance.now();
  const bugsBefore = logged.handlerFailures;
  const good = new GoodTraffic();
  good.start();
  try {
    await body(t);
  } finally {
    await good.stop();
  }
  // The good calls are requests of the scenario too: each one that failed is a failure.
  for (const [what, count] of Object.entries(good.answers)) {
    t.requests += count;
    t.answers[`good call: ${what}`] = (t.answers[`good call: ${what}`] ?? 0) + count;
    if (what !== 'OK') {
      t.reasons[`good call: ${what}`] = (t.reasons[`good call: ${what}`] ?? 0) + count;
      t.failures.push(`${count} good call(s) alongside got ${what}`);
    }
  }
  t.require(good.total() > 0, 'no good call completed alongside');
  await checkAlive(t);
  t.require(logged.handlerFailures === bugsBefore, `the gateway logged ${logged.handlerFailures - bugsBefore} gRPC handler failure(s)`);
  const rss = rssMiB();
  t.require(rss - rssBaseline < RSS_GROWTH_BOUND_MIB, `gateway RSS grew by ${(rss - rssBaseline).toFixed(1)} MiB (bound ${RSS_GROWTH_BOUND_MIB})`);
  t.notes.push(`gateway RSS ${rss.toFixed(1)} MiB after the scenario (${rssBaseline.toFixed(1)} MiB before the suite)`);
  recordScenario({
    suite: SUITE,
    scenario: name,
    load: spec.load.replace('{n}', String(t.requests - good.total())).replace('{good}', String(good.total())),
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

/** Predict calls from a well-behaved client, two at a time, for as long as a scenario runs. */
class GoodTraffic {
  readonly answers: Record<string, number> = {};
  #running = false;
  #loops: Promise<void>[] = [];

  start(): void {
    this.#running = true;
    this.#loops = [0, 1].map(() => this.#loop());
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
  }

  total(): number {
    return Object.values(this.answers).reduce((a, b) => a + b, 0);
  }

  async #loop(): Promise<void> {
    while (this.#running) {
      let what: string;
      try {
        const reply = await client.call<{ outputs: { y: { float_val: number[] } } }>('PredictionService', 'Predict', predictRequest([1]), { deadlineMs: 5_000 });
        what = reply.outputs.y.float_val[0] === 2.5 ? 'OK' : `OK with a wrong answer ${JSON.stringify(reply.outputs.y.float_val)}`;
      } catch (err) {
        const e = err as grpc.ServiceError;
        what = `${grpc.status[e.code] ?? String(e.code)} ${e.details}`;
      }
      this.answers[what] = (this.answers[what] ?? 0) + 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

async function checkAlive(t: Tally): Promise<void> {
  t.require(child.exitCode === null && child.signalCode === null, `the gateway exited (${String(child.exitCode ?? child.signalCode)})`);
  try {
    const status = await client.call<{ model_version_status: Array<{ state: string }> }>('ModelService', 'GetModelStatus', { model_spec: { name: MODEL } });
    t.require(status.model_version_status[0]?.state === 'AVAILABLE', `after the scenario GetModelStatus answered ${JSON.stringify(status)}`);
  } catch (err) {
    t.failures.push(`after the scenario GetModelStatus failed: ${String(err)}`);
  }
}

function rssMiB(): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid ?? 0}/status`, 'utf8'));
  return match === null ? Number.NaN : Number(match[1]) / 1024;
}

/** gRPC calls the probe model's replica has received so far. */
function replicaCalls(): number {
  return probeReplica.counters().byProtocol.grpc;
}

const codeName = (code: string | undefined): string => (code === undefined ? 'no grpc-status' : (grpc.status[Number(code)] ?? `code ${code}`));

/** A node:http2 answer in a few words: "NOT_FOUND Servable not found..." or "RST_STREAM CANCEL". */
function describeAnswer(a: RawAnswer): string {
  const status = a.trailers?.['grpc-status'] ?? a.headers['grpc-status'];
  if (status === undefined) return a.rstCode !== 0 ? `RST_STREAM ${h2ErrorName(a.rstCode)}` : `HTTP ${String(a.headers[':status'])} without grpc-status`;
  const message = a.trailers?.['grpc-message'] ?? a.headers['grpc-message'];
  const text = typeof message === 'string' ? decodeURIComponent(message) : '';
  return `${codeName(status as string)}${text === '' ? '' : ` ${text}`}`;
}

/** The answer is a gRPC status `code` (and `message` when given), HTTP 200. */
function expectStatus(a: RawAnswer, code: grpc.status, message?: string | RegExp): string | undefined {
  const what = describeAnswer(a);
  if (String(a.headers[':status']) !== '200') return `HTTP ${String(a.headers[':status'])}: ${what}`;
  const status = a.trailers?.['grpc-status'] ?? a.headers['grpc-status'];
  if (status !== String(code)) return `${what}, expected ${grpc.status[code]}`;
  if (message === undefined) return undefined;
  const raw = a.trailers?.['grpc-message'] ?? a.headers['grpc-message'];
  const text = typeof raw === 'string' ? decodeURIComponent(raw) : '';
  const ok = typeof message === 'string' ? text === message : message.test(text);
  return ok ? undefined : `${what}, expected the message ${String(message)}`;
}

// ---------------------------------------------------------------------------------------------

before(async () => {
  for (let i = 0; i < 2; i++) sims.push(await startReplica({ model: MODEL, versions: [1], behaviour: 'half_plus_two', grpcPort: 0 }));
  probeReplica = await startReplica({ model: PROBE_MODEL, versions: [1], behaviour: 'half_plus_two', grpcPort: 0 });
  sims.push(probeReplica);
  workDir = mkdtempSync(join(tmpdir(), 'cg-adversarial-grpc-'));
  const file = join(workDir, 'gateway.json');
  writeFileSync(
    file,
    JSON.stringify({
      listeners: { rest: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
      admin: { tokens: [{ name: 'adversarial-operator', token: 'adversarial-grpc-token-0123456789', role: 'operator' }] },
      store: { type: 'memory' },
      proxy: { deadlineMs: DEADLINE_MS, maxBodyBytes: LIMIT },
      shutdown: { readinessDelayMs: 0, drainTimeoutMs: 1_000 },
      models: {
        [MODEL]: { pools: { '1': { replicas: sims.slice(0, 2).map((s) => ({ url: s.url, grpcPort: s.grpcPort })) } }, policy: { stable: 1 } },
        [PROBE_MODEL]: { pools: { '1': { replicas: [{ url: probeReplica.url, grpcPort: probeReplica.grpcPort }] } }, policy: { stable: 1 } },
      },
    }),
  );
  const spawned = await spawnNode(MAIN, ['--config', file], /REST on [\d.]+:\d+, admin API on [\d.]+:\d+, gRPC on [\d.]+:(\d+)/, {
    env: { PATH: process.env['PATH'], LOG_LEVEL: 'warn', GATEWAY_STORE: 'memory' },
    nodeArgs: GATEWAY_NODE_FLAGS,
  });
  child = spawned.child;
  process.once('exit', () => child.kill('SIGKILL'));
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.includes('gRPC handler failed')) logged.handlerFailures++;
  });
  grpcPort = Number(spawned.match[1]);
  grpcAddress = `127.0.0.1:${grpcPort}`;
  client = tfServingClient(grpcAddress);
  // Warm up (JIT, upstream sessions) before the baseline is read.
  for (let i = 0; i < 40; i++) await client.call('PredictionService', 'Predict', predictRequest([1]));
  rssBaseline = rssMiB();
});

after(async () => {
  client?.close();
  if (child !== undefined) await stopChild(child, 3_000);
  await Promise.all(sims.map((s) => s.close()));
  if (workDir !== '') rmSync(workDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

interface FrameProbe {
  readonly label: string;
  /** What is written once connected (the preface included when wanted). */
  readonly send: Buffer;
  /** The gateway must send a GOAWAY with an error code before closing (false: a close is enough). */
  readonly goaway: boolean;
}

test('malformed HTTP/2 frames', () =>
  scenario(
    'malformed HTTP/2 frames',
    {
      load: '{n} raw connections, one at a time; {good} good Predict calls alongside',
      fault: 'bad preface, HTTP/1.1 on the gRPC port, garbage after the preface, PUSH_PROMISE from a client, DATA on stream 0, broken HPACK, short SETTINGS, zero WINDOW_UPDATE, a 16 MiB frame header; an unknown frame type (to be ignored)',
      target: `each broken connection is ended: a GOAWAY with an error code at once (past the preface), and closed within two deadlines at most; nothing reaches a replica; an unknown frame type is ignored; ${ALONGSIDE}`,
    },
    async (t) => {
      const withPreface = (...frames: Buffer[]): Buffer => Buffer.concat([PREFACE, settingsFrame(), ...frames]);
      // Printable garbage where a frame header belongs: read as a frame of 4.6 MB ('GAR'), past the 16 KiB limit.
      const garbage = Buffer.from('GARBAGE, NOT A FRAME\r\n'.repeat(8), 'latin1');
      const probes: FrameProbe[] = [
        { label: 'bad preface', send: Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n', 'latin1'), goaway: false },
        { label: 'HTTP/1.1 request', send: Buffer.from(`POST ${PREDICT} HTTP/1.1\r\nHost: gateway.test\r\nContent-Type: application/grpc\r\nContent-Length: ${PREDICT_BODY.length}\r\n\r\n`, 'latin1'), goaway: false },
        { label: 'garbage after the preface', send: withPreface(garbage), goaway: true },
        { label: 'PUSH_PROMISE from a client', send: withPreface(frame(FRAME.PUSH_PROMISE, 0x4, 1, Buffer.from([0, 0, 0, 2]))), goaway: true },
        { label: 'DATA on stream 0', send: withPreface(dataFrame(0, Buffer.from('hello'), false)), goaway: true },
        { label: 'HPACK index out of the table', send: withPreface(frame(FRAME.HEADERS, 0x5, 1, Buffer.from([0xff, 0x7f, 0x7f, 0x7f]))), goaway: true },
        { label: 'SETTINGS of 5 bytes', send: withPreface(frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(5))), goaway: true },
        { label: 'WINDOW_UPDATE of 0', send: withPreface(windowUpdateFrame(0, 0)), goaway: true },
        {
          // 16 MiB announced, far past SETTINGS_MAX_FRAME_SIZE (16 KiB): refused on the header alone.
          label: '16 MiB frame header',
          send: withPreface(headersFrame(1, grpcRequestHeaders(PREDICT), false), Buffer.from([0xff, 0xff, 0xff, FRAME.DATA, 0, 0, 0, 0, 1]), Buffer.alloc(1024)),
          goaway: true,
        },
      ];
      const before = replicaCalls();
      for (const p of probes) {
        const conn = await RawH2.open(grpcPort, { preface: p.send });
        // The GOAWAY comes at once; the close within two idle periods (one deadline each, listener.ts).
        const waitMs = DEADLINE_MS * 3 + 1_000;
        const closed = await conn.until(() => conn.closed, waitMs);
        const goaway = conn.goaway === undefined ? '' : `GOAWAY ${h2ErrorName(conn.goaway.code)}, `;
        const what = `${goaway}${closed ? 'closed' : 'left open'}`;
        let miss: string | undefined;
        if (!closed) miss = `${what} after ${waitMs} ms`;
        else if (p.goaway && (conn.goaway === undefined || conn.goaway.code === H2_ERROR.NO_ERROR)) miss = `${what}, expected a GOAWAY with an error code`;
        conn.close();
        t.add(p.label, what, miss);
      }
      // An unknown frame type must be ignored (RFC 9113 section 4.1): a call after it on the same connection is answered.
      const conn = await RawH2.open(grpcPort, {
        preface: Buffer.concat([PREFACE, settingsFrame(), frame(0xfa, 0xff, 0, Buffer.from('ignore me')), headersFrame(1, grpcRequestHeaders(PREDICT), false), dataFrame(1, PREDICT_BODY, true)]),
      });
      const answered = await conn.until(() => conn.ended.has(1), 5_000);
      t.add('unknown frame type, then a call', answered ? 'call answered' : 'call not answered', answered && conn.goaway === undefined ? undefined : `no answer to the call after an unknown frame (goaway ${String(conn.goaway?.code)})`);
      conn.close();
      t.require(replicaCalls() - before <= 1, `the replicas received ${replicaCalls() - before} calls (expected only the one well-formed call)`);
    },
  ));

test('wrong content-type and method', () =>
  scenario(
    'wrong content-type and method',
    {
      load: '{n} calls with a valid Predict message, one at a time; {good} good Predict calls alongside',
      fault: 'content-type application/json, text/plain, none, application/grpc+proto, application/grpc-web; method GET and PUT; a compressed message with grpc-encoding br or none',
      target: `a gRPC status for each (a content-type is not checked, as grpc C++ does not: the call is served; a wrong method is UNKNOWN; an unsupported encoding UNIMPLEMENTED); ${ALONGSIDE}`,
    },
    async (t) => {
      for (const contentType of ['application/json', 'text/plain', undefined, 'application/grpc+proto', 'application/grpc-web']) {
        const headers: http2.OutgoingHttpHeaders = { te: 'trailers', ...(contentType === undefined ? {} : { 'content-type': contentType }) };
        const a = await rawCall(grpcAddress, PREDICT, PREDICT_BODY, headers);
        t.add(`content-type ${String(contentType)}`, describeAnswer(a), expectStatus(a, grpc.status.OK));
      }
      for (const method of ['GET', 'PUT']) {
        const a = await rawCall(grpcAddress, PREDICT, PREDICT_BODY, { ...GRPC_HEADERS, ':method': method });
        t.add(`method ${method}`, describeAnswer(a), expectStatus(a, grpc.status.UNKNOWN, 'Bad method header'));
      }
      const compressed = frameMessage(gzipSync(PREDICT_MESSAGE), true);
      for (const encoding of ['br', undefined]) {
        const a = await rawCall(grpcAddress, PREDICT, compressed, { ...GRPC_HEADERS, ...(encoding === undefined ? {} : { 'grpc-encoding': encoding }) });
        t.add(`compressed, grpc-encoding ${String(encoding)}`, describeAnswer(a), expectStatus(a, grpc.status.UNIMPLEMENTED));
      }
    },
  ));

/**
 * A call that sends `head` and then keeps sending `chunk` every 10 ms (up to `maxBytes`) without
 * ending its stream: how the gateway answers, and how much was sent by then.
 */
function endlessCall(head: Buffer, chunk: Buffer, maxBytes: number, timeoutMs = 5_000): Promise<{ answer: RawAnswer; sentBytes: number; sentAtAnswer: number; endedByClient: boolean }> {
  // The client goes on sending after the answer: the gateway must end the stream itself.
  return new Promise((resolve) => {
    const session = http2.connect(`http://${grpcAddress}`);
    session.on('error', () => undefined);
    const stream = session.request({ ':method': 'POST', ':path': PREDICT, ...GRPC_HEADERS }, { endStream: false });
    let sentBytes = head.length;
    let sentAtAnswer = -1;
    let endedByClient = false;
    let headers: http2.IncomingHttpHeaders = {};
    let headersEndStream = false;
    let trailers: http2.IncomingHttpHeaders | null = null;
    stream.on('response', (h, flags) => {
      headers = { ...h };
      headersEndStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      sentAtAnswer = sentBytes;
    });
    stream.on('trailers', (h) => (trailers = { ...h }));
    stream.on('error', () => undefined);
    stream.resume();
    stream.write(head);
    const pump = setInterval(() => {
      if (stream.destroyed || stream.writableEnded) return;
      if (sentBytes >= maxBytes) {
        endedByClient = true;
        stream.end();
        return;
      }
      sentBytes += chunk.length;
      stream.write(chunk);
    }, 10);
    const finish = (): void => {
      clearInterval(pump);
      clearTimeout(timer);
      const rstCode = stream.rstCode ?? 0;
      session.destroy();
      resolve({ answer: { headers, headersEndStream, data: Buffer.alloc(0), trailers, rstCode }, sentBytes, sentAtAnswer, endedByClient });
    };
    const timer = setTimeout(finish, timeoutMs);
    stream.on('close', finish);
  });
}

test('a 4 GiB message length prefix', () =>
  scenario(
    '4 GiB message length prefix',
    {
      load: '{n} calls, 4 at a time; {good} good Predict calls alongside',
      fault: 'the 5-byte prefix declares 0xFFFFFFFF bytes (plain and compressed), then 64 KiB every 10 ms and the stream never ends',
      target: `RESOURCE_EXHAUSTED "Received message larger than max (4294967295 vs. ${LIMIT})" on the prefix, as Trailers-Only, then RST_STREAM NO_ERROR so the client stops sending; nothing buffered or forwarded; ${ALONGSIDE}`,
    },
    async (t) => {
      const before = replicaCalls();
      const chunk = Buffer.alloc(64 * 1024, 0x5a);
      for (let round = 0; round < 5; round++) {
        const outcomes = await Promise.all(
          [0, 1, 0, 1].map((compressed) => endlessCall(Buffer.from([compressed, 0xff, 0xff, 0xff, 0xff]), chunk, 4 * LIMIT)),
        );
        for (const o of outcomes) {
          let miss = expectStatus(o.answer, grpc.status.RESOURCE_EXHAUSTED, `Received message larger than max (4294967295 vs. ${LIMIT})`);
          if (miss === undefined && o.sentAtAnswer > LIMIT) miss = `answered only after the client sent ${o.sentAtAnswer} bytes`;
          if (miss === undefined && !o.answer.headersEndStream) miss = 'not a Trailers-Only answer';
          // A client that keeps sending after the answer is stopped (RST_STREAM NO_ERROR), not read to its end.
          if (miss === undefined && (o.endedByClient || o.answer.rstCode !== http2.constants.NGHTTP2_NO_ERROR)) {
            miss = `the stream was not ended by the gateway (client sent ${o.sentBytes} bytes${o.endedByClient ? ' and ended it' : ''}, RST ${h2ErrorName(o.answer.rstCode)})`;
          }
          t.add('4 GiB prefix', describeAnswer(o.answer), miss);
        }
      }
      t.require(replicaCalls() === before, `the replicas received ${replicaCalls() - before} of these calls`);
    },
  ));

test('truncated and malformed messages', () =>
  scenario(
    'truncated and malformed messages',
    {
      load: '{n} calls, one at a time; {good} good Predict calls alongside',
      fault: 'prefix declaring 100 bytes with 10 sent (stream ended, or left open), a 3-byte prefix, no message, two messages, bytes that are not protobuf, a bad gzip body',
      target: `a gRPC status for each (INTERNAL for what cannot be read, DEADLINE_EXCEEDED for a message that never completes), nothing forwarded; ${ALONGSIDE}`,
    },
    async (t) => {
      const before = replicaCalls();
      const truncated = Buffer.concat([Buffer.from([0, 0, 0, 0, 100]), PREDICT_MESSAGE.subarray(0, 10)]);
      const cases: Array<{ label: string; body: Buffer; headers?: http2.OutgoingHttpHeaders; code: grpc.status; message?: string }> = [
        { label: 'prefix says 100 bytes, 10 sent', body: truncated, code: grpc.status.INTERNAL, message: 'truncated request message' },
        { label: '3 bytes of prefix', body: Buffer.from([0, 0, 0]), code: grpc.status.INTERNAL, message: 'truncated request message' },
        { label: 'no message', body: Buffer.alloc(0), code: grpc.status.INTERNAL, message: 'no request message' },
        { label: 'two messages', body: Buffer.concat([PREDICT_BODY, PREDICT_BODY]), code: grpc.status.INTERNAL, message: 'more than one request message in a unary call' },
        { label: 'not protobuf', body: frameMessage(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])), code: grpc.status.INTERNAL },
        { label: 'bad gzip', body: frameMessage(Buffer.from('not gzip at all'), true), headers: { 'grpc-encoding': 'gzip' }, code: grpc.status.INTERNAL, message: 'Failed to decompress the request message' },
      ];
      for (const c of cases) {
        const a = await rawCall(grpcAddress, PREDICT, c.body, { ...GRPC_HEADERS, ...c.headers });
        t.add(c.label, describeAnswer(a), expectStatus(a, c.code, c.message));
      }
      // The rest of the message never comes: the client's own deadline (grpc-timeout) ends it.
      const open = await endlessCall(truncated, Buffer.alloc(0), Number.POSITIVE_INFINITY, DEADLINE_MS + 3_000);
      t.add('prefix says 100 bytes, 10 sent, stream left open', describeAnswer(open.answer), expectStatus(open.answer, grpc.status.DEADLINE_EXCEEDED));
      t.require(replicaCalls() === before, `the replicas received ${replicaCalls() - before} of these calls`);
    },
  ));

/** A call that writes its (valid) message one byte every `intervalMs`; resolves with how it was answered. */
function tricklingCall(session: http2.ClientHttp2Session, intervalMs: number, grpcTimeout: string | undefined): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const stream = session.request({ ':method': 'POST', ':path': PREDICT, ...GRPC_HEADERS, ...(grpcTimeout === undefined ? {} : { 'grpc-timeout': grpcTimeout }) }, { endStream: false });
    let headers: http2.IncomingHttpHeaders = {};
    let headersEndStream = false;
    let trailers: http2.IncomingHttpHeaders | null = null;
    let next = 0;
    stream.on('response', (h, flags) => {
      headers = { ...h };
      headersEndStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    stream.on('trailers', (h) => (trailers = { ...h }));
    stream.on('error', () => undefined);
    stream.resume();
    const drip = setInterval(() => {
      if (stream.destroyed || stream.writableEnded) return;
      stream.write(PREDICT_BODY.subarray(next, next + 1));
      next++;
      if (next >= PREDICT_BODY.length) stream.end();
    }, intervalMs);
    const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), DEADLINE_MS * 4);
    stream.on('close', () => {
      clearInterval(drip);
      clearTimeout(timer);
      resolve({ headers, headersEndStream, data: Buffer.alloc(0), trailers, rstCode: stream.rstCode ?? 0 });
    });
  });
}

test('slow streams', () =>
  scenario(
    'slow streams',
    {
      load: '{n} streams at once over 4 connections; {good} good Predict calls alongside',
      fault: `each stream trickles a valid Predict message one byte every 250 ms (it would take ${Math.round((PREDICT_BODY.length * 250) / 1000)} s); half send grpc-timeout 500m`,
      target: `each ends with DEADLINE_EXCEEDED at its deadline (the client's grpc-timeout, else proxy.deadlineMs ${DEADLINE_MS} ms); none reaches a replica; ${ALONGSIDE}`,
    },
    async (t) => {
      const before = replicaCalls();
      const sessions = [0, 1, 2, 3].map(() => {
        const s = http2.connect(`http://${grpcAddress}`);
        s.on('error', () => undefined);
        return s;
      });
      const calls: Array<Promise<RawAnswer>> = [];
      for (let i = 0; i < 200; i++) calls.push(tricklingCall(sessions[i % sessions.length] as http2.ClientHttp2Session, 250, i % 2 === 0 ? '500m' : undefined));
      const answers = await Promise.all(calls);
      for (const s of sessions) s.destroy();
      for (const a of answers) t.add('trickling stream', describeAnswer(a), expectStatus(a, grpc.status.DEADLINE_EXCEEDED, 'Deadline Exceeded'));
      t.require(replicaCalls() === before, `the replicas received ${replicaCalls() - before} of these calls`);
    },
  ));

test('HTTP/2 rapid reset (CVE-2023-44487)', () =>
  scenario(
    'HTTP/2 rapid reset',
    {
      load: '{n} streams opened and reset at once on 2 raw connections; {good} good Predict calls alongside',
      fault: 'HEADERS, a complete Predict message (DATA, END_STREAM) and RST_STREAM(CANCEL) for each stream, written in batches of 500 as fast as the socket takes them',
      target: `the storm does not reach the replicas (at most 1 in 100 reset calls forwarded: a RST read after its call started is an ordinary cancel); the connection is ended (nghttp2's reset rate limit: GOAWAY) instead of served for ever; ${ALONGSIDE}`,
    },
    async (t) => {
      const before = replicaCalls();
      const perConnection = 5_000;
      let sent = 0;
      const goaways: string[] = [];
      for (let c = 0; c < 2; c++) {
        const conn = await RawH2.open(grpcPort);
        await conn.until(() => conn.frames.some((f) => f.type === FRAME.SETTINGS), 2_000);
        let id = 1;
        for (let batch = 0; batch < perConnection / 500 && !conn.closed; batch++) {
          const frames: Buffer[] = [];
          for (let i = 0; i < 500; i++) {
            frames.push(headersFrame(id, grpcRequestHeaders(PREDICT), false), dataFrame(id, PREDICT_BODY, true), rstStreamFrame(id, H2_ERROR.CANCEL));
            id += 2;
          }
          conn.write(Buffer.concat(frames));
          sent += 500;
          await conn.drain();
          await new Promise((resolve) => setImmediate(resolve));
        }
        await conn.until(() => conn.goaway !== undefined, 3_000);
        goaways.push(conn.goaway === undefined ? 'no GOAWAY' : `GOAWAY ${h2ErrorName(conn.goaway.code)} after stream ${conn.goaway.lastStreamId}`);
        conn.close();
      }
      // Calls already sent on finish or are cancelled: let the counters settle.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const forwarded = replicaCalls() - before;
      t.requests += sent;
      t.answers['reset by the client'] = sent;
      t.notes.push(`connections ended: ${goaways.join('; ')}`, `${forwarded} of the reset calls reached a replica`);
      t.require(forwarded <= sent / 100, `${forwarded} of ${sent} reset calls reached a replica`);
    },
  ));

test('too many concurrent streams', () =>
  scenario(
    'too many concurrent streams',
    {
      load: '{n} streams on single connections; {good} good Predict calls alongside',
      fault: `a raw client opens ${MAX_STREAMS} streams that never send their message, then 20 more on the same connection (before acknowledging the limit, and one more after); node:http2 as a client opens ${MAX_STREAMS + 20} such streams`,
      target: `the listener advertises SETTINGS_MAX_CONCURRENT_STREAMS ${MAX_STREAMS}: streams past it are refused (RST_STREAM REFUSED_STREAM, which gRPC clients report as UNAVAILABLE and may retry); past the limit it has acknowledged, the client loses that connection (nghttp2: GOAWAY); a client that honours the setting has its extra streams wait, and every stream ends with a status (DEADLINE_EXCEEDED); ${ALONGSIDE}`,
    },
    async (t) => {
      const extra = 20;
      // A raw client that opens streams past the limit before acknowledging the gateway's SETTINGS
      // (streams it opened meanwhile are its to lose): nghttp2 refuses them one by one.
      const conn = await RawH2.open(grpcPort, { ackSettings: false });
      await conn.until(() => conn.frames.some((f) => f.type === FRAME.SETTINGS), 2_000);
      const frames: Buffer[] = [];
      for (let i = 0; i < MAX_STREAMS + extra; i++) frames.push(headersFrame(1 + 2 * i, grpcRequestHeaders(PREDICT), false));
      conn.write(Buffer.concat(frames));
      const first = Array.from({ length: MAX_STREAMS }, (_, i) => 1 + 2 * i);
      const excess = Array.from({ length: extra }, (_, i) => 1 + 2 * (MAX_STREAMS + i));
      await conn.until(() => first.every((id) => conn.ended.has(id) || conn.resets.has(id)) && excess.every((id) => conn.resets.has(id)), DEADLINE_MS + 5_000);
      for (const id of first) {
        const what = conn.ended.has(id) ? 'answered at the deadline' : conn.resets.has(id) ? `RST_STREAM ${h2ErrorName(conn.resets.get(id) ?? -1)}` : 'no answer';
        t.add('stream within the limit', what, what === 'answered at the deadline' ? undefined : `stream ${id}: ${what}`);
      }
      for (const id of excess) {
        const code = conn.resets.get(id);
        const what = code === undefined ? (conn.ended.has(id) ? 'answered' : 'no answer') : `RST_STREAM ${h2ErrorName(code)}`;
        t.add('stream past the limit', what, code === H2_ERROR.REFUSED_STREAM ? undefined : `stream ${id}: ${what}, expected REFUSED_STREAM`);
      }
      t.notes.push(`raw client: connection ${conn.goaway === undefined ? 'kept' : `ended (GOAWAY ${h2ErrorName(conn.goaway.code)})`}`);
      conn.close();

      // The same past the limit it has acknowledged: nghttp2 (1.61, in Node 20) takes that as a
      // connection error, not a stream's, and ends the whole connection; only that one.
      const acked = await RawH2.open(grpcPort);
      await acked.until(() => acked.frames.some((f) => f.type === FRAME.SETTINGS), 2_000);
      // RawH2 wrote the SETTINGS ACK as the SETTINGS arrived: the gateway reads it before the streams.
      acked.write(Buffer.concat(Array.from({ length: MAX_STREAMS + 1 }, (_, i) => headersFrame(1 + 2 * i, grpcRequestHeaders(PREDICT), false))));
      const ended = await acked.until(() => acked.goaway !== undefined && acked.closed, 5_000);
      const endedHow = acked.goaway === undefined ? 'no GOAWAY' : `GOAWAY ${h2ErrorName(acked.goaway.code)}${acked.closed ? ', closed' : ''}`;
      t.add('one stream past the acknowledged limit', endedHow, ended ? undefined : `connection not ended: ${endedHow}`);
      acked.close();

      // A client that honours the setting: node:http2 holds the streams past it until others end.
      const session = http2.connect(`http://${grpcAddress}`);
      session.on('error', () => undefined);
      await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
      t.require(session.remoteSettings.maxConcurrentStreams === MAX_STREAMS, `the gateway advertised maxConcurrentStreams ${String(session.remoteSettings.maxConcurrentStreams)}`);
      const answers = await Promise.all(
        Array.from({ length: MAX_STREAMS + extra }, () => endlessOn(session, DEADLINE_MS * 3 + 5_000)),
      );
      session.destroy();
      for (const a of answers) t.add('stream from a client honouring the limit', describeAnswer(a), expectStatus(a, grpc.status.DEADLINE_EXCEEDED));
    },
  ));

/** A stream on `session` that sends its headers and nothing else; resolves with how it ended. */
function endlessOn(session: http2.ClientHttp2Session, timeoutMs: number): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const stream = session.request({ ':method': 'POST', ':path': PREDICT, ...GRPC_HEADERS }, { endStream: false });
    let headers: http2.IncomingHttpHeaders = {};
    let headersEndStream = false;
    let trailers: http2.IncomingHttpHeaders | null = null;
    stream.on('response', (h, flags) => {
      headers = { ...h };
      headersEndStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    stream.on('trailers', (h) => (trailers = { ...h }));
    stream.on('error', () => undefined);
    stream.resume();
    const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), timeoutMs);
    stream.on('close', () => {
      clearTimeout(timer);
      resolve({ headers, headersEndStream, data: Buffer.alloc(0), trailers, rstCode: stream.rstCode ?? 0 });
    });
  });
}
