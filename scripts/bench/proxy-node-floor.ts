#!/usr/bin/env node
/**
 * The "Node floor": node:http in, one undici Pool out, no routing, no policy, no stats. What any
 * Node proxy on this HTTP stack costs at least, so the latency section can tell the gateway's own
 * cost from the stack's.
 *
 *   node dist/scripts/bench/proxy-node-floor.js --upstream http://127.0.0.1:PORT
 *
 * Prints `proxy listening on http://127.0.0.1:<port>`; exits with its parent.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import { parseArgs } from 'node:util';
import { Pool, type Dispatcher } from 'undici';

const { values } = parseArgs({ options: { upstream: { type: 'string' }, port: { type: 'string', default: '0' } } });
if (values.upstream === undefined) {
  process.stderr.write('proxy-node-floor: --upstream URL is required\n');
  process.exit(2);
}

// Hop-by-hop: they describe one connection, and undici refuses some of them outright.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'host']);

function endToEnd(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

const hasBody = (req: IncomingMessage): boolean => req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;

// The same pool size and idle time as the gateway's per-replica pool.
const pool = new Pool(values.upstream, { connections: 128, pipelining: 1, keepAliveTimeout: 4_000 });
const server = createServer((req, res) => {
  pool.request(
    {
      method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
      path: req.url ?? '/',
      headers: endToEnd(req.headers),
      body: hasBody(req) ? req : null,
    },
    (err, data) => {
      if (err !== null) {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
        res.end('{"error": "upstream failed"}');
        return;
      }
      res.writeHead(data.statusCode, endToEnd(data.headers));
      pipeline(data.body, res, () => undefined);
    },
  );
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
