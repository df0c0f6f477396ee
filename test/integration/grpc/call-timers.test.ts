/**
 * What a gRPC call costs in timers. The deadline of a call's read: a message that has not all
 * arrived by the end of the event-loop turn its stream was handled in gets a timer for the time
 * left, and one that never completes is answered DEADLINE_EXCEEDED at the call's deadline; a
 * message that arrives with its headers (a unary call's nearly always does) costs no timer at all.
 * Idle connections, the clients' and the replicas', are found by timers of the gateway's own that
 * look once a period, not by node:http2's session timeout, which re-arms its timer on every frame
 * read or written; an idle upstream session is still closed, and the next call opens another.
 * (docs/performance.md: each was garbage and timer-list work on every call.)
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { test } from 'node:test';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSimulator } from '../../../simulator/src/server.js';
import { GrpcUpstream } from '../../../gateway/src/protocols/grpc/upstream.js';
import { startTestGateway, waitFor } from '../../helpers/gateway.js';
import { firstOkPredict, framedPredict, grpcStatusOf, PREDICT_PATH, type RawAnswer } from '../../helpers/grpc-client.js';
import { MODEL, replicaEntry } from '../../helpers/stack.js';

const HEADERS = { ':method': 'POST', ':path': PREDICT_PATH, 'content-type': 'application/grpc', te: 'trailers' } as const;

/** The frame that called the function calling this. */
function callerOf(): string {
  return new Error().stack?.split('\n')[3] ?? '';
}

/** Counts the re-arming of timers (Timeout.prototype.refresh) by node:http2's own code, as its session timeouts do per frame. */
function countHttp2Refreshes(): { count: number; restore: () => void } {
  const probe = setTimeout(() => undefined, 0);
  clearTimeout(probe);
  const proto = Object.getPrototypeOf(probe) as { refresh: (this: NodeJS.Timeout) => NodeJS.Timeout };
  const refresh = proto.refresh;
  const counter = {
    count: 0,
    restore: () => {
      proto.refresh = refresh;
    },
  };
  proto.refresh = function (this: NodeJS.Timeout) {
    if (new Error().stack?.split('\n')[2]?.includes('node:internal/http2') === true) counter.count++;
    return refresh.call(this);
  };
  return counter;
}

/** One call on `session`: headers and `parts` of the body, `pauseMs` between parts (0: all in the same tick); its answer. */
function call(session: http2.ClientHttp2Session, parts: readonly Buffer[], pauseMs: number, headers: http2.OutgoingHttpHeaders = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ...HEADERS, ...headers }, { endStream: false });
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | null = null;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (head = h));
    stream.on('trailers', (h) => (trailers = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', reject);
    stream.on('close', () => resolve({ headers: head, headersEndStream: false, data: Buffer.concat(chunks), trailers, rstCode: stream.rstCode ?? 0 }));
    const send = (i: number): void => {
      if (i === parts.length - 1) stream.end(parts[i]);
      else if (i < parts.length) stream.write(parts[i]);
      if (i + 1 < parts.length) setTimeout(() => send(i + 1), pauseMs);
    };
    if (pauseMs === 0) {
      for (let i = 0; i < parts.length - 1; i++) stream.write(parts[i]);
      stream.end(parts[parts.length - 1]);
    } else {
      send(0);
    }
  });
}

test('a read deadline only for a message still arriving at the end of its turn; one that never completes ends DEADLINE_EXCEEDED', async (t) => {
  const sim = await startSimulator({ model: MODEL, versions: [1], behaviour: 'half_plus_two', grpcPort: 0 });
  const gw = await startTestGateway({
    models: { [MODEL]: { pools: { '1': { replicas: [replicaEntry(sim)] } }, policy: { stable: 1 }, healthCheck: { intervalMs: 200, timeoutMs: 1_000 } } },
  });
  const session = http2.connect(`http://${gw.grpc}`).on('error', () => undefined);
  // Timers set by the gRPC listener's own code (the frame that called setTimeout; the call's own
  // timer, for its attempt and deadline, is set in call.ts), and timers re-armed by node:http2.
  const original = globalThis.setTimeout;
  let listenerTimers = 0;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    if (callerOf().includes('/protocols/grpc/listener.js')) listenerTimers++;
    return original(...args);
  }) as typeof setTimeout;
  const http2Refreshes = countHttp2Refreshes();
  t.after(async () => {
    globalThis.setTimeout = original;
    http2Refreshes.restore();
    session.destroy();
    await gw.close();
    await sim.close();
  });
  await firstOkPredict(gw.grpc, MODEL, { 'content-type': 'application/grpc', te: 'trailers' });
  const body = framedPredict(MODEL);

  // Whole messages, sent with their headers: answered, with (nearly) no read timer among them, nor a
  // session timer re-armed by node:http2 on either side of the gateway.
  listenerTimers = 0;
  http2Refreshes.count = 0;
  for (let i = 0; i < 20; i++) assert.equal(grpcStatusOf(await call(session, [body], 0)), '0');
  // node:http2 writes a request's HEADERS and DATA frames together, so the gateway reads them in
  // one read; a message that came apart from its headers anyway would get a timer, rightly.
  assert.ok(listenerTimers <= 2, `${listenerTimers} read timers for 20 messages that came with their headers`);
  assert.equal(http2Refreshes.count, 0, 'no node:http2 session timer re-armed by the calls');

  // The message in two parts 150 ms apart: still coming at the end of the turn, so timed; answered.
  listenerTimers = 0;
  const half = Math.floor(body.length / 2);
  assert.equal(grpcStatusOf(await call(session, [body.subarray(0, half), body.subarray(half)], 150)), '0');
  assert.equal(listenerTimers, 1, 'one read timer for the message that came in two parts');

  // Half a message and no more, with a grpc-timeout of 300 ms: DEADLINE_EXCEEDED from the gateway
  // at about that time (not the 5 s of its own deadline), and nothing sent to the replica.
  const before = sim.counters().byOperation.predict;
  const started = performance.now();
  const stalled = await new Promise<RawAnswer>((resolve, reject) => {
    const stream = session.request({ ...HEADERS, 'grpc-timeout': '300m' }, { endStream: false });
    let head: http2.IncomingHttpHeaders = {};
    stream.on('response', (h) => (head = h));
    stream.on('data', () => undefined);
    stream.on('error', reject);
    stream.on('close', () => resolve({ headers: head, headersEndStream: true, data: Buffer.alloc(0), trailers: null, rstCode: stream.rstCode ?? 0 }));
    stream.write(body.subarray(0, half));
  });
  const tookMs = performance.now() - started;
  assert.equal(stalled.headers['grpc-status'], '4', 'DEADLINE_EXCEEDED');
  assert.equal(stalled.headers['grpc-message'], 'Deadline Exceeded');
  assert.ok(tookMs >= 250 && tookMs < 3_000, `answered after ${tookMs.toFixed(0)} ms, at the client's deadline`);
  assert.equal(sim.counters().byOperation.predict, before, 'nothing reached the replica');
});

test("an upstream session no call was sent on for a whole idle period is closed; one in use is kept; the next call opens another", async (t) => {
  // A replica stand-in: answers every call at once, and notes its sessions' ends.
  const server = http2.createServer();
  const closed: http2.ServerHttp2Session[] = [];
  server.on('session', (s) => s.on('close', () => closed.push(s)));
  server.on('stream', (stream) => {
    stream.on('error', () => undefined);
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const upstream = new GrpcUpstream(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { sessions: 2, connectTimeoutMs: 1_000, idleTimeoutMs: 400 });
  t.after(async () => {
    await upstream.close();
    server.close();
  });
  const send = async (): Promise<void> => {
    const stream = upstream.session().request({ ':method': 'POST', ':path': '/p', 'content-type': 'application/grpc', te: 'trailers' });
    stream.on('error', () => undefined);
    stream.resume();
    stream.end();
    await once(stream, 'close');
  };
  // A call every 40 ms for about 1 s (two and a half idle periods), on both sessions: neither is closed.
  for (let i = 0; i < 25; i++) {
    await send();
    await sleep(40);
  }
  assert.equal(closed.length, 0, 'sessions in use are kept');
  // No call for two idle periods or more: both closed.
  const quiet = performance.now();
  await waitFor(() => closed.length === 2, 5_000, 'both idle sessions closed');
  assert.ok(performance.now() - quiet >= 300, 'not closed before a whole idle period without a call');
  // The next calls open new sessions and are answered.
  await send();
  await send();
});
