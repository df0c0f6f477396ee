/**
 * Answers the gateway gives itself, in TF Serving's exact shapes, so a client cannot tell them from
 * a replica's: JSON `{"error": ...}` for /v1 paths, libevent's HTML pages for what never reaches
 * TF Serving's handlers, libevent's reason phrases on the status line.
 */
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorBody, JSON_CONTENT_TYPE } from '../../tfserving/errors.js';
import { DEFAULT_CONTENT_TYPE, libeventErrorPage, reasonPhrase } from '../../tfserving/libevent.js';

export function replyError(res: ServerResponse, status: number, message: string, requestId: string, close = false): void {
  if (res.headersSent || res.destroyed) return;
  const body = errorBody(message);
  const headers = ['content-type', JSON_CONTENT_TYPE, 'content-length', String(Buffer.byteLength(body)), 'x-request-id', requestId];
  if (close) {
    headers.push('connection', 'close');
    lingerAfter(res);
  }
  res.writeHead(status, reasonPhrase(status), headers);
  res.end(body);
}

/** libevent's evhttp_send_error page; libevent closes the connection after it. */
export function replyPage(res: ServerResponse, status: 400 | 404 | 501, requestId: string): void {
  if (res.headersSent || res.destroyed) return;
  const body = libeventErrorPage(status);
  res.writeHead(status, reasonPhrase(status), [
    'content-type', 'text/html',
    'connection', 'close',
    'content-length', String(Buffer.byteLength(body)),
    'x-request-id', requestId,
  ]);
  lingerAfter(res);
  res.end(body);
}

/** An empty answer, as TF Serving gives to a CORS preflight (libevent adds its default type). */
export function replyEmpty(res: ServerResponse, status: number, requestId: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, reasonPhrase(status), ['content-type', DEFAULT_CONTENT_TYPE, 'content-length', '0', 'x-request-id', requestId]);
  res.end();
}

/**
 * How long a connection whose answer closes it may go on sending before it is cut. Closing with
 * the client's bytes unread resets the connection, and a reset can destroy the answer before the
 * client reads it (a client still uploading gets EPIPE and drops what arrived); so the rest is read
 * and dropped, as nginx's lingering close does, but not forever.
 */
export const LINGER_MS = 5_000;

/** Ends the connection after `data`, then reads and drops what the client still sends (see LINGER_MS). */
export function endLingering(socket: Duplex, data?: string): void {
  socket.end(data);
  // Flowing, with or without node's parser listening: what arrives is dropped.
  socket.resume();
  const cut = setTimeout(() => socket.destroy(), LINGER_MS).unref();
  socket.once('close', () => clearTimeout(cut));
}

/**
 * Makes the close that follows this answer a lingering one. node:http closes a connection after an
 * answer with `Connection: close` by `socket.destroySoon()` (end, then destroy once written, with
 * the request's body possibly still arriving): on this one socket, that becomes endLingering. The
 * test "a 413 is read by a client still uploading" fails if node stops calling destroySoon.
 */
function lingerAfter(res: ServerResponse): void {
  const socket = res.socket;
  if (socket === null) return;
  socket.destroySoon = () => endLingering(socket);
}
