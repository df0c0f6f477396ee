/**
 * Hostile (or careless) clients against a gateway at its DEFAULT limits (maxBodyBytes 32 MiB and
 * the rest as shipped), run as a child process in front of simulated replicas: what one request
 * can make the gateway do must stay small and bounded, whatever it sends. Each scenario measures
 * the gateway's event-loop delay (prom-client's monitorEventLoopDelay gauges on /metrics, reset at
 * each scrape) and the latency of a status request sent alongside, and records them for
 * docs/reliability.md. The test itself asserts behaviour with generous bounds (no stall of a second
 * or more); the recorded target is the strict one.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { spawnNode, stopChild } from '../../scripts/lib/processes.js';
import { recordScenario } from '../../scripts/lib/reliability-records.js';
import { GATEWAY_NODE_FLAGS } from '../../gateway/src/runtime/heap.js';
import { TestClient } from '../helpers/http.js';
import { startReplica, type SimulatorHandle } from '../helpers/simulator.js';

const MAIN = fileURLToPath(new URL('../../gateway/src/main.js', import.meta.url));
const SUITE = 'default-limits';
const MODEL = 'half_plus_two';
const MiB = 1024 * 1024;
/** What the test asserts: a request that stalls the gateway for a second or more is a failure. */
const STALL_BOUND_MS = 1_000;

let child: ChildProcess;
let rest = '';
let admin = '';
let restPort = 0;
let workDir = '';
const sims: SimulatorHandle[] = [];
const client = new TestClient(8);

before(async () => {
  for (let i = 0; i < 2; i++) sims.push(await startReplica({ model: MODEL, versions: [1], behaviour: 'half_plus_two' }));
  workDir = mkdtempSync(join(tmpdir(), 'cg-default-limits-'));
  const file = join(workDir, 'gateway.json');
  // Only what a deployment must say: listeners for the test, the models. Every limit is the default.
  writeFileSync(
    file,
    JSON.stringify({
      listeners: { rest: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
      models: { [MODEL]: { pools: { '1': { replicas: sims.map((s) => s.url) } }, policy: { stable: 1 } } },
    }),
  );
  const spawned = await spawnNode(MAIN, ['--config', file], /REST on [\d.]+:(\d+), admin API on [\d.]+:(\d+)/, {
    env: { PATH: process.env['PATH'], LOG_LEVEL: 'warn', GATEWAY_STORE: 'memory' },
    nodeArgs: GATEWAY_NODE_FLAGS,
  });
  child = spawned.child;
  process.once('exit', () => child.kill('SIGKILL'));
  child.stdout?.resume();
  restPort = Number(spawned.match[1]);
  rest = `http://127.0.0.1:${restPort}`;
  admin = `http://127.0.0.1:${spawned.match[2]}`;
  for (let i = 0; i < 20; i++) assert.equal((await client.get(`${rest}/v1/models/${MODEL}`)).status, 200);
});

after(async () => {
  if (child !== undefined) await stopChild(child, 3_000);
  await client.close();
  await Promise.all(sims.map((s) => s.close()));
  if (workDir !== '') rmSync(workDir, { recursive: true, force: true });
});

/** The gateway's largest event-loop delay since the previous call, in ms (the gauge resets when scraped). */
async function eventLoopMaxMs(): Promise<number> {
  const text = (await client.get(`${admin}/metrics`)).text;
  const match = /^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text);
  assert.ok(match, 'nodejs_eventloop_lag_max_seconds on /metrics');
  return Number(match[1]) * 1000;
}

/**
 * Sends `body` (already encoded) and, meanwhile, a status request every 10 ms; resolves with the
 * answer and the slowest status request.
 */
async function withStatusProbe(send: () => Promise<{ status: number; body: string }>): Promise<{ status: number; body: string; slowestStatusMs: number }> {
  let slowest = 0;
  let running = true;
  const probe = (async () => {
    while (running) {
      const started = performance.now();
      const reply = await client.get(`${rest}/v1/models/${MODEL}`);
      assert.equal(reply.status, 200);
      slowest = Math.max(slowest, performance.now() - started);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  try {
    return { ...(await send()), slowestStatusMs: slowest };
  } finally {
    running = false;
    await probe;
    // The probe's last request may have ended after `send`: count it.
  }
}

/** One POST over its own connection, the body written at once. */
function post(path: string, body: Buffer, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port: restPort, path, method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': String(body.length), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Valid JSON of about `size` bytes: what a client with a typo in its model name would send. */
function bodyOf(operation: 'predict' | 'classify' | 'regress', size: number): Buffer {
  const item = operation === 'predict' ? '1.25,' : '{"x":[1.25]},';
  const head = operation === 'predict' ? '{"instances":[' : '{"examples":[';
  const count = Math.floor((size - head.length - 4) / item.length);
  const text = head + item.repeat(count).slice(0, -1) + ']}';
  return Buffer.from(text);
}

function errorOf(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { error?: string }).error;
  } catch {
    return undefined;
  }
}

interface LocalCase {
  readonly label: string;
  readonly path: (operation: string) => string;
  readonly status: number;
  readonly error: string;
}

const CASES: readonly LocalCase[] = [
  { label: 'unknown model', path: (op) => `/v1/models/no_such_model:${op}`, status: 404, error: 'Servable not found for request: Latest(no_such_model)' },
  { label: 'unknown version', path: (op) => `/v1/models/${MODEL}/versions/99:${op}`, status: 404, error: `Servable not found for request: Specific(${MODEL}, 99)` },
  { label: 'unknown label', path: (op) => `/v1/models/${MODEL}/labels/nope:${op}`, status: 400, error: 'Unrecognized servable version label: nope' },
];

test('local answers to 1, 16 and 32 MiB bodies (plain and gzip; predict, classify, regress; unknown model, version, label) stall nothing', async () => {
  const started = performance.now();
  const failures: string[] = [];
  const answers: Record<string, number> = {};
  const worst = new Map<string, { loop: number; status: number }>();
  let requests = 0;
  await eventLoopMaxMs();
  for (const size of [1 * MiB, 16 * MiB, 32 * MiB]) {
    for (const operation of ['predict', 'classify', 'regress'] as const) {
      const plain = bodyOf(operation, size);
      for (const [encoding, body, headers] of [
        ['plain', plain, {}],
        ['gzip', gzipSync(plain), { 'content-encoding': 'gzip' }],
      ] as const) {
        for (const c of CASES) {
          await eventLoopMaxMs();
          const reply = await withStatusProbe(() => post(c.path(operation), body, headers));
          const loop = await eventLoopMaxMs();
          requests++;
          const what = `${reply.status} ${c.label}`;
          answers[what] = (answers[what] ?? 0) + 1;
          const label = `${size / MiB} MiB ${encoding} ${operation}, ${c.label}`;
          if (reply.status !== c.status || errorOf(reply.body) !== c.error) failures.push(`${label}: ${reply.status} ${reply.body.slice(0, 120)}`);
          if (loop >= STALL_BOUND_MS || reply.slowestStatusMs >= STALL_BOUND_MS) failures.push(`${label}: event loop held ${loop.toFixed(0)} ms, status request ${reply.slowestStatusMs.toFixed(0)} ms`);
          const key = `${size / MiB} MiB`;
          const w = worst.get(key) ?? { loop: 0, status: 0 };
          worst.set(key, { loop: Math.max(w.loop, loop), status: Math.max(w.status, reply.slowestStatusMs) });
        }
      }
    }
  }
  const figures = [...worst].map(([k, w]) => `${k}: event loop max ${w.loop.toFixed(1)} ms, status ${w.status.toFixed(1)} ms`).join('; ');
  const met = failures.length === 0 && [...worst.values()].every((w) => w.loop < 50 && w.status < 100);
  recordScenario({
    suite: SUITE,
    scenario: 'local answers to huge bodies',
    load: `${requests} requests, one at a time, each with a status request every 10 ms beside it`,
    fault: 'valid JSON bodies of 1, 16 and 32 MiB (plain and gzip) to predict, classify and regress of an unknown model, version and label',
    requests,
    failures: failures.length,
    reasons: Object.fromEntries(failures.map((f) => [f, 1])),
    answers,
    target: "TF Serving's answer for the lookup; event loop max delay < 50 ms and the status request < 100 ms",
    met,
    notes: figures,
    durationMs: Math.round(performance.now() - started),
  });
  assert.deepEqual(failures, []);
});

test('1,000 slow uploads (buffered and streamed sizes) cost bounded memory and no other client its answers', async () => {
  const started = performance.now();
  const failures: string[] = [];
  const pid = child.pid ?? 0;
  const rssMiB = (): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN) / 1024;
  const received = (): number => sims.reduce((n, s) => n + (s.counters().byOperation.predict ?? 0), 0);
  const before = rssMiB();
  const predictsBefore = received();
  await eventLoopMaxMs();
  // 500 announce 1 MiB (kept whole for a retry), 500 announce 16 MiB (streamed past the 4 MiB
  // retry buffer); each sends its headers and 1 KiB, then 16 bytes every 500 ms.
  const sockets: Socket[] = [];
  for (let i = 0; i < 1000; i++) {
    const socket = connect({ port: restPort, host: '127.0.0.1' });
    socket.on('error', () => undefined);
    socket.resume();
    const length = i % 2 === 0 ? 1 * MiB : 16 * MiB;
    socket.write(`POST /v1/models/${MODEL}:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n${' '.repeat(1024)}`);
    sockets.push(socket);
  }
  const dribble = setInterval(() => {
    for (const s of sockets) if (!s.destroyed) s.write(' '.repeat(16));
  }, 500);
  // A well-behaved client meanwhile: one prediction every 20 ms for 8 s.
  const latencies: number[] = [];
  let maxRss = before;
  const deadline = performance.now() + 8_000;
  try {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      const reply = await client.post(`${rest}/v1/models/${MODEL}:predict`, '{"instances": [1.0]}');
      latencies.push(performance.now() - t0);
      if (reply.status !== 200) failures.push(`a client's prediction got ${reply.status}: ${reply.text.slice(0, 120)}`);
      maxRss = Math.max(maxRss, rssMiB());
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    clearInterval(dribble);
    for (const s of sockets) s.destroy();
  }
  const loop = await eventLoopMaxMs();
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? Number.NaN;
  const max = latencies[latencies.length - 1] ?? Number.NaN;
  const reachedReplicas = received() - predictsBefore - latencies.length;
  if (reachedReplicas !== 0) failures.push(`${reachedReplicas} slow uploads reached a replica`);
  if (maxRss - before > 256 + 64) failures.push(`RSS grew by ${(maxRss - before).toFixed(0)} MiB`);
  if (max >= STALL_BOUND_MS) failures.push(`a client's prediction took ${max.toFixed(0)} ms`);
  const figures = `RSS ${before.toFixed(0)} -> max ${maxRss.toFixed(0)} MiB; the other client: ${latencies.length} predictions, p99 ${p99.toFixed(1)} ms, max ${max.toFixed(1)} ms; event loop max ${loop.toFixed(1)} ms`;
  recordScenario({
    suite: SUITE,
    scenario: '1,000 slow uploads',
    load: `1,000 connections uploading 16 bytes every 500 ms (500 announcing 1 MiB, 500 announcing 16 MiB) for 8 s; another client predicting every 20 ms (${latencies.length} requests)`,
    fault: 'slow uploads: each sent its headers and 1 KiB, then dribbled',
    requests: latencies.length + 1000,
    failures: failures.length,
    reasons: Object.fromEntries(failures.map((f) => [f, 1])),
    target: 'every prediction of the other client answered 200 with p99 < 100 ms; RSS growth < 320 MiB (the 256 MiB budget + slack); no slow upload reaches a replica',
    met: failures.length === 0 && p99 < 100,
    notes: figures,
    durationMs: Math.round(performance.now() - started),
  });
  assert.deepEqual(failures, [], figures);
});
