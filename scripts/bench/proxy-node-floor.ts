#!/usr/bin/env node
/**
 * The "Node floor": node:http in, one undici Pool out, no routing, no policy, no stats, doing its
 * I/O the way the gateway does (a small body read whole and sent as one buffer, the answer relayed
 * by an undici dispatch handler chunk by chunk, no stream pipeline). The least a proxy on this HTTP
 * stack costs, so the latency section can tell the gateway's own cost from the stack's. (A first
 * version handed undici the request stream and piped the answer through stream.pipeline: an
 * idiomatic Node proxy, but it spent more CPU per request than the gateway itself.)
 *
 *   node dist/scripts/bench/proxy-node-floor.js --upstream http://127.0.0.1:PORT
 *
 * Prints `proxy listening on http://127.0.0.1:<port>`; exits with its parent.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { Pool, type Dispatcher } from 'undici';

const { values } = parseArgs({ options: { upstream: { type: 'string' }, port: { type: 'string', default: '0' } } });
if (values.upstream === undefined) {
  process.stderr.write('proxy-node-floor: --upstream URL is required\n');
  process.exit(2);
}

// Hop-by-hop: they describe one connection, and undici refuses some of them outright.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'host']);

function endToEnd(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

/** The answer's raw header pairs, hop-by-hop ones left out, as writeHead takes them. */
function answerHeaders(raw: Buffer[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1');
    if (!HOP_BY_HOP.has(name.toLowerCase())) out.push(name, (raw[i + 1] as Buffer).toString('latin1'));
  }
  return out;
}

/** Relays one answer to the client as undici delivers it. */
class Relay implements Dispatcher.DispatchHandler {
  #resume: () => void = () => undefined;
  constructor(private readonly res: ServerResponse) {}
  onConnect(): void {}
  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    this.#resume = resume;
    this.res.writeHead(statusCode, answerHeaders(rawHeaders));
    return true;
  }
  onData(chunk: Buffer): boolean {
    if (this.res.write(chunk)) return true;
    // A slow client: undici pauses the answer until the client's socket drains.
    this.res.once('drain', this.#resume);
    return false;
  }
  onComplete(): void {
    this.res.end();
  }
  onError(): void {
    if (!this.res.headersSent) this.res.writeHead(502, { 'content-type': 'application/json' });
    this.res.end('{"error": "upstream failed"}');
  }
}

// The same pool size and idle time as the gateway's per-replica pool.
const pool = new Pool(values.upstream, { connections: 128, pipelining: 1, keepAliveTimeout: 4_000 });
const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer | null): void => {
  pool.dispatch({ method: (req.method ?? 'GET') as Dispatcher.HttpMethod, path: req.url ?? '/', headers: endToEnd(req.headers), body }, new Relay(res));
};
const server = createServer((req, res) => {
  if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
    forward(req, res, null);
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => forward(req, res, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
});
server.keepAliveTimeout = 65_000;
server.listen(Number(values.port), '127.0.0.1');
await once(server, 'listening');
process.stdout.write(`proxy listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
const stop = (): void => {
  server.close();
  server.closeAllConnections();
  void pool.destroy();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (process.send !== undefined) process.on('disconnect', stop);
