/**
 * The health checks' status GET (controlplane/status-probe.ts) against real sockets: an answer, a
 * replica that accepts and never answers, one that answers without end, and one that is not there;
 * through the checks' own agent, whose undici timeouts are off, so the probe's timer is the only bound.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { probeAgent, probeStatus, STATUS_BODY_LIMIT } from '../../../gateway/src/controlplane/status-probe.js';

const PATH = '/v1/models/m/versions/1';

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function withAgent(run: (agent: ReturnType<typeof probeAgent>) => Promise<void>): Promise<void> {
  const agent = probeAgent(undefined);
  try {
    await run(agent);
  } finally {
    await agent.destroy();
  }
}

test('an answer: its status code and body', async () => {
  const body = JSON.stringify({ model_version_status: [{ version: '1', state: 'AVAILABLE' }] });
  let seen = '';
  const server = createHttpServer((req, res) => {
    seen = `${req.method} ${req.url}`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  const origin = await listen(server);
  try {
    await withAgent(async (agent) => {
      assert.deepEqual(await probeStatus(agent, origin, PATH, 2000), { answered: true, statusCode: 200, body });
      assert.equal(seen, `GET ${PATH}`);
    });
  } finally {
    server.close();
  }
});

test('a replica that accepts and never answers: a timeout, and the connection is cut', async () => {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    // Read (and drop) the request: a socket never read would not see the client's end.
    socket.resume();
  });
  const origin = await listen(server);
  try {
    await withAgent(async (agent) => {
      const closed = new Promise<void>((resolve) => server.once('connection', (s: Socket) => s.once('close', () => resolve())));
      assert.deepEqual(await probeStatus(agent, origin, PATH, 150), { answered: false, detail: 'timeout after 150 ms' });
      const cut = await Promise.race([closed.then(() => true), delay(5000, false)]);
      assert.ok(cut, 'the connection of a check that timed out is closed');
    });
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
  }
});

test(`an answer without end: cut past ${STATUS_BODY_LIMIT} bytes, reported as answered with no body`, async () => {
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const server = createHttpServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const pump = (): void => {
      while (res.write(chunk));
      res.once('drain', pump);
    };
    pump();
    res.on('error', () => {});
  });
  const origin = await listen(server);
  try {
    await withAgent(async (agent) => {
      assert.deepEqual(await probeStatus(agent, origin, PATH, 10_000), { answered: true, statusCode: 200, body: undefined });
    });
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('nobody listening: the connection error, not answered', async () => {
  const server = createServer();
  const origin = await listen(server);
  server.close();
  await once(server, 'close');
  await withAgent(async (agent) => {
    assert.deepEqual(await probeStatus(agent, origin, PATH, 2000), { answered: false, detail: 'ECONNREFUSED' });
  });
});
