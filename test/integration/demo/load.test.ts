/**
 * The demo's background load against a plain HTTP server on 127.0.0.1: its rate, what it sends,
 * and that stop() ends it (nothing sent afterwards, requests in flight finished, sockets closed).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { loadRateFromEnv, startLoad } from '../../../demo/src/load.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function server(delayMs = 0): Promise<{ url: string; requests: Array<{ url: string; body: string }>; server: http.Server }> {
  const requests: Array<{ url: string; body: string }> = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      requests.push({ url: req.url ?? '', body });
      setTimeout(() => res.end('{"predictions":[1]}'), delayMs);
    });
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, requests, server: srv };
}

test('sends REST predict requests at the rate asked for, with varying inputs', { timeout: 15_000 }, async (t) => {
  const s = await server();
  t.after(() => s.server.close());
  const load = startLoad({ url: s.url, model: 'half_plus_two', rate: 40 });
  await sleep(1500);
  await load.stop();
  // 40/s over 1.5 s: 60, give or take timer slack.
  assert.ok(s.requests.length >= 45 && s.requests.length <= 70, `${s.requests.length} requests`);
  assert.ok(s.requests.every((r) => r.url === '/v1/models/half_plus_two:predict'));
  const bodies = s.requests.map((r) => JSON.parse(r.body) as { instances: number[] });
  assert.ok(bodies.every((b) => Array.isArray(b.instances) && b.instances.length === 2));
  assert.ok(new Set(s.requests.map((r) => r.body)).size > 10, 'inputs vary');
  assert.equal(load.counts().byStatus['200'], s.requests.length);
  assert.equal(load.counts().failed, 0);
});

test('stop() sends nothing more, waits for the requests in flight and closes its sockets', { timeout: 15_000 }, async (t) => {
  const s = await server(300);
  t.after(() => s.server.close());
  const load = startLoad({ url: s.url, model: 'm', rate: 50 });
  await sleep(400);
  const stopped = load.stop();
  assert.equal(load.stop(), stopped, 'idempotent');
  const sent = s.requests.length;
  await stopped;
  // Every request it had sent was answered before stop() resolved.
  assert.equal((load.counts().byStatus['200'] ?? 0) + load.counts().failed, sent);
  await sleep(300);
  assert.equal(s.requests.length, sent, 'nothing sent after stop()');
  const open = await new Promise<number>((resolve, reject) => s.server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
  assert.equal(open, 0);
});

test('a server that is gone counts failures and does not pile up requests', { timeout: 15_000 }, async () => {
  const s = await server();
  s.server.close();
  await once(s.server, 'close');
  const load = startLoad({ url: s.url, model: 'm', rate: 100 });
  await sleep(500);
  await load.stop();
  assert.ok(load.counts().failed > 10, `${load.counts().failed} failed`);
  assert.deepEqual(load.counts().byStatus, {});
});

test('DEMO_LOAD: unset for the default, off/0 for none, a rate, anything else refused', () => {
  assert.equal(loadRateFromEnv(undefined, 20), 20);
  assert.equal(loadRateFromEnv('', 20), 20);
  for (const off of ['0', 'off', 'OFF', 'false', 'no']) assert.equal(loadRateFromEnv(off, 20), 0, off);
  assert.equal(loadRateFromEnv('5', 20), 5);
  assert.throws(() => loadRateFromEnv('lots', 20), /DEMO_LOAD must be off or a number/);
  assert.throws(() => loadRateFromEnv('5000', 20), /up to 1000/);
  assert.throws(() => startLoad({ url: 'http://127.0.0.1:1', model: 'm', rate: 0 }), /rate must be in/);
});
