/**
 * Answers the gateway gives itself, in TF Serving's exact shapes, so a client cannot tell them from
 * a replica's: JSON `{"error": ...}` for /v1 paths, libevent's HTML pages for what never reaches
 * TF Serving's handlers, libevent's reason phrases on the status line.
 */
import type { ServerResponse } from 'node:http';
import { errorBody, JSON_CONTENT_TYPE } from '../tfserving/errors.js';
import { DEFAULT_CONTENT_TYPE, libeventErrorPage, reasonPhrase } from '../tfserving/libevent.js';

export function replyError(res: ServerResponse, status: number, message: string, requestId: string, close = false): void {
  if (res.headersSent || res.destroyed) return;
  const body = errorBody(message);
  const headers = ['content-type', JSON_CONTENT_TYPE, 'content-length', String(Buffer.byteLength(body)), 'x-request-id', requestId];
  if (close) headers.push('connection', 'close');
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
  res.end(body);
}

/** An empty answer, as TF Serving gives to a CORS preflight (libevent adds its default type). */
export function replyEmpty(res: ServerResponse, status: number, requestId: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, reasonPhrase(status), ['content-type', DEFAULT_CONTENT_TYPE, 'content-length', '0', 'x-request-id', requestId]);
  res.end();
}
