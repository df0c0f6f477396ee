/**
 * Lingering close. A request the gateway cannot parse is answered with libevent's 400 page and
 * the connection closed; the client may still be sending (the rest of a 1 MiB URL). Closing with
 * its bytes unread would reset the connection, and a reset can destroy the page before the client
 * reads it. So the gateway reads and drops the rest until the client stops, but cuts a client that
 * never stops.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { startStack, type Stack } from '../../helpers/stack.js';
import { waitFor } from '../../helpers/gateway.js';

let stack: Stack;
let port = 0;

before(async () => {
  stack = await startStack({ stableReplicas: 1, canaryReplicas: 0, policy: { stable: 1, canary: null } });
  port = Number(new URL(stack.gw.rest).port);
});

after(() => stack.close());

interface Connection {
  readonly socket: Socket;
  received: string;
  error: string | undefined;
  /** The gateway closed its side (FIN). */
  ended: boolean;
  closed: boolean;
}

function open(): Promise<Connection> {
  return new Promise((resolve, reject) => {
    // Half-open, as a client still writing its request is: the gateway's FIN does not end the sending.
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const c: Connection = { socket, received: '', error: undefined, ended: false, closed: false };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (c.received += chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => (c.error ??= err.code ?? err.message));
    socket.on('end', () => (c.ended = true));
    socket.on('close', () => (c.closed = true));
    socket.once('connect', () => resolve(c));
    socket.once('error', reject);
  });
}

/** 16 KiB of URL, the size of node's whole header limit. */
const CHUNK = 'a'.repeat(16 * 1024);
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('a client still sending after its 400 page gets the page and a clean close, no reset', async () => {
  const c = await open();
  try {
    c.socket.write(`GET /v1/models/${CHUNK}${CHUNK}`);
    await waitFor(() => c.received.includes('</HTML>') || c.closed, 5_000, 'the 400 page');
    assert.match(c.received, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.equal(c.ended, true, 'the gateway closed its side after the page');
    // Every further chunk makes node's parser fail again; none of them may cut the connection.
    for (let i = 0; i < 20; i++) {
      c.socket.write(CHUNK);
      await pause(10);
    }
    c.socket.end();
    await waitFor(() => c.closed, 5_000, 'the connection to close');
    assert.equal(c.error, undefined, 'no reset and no broken pipe');
    assert.equal((c.received.match(/HTTP\/1\.1 /g) ?? []).length, 1, 'one page per connection');
  } finally {
    c.socket.destroy();
  }
});

test('a client that never stops sending after its 400 page is cut after the linger', async () => {
  const c = await open();
  const writer = setInterval(() => {
    if (!c.socket.destroyed) c.socket.write(CHUNK);
  }, 20);
  try {
    c.socket.write(`GET /v1/models/${CHUNK}${CHUNK}`);
    await waitFor(() => c.closed, 10_000, 'the gateway to cut the connection (linger 5 s)');
    assert.match(c.received, /^HTTP\/1\.1 400 Bad Request\r\n/, 'the page came first');
  } finally {
    clearInterval(writer);
    c.socket.destroy();
  }
});
