#!/usr/bin/env node
/**
 * The Node floor for gRPC: a node:http2 server in, HTTP/2 sessions out to one upstream, no routing,
 * no ModelSpec, no retries, no timers, no stats, doing its I/O the way the gateway does (the
 * message read whole and sent as one buffer on one of two sessions, round robin; the client's
 * metadata passed on; the answer's headers held until its message, the message relayed, the
 * trailers sent once it is written; no Date header, as the gateway and grpc C++ send none). What
 * any Node gRPC proxy pays node:http2 for the two streams of a call, so the gRPC section can tell
 * the gateway's own cost from the stack's, as the REST floor (proxy-node-floor.ts) does for REST.
 *
 *   node dist/scripts/bench/proxy-grpc-floor.js --upstream 127.0.0.1:PORT
 *
 * Prints `proxy listening on http://127.0.0.1:<port>` (cleartext HTTP/2); exits with its parent.
 */
import { connect, constants, createServer, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { RESPOND_AND_END, RESPOND_WITH_TRAILERS } from '../../gateway/src/tfserving/grpc-wire.js';

const { values } = parseArgs({ options: { upstream: { type: 'string' }, port: { type: 'string', default: '0' } } });
if (values.upstream === undefined) {
  process.stderr.write('proxy-grpc-floor: --upstream HOST:PORT is required\n');
  process.exit(2);
}
const origin = `http://${values.upstream}`;

/** Client metadata not passed on: pseudo-headers are set anew, the rest describe one connection. */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'te', 'content-length']);

// Two sessions, as the gateway keeps to a replica; replaced when one ends.
const sessions: Array<ClientHttp2Session | undefined> = [undefined, undefined];
let next = 0;
function session(): ClientHttp2Session {
  const slot = next;
  next = (next + 1) % sessions.length;
  const current = sessions[slot];
  if (current !== undefined && !current.closed && !current.destroyed) return current;
  const fresh = connect(origin);
  fresh.on('error', () => undefined);
  sessions[slot] = fresh;
  return fresh;
}

function metadataOf(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    if (name.charCodeAt(0) !== 58 /* ':' */ && !NOT_FORWARDED.has(name)) out[name] = headers[name];
  }
  out[':method'] = 'POST';
  out[':path'] = headers[':path'];
  out['te'] = 'trailers';
  return out;
}

/** The upstream's headers or trailers without pseudo-headers (node:http2 sets :status itself). */
function relayable(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) if (name.charCodeAt(0) !== 58) out[name] = headers[name];
  return out;
}

/** A status of the floor's own (the upstream failed), as Trailers-Only. */
function fail(client: ServerHttp2Stream): void {
  if (client.destroyed || client.headersSent) {
    client.close(constants.NGHTTP2_CANCEL);
    return;
  }
  client.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'upstream failed' }, RESPOND_AND_END);
}

function forward(client: ServerHttp2Stream, headers: IncomingHttpHeaders, body: Buffer): void {
  if (client.destroyed) return;
  const upstream = session().request(metadataOf(headers), { endStream: false });
  let held: IncomingHttpHeaders | undefined;
  let trailers: IncomingHttpHeaders | undefined;
  upstream.on('response', (h) => (held = h));
  upstream.on('data', (chunk: Buffer) => {
    if (client.destroyed) return;
    if (!client.headersSent) client.respond({ ...relayable(held ?? {}), ':status': 200 }, RESPOND_WITH_TRAILERS);
    client.write(chunk);
  });
  upstream.on('trailers', (t) => (trailers = t));
  upstream.on('end', () => {
    if (client.destroyed) return;
    if (trailers === undefined) {
      // Trailers-Only (an error without a message): the whole answer is in the headers.
      if (held?.['grpc-status'] !== undefined && !client.headersSent) client.respond({ ...relayable(held), ':status': 200 }, RESPOND_AND_END);
      else fail(client);
      return;
    }
    const last = relayable(trailers);
    client.once('wantTrailers', () => client.sendTrailers(last));
    client.end();
  });
  upstream.on('error', () => fail(client));
  client.on('close', () => {
    if (!upstream.closed) upstream.close(constants.NGHTTP2_CANCEL);
  });
  upstream.end(body);
}

const server = createServer();
server.on('session', (s) => s.on('error', () => undefined));
server.on('stream', (client, headers) => {
  client.on('error', () => undefined);
  const chunks: Buffer[] = [];
  client.on('data', (c: Buffer) => chunks.push(c));
  client.on('end', () => forward(client, headers, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
});
server.listen(Number(values.port), '127.0.0.1');
await once(server, 'listening');
process.stdout.write(`proxy listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
const stop = (): void => {
  server.close();
  for (const s of sessions) s?.destroy();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (process.send !== undefined) process.on('disconnect', stop);
