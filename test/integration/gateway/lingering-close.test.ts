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
    // The FIN may come a moment after the page's last bytes.
    await waitFor(() => c.ended, 2_000, 'the gateway to close its side after the page');
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

test('a 413 is read by a client still uploading: the rest of its body is read and dropped, no reset', async () => {
  const c = await open();
  try {
    // Declared over the 32 MiB limit: answered before a byte of the body is read.
    c.socket.write(`POST /v1/models/half_plus_two:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${64 * 1024 * 1024}\r\n\r\n`);
    const piece = Buffer.alloc(256 * 1024, 0x31);
    // 16 MiB more, as a client that does not read while it writes: the close must not reset it.
    const deadline = Date.now() + 10_000;
    for (let sent = 0; sent < 16 * 1024 * 1024 && c.error === undefined && !c.closed; sent += piece.length) {
      if (c.socket.write(piece)) continue;
      // The gateway must keep reading: a stalled upload (no drain) fails within the bound.
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        c.socket.once('drain', () => resolve(clearTimeout(timer)));
        c.socket.once('close', () => resolve(clearTimeout(timer)));
      });
      assert.ok(Date.now() < deadline, 'the gateway stopped reading the upload');
    }
    c.socket.end();
    await waitFor(() => c.closed, 10_000, 'the connection to close');
    assert.equal(c.error, undefined, 'no reset and no broken pipe while uploading');
    assert.match(c.received, /^HTTP\/1\.1 413 Request Entity Too Large\r\n/);
    assert.match(c.received, /connection: close/i);
    assert.match(c.received, /"error": "Request body is larger than the gateway's limit of 33554432 bytes"/);
  } finally {
    c.socket.destroy();
  }
});

test('Expect: 100-continue with a body declared over the limit: 413 at once, no 100 Continue', async () => {
  const c = await open();
  try {
    c.socket.write(`POST /v1/models/half_plus_two:predict HTTP/1.1\r\nHost: x\r\nContent-Length: ${64 * 1024 * 1024}\r\nExpect: 100-continue\r\n\r\n`);
    await waitFor(() => c.received.includes('\r\n\r\n'), 5_000, 'an answer to the headers');
    assert.match(c.received, /^HTTP\/1\.1 413 Request Entity Too Large\r\n/, 'the final answer first, no interim 100');
    assert.doesNotMatch(c.received, /100 Continue/);
  } finally {
    c.socket.destroy();
  }
});

test('Expect: 100-continue within the limit: 100 Continue, then the answer', async () => {
  const c = await open();
  const body = '{"instances": [1.0]}';
  try {
    c.socket.write(`POST /v1/models/half_plus_two:predict HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`);
    await waitFor(() => c.received.includes('100 Continue\r\n\r\n'), 5_000, '100 Continue');
    c.socket.write(body);
    await waitFor(() => c.received.includes('"predictions"'), 5_000, 'the prediction');
    assert.match(c.received, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
  } finally {
    c.socket.destroy();
  }
});
