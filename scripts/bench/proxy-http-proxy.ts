#!/usr/bin/env node
/**
 * The other "few lines of Node" baseline: node:http with http-proxy-3 and a keep-alive agent to
 * one upstream.
 *
 *   node dist/scripts/bench/proxy-http-proxy.js --upstream http://127.0.0.1:PORT
 *
 * Prints `proxy listening on http://127.0.0.1:<port>`; exits with its parent.
 */
import { createProxyServer } from 'http-proxy-3';
import { Agent, createServer, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { upstream: { type: 'string' }, port: { type: 'string', default: '0' } } });
if (values.upstream === undefined) {
  process.stderr.write('proxy-http-proxy: --upstream URL is required\n');
  process.exit(2);
}
// Without an agent http-proxy sends `Connection: close` and opens a connection per request.
const agent = new Agent({ keepAlive: true, maxSockets: 128, keepAliveMsecs: 4_000 });
const proxy = createProxyServer({ target: values.upstream, agent });
proxy.on('error', (_err, _req, res) => {
  // `res` is a socket only for WebSocket upgrades, which the bench never sends.
  const response = res as ServerResponse;
  if (!response.headersSent) response.writeHead(502, { 'content-type': 'application/json' });
  response.end('{"error": "upstream failed"}');
});
const server = createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 65_000;
server.listen(Number(values.port), '127.0.0.1');
await once(server, 'listening');
process.stdout.write(`proxy listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
const stop = (): void => {
  server.close();
  server.closeAllConnections();
  agent.destroy();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (process.send !== undefined) process.on('disconnect', stop);
