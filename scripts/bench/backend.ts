#!/usr/bin/env node
/**
 * The benchmark's backend: the least a TF Serving replica must answer for the gateway to route to
 * it, with every answer prepared once, so that the proxies in front of it are what is measured.
 * One process, any number of ports (the 200-replica case needs 200 of them).
 *
 *   node dist/scripts/bench/backend.js [--ports 1] [--host 127.0.0.1]
 *
 * Prints `bench-backend listening on <host> ports <p1>,<p2>,...` once every port accepts
 * connections; exits on SIGTERM/SIGINT and when the parent that spawned it with an IPC channel
 * goes away.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const PREDICTION = Buffer.from('{"predictions": [2.5, 3.0, 4.5]}');
const NOT_FOUND = Buffer.from('{ "error": "Malformed request: not served by bench-backend" }');
const STATUS_PATH = /^\/v1\/models\/[^/:]+(?:\/versions\/(\d+))?$/;

// Status answers differ only by version; the gateway polls one per replica and version.
const statusCache = new Map<string, Buffer>();
function statusBody(version: string): Buffer {
  let body = statusCache.get(version);
  if (body === undefined) {
    body = Buffer.from(
      JSON.stringify(
        { model_version_status: [{ version, state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }] },
        null,
        1,
      ),
    );
    statusCache.set(version, body);
  }
  return body;
}

function send(res: ServerResponse, status: number, body: Buffer): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  if (req.method === 'POST' && url.endsWith(':predict')) {
    // The body is read to its end (not parsed) so the connection stays reusable, as a replica's does.
    req.on('end', () => send(res, 200, PREDICTION));
    req.resume();
    return;
  }
  req.resume();
  const status = req.method === 'GET' ? STATUS_PATH.exec(url) : null;
  if (status !== null) send(res, 200, statusBody(status[1] ?? '1'));
  else send(res, 404, NOT_FOUND);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { ports: { type: 'string', default: '1' }, host: { type: 'string', default: '127.0.0.1' } } });
  const count = Number(values.ports);
  if (!Number.isInteger(count) || count < 1 || count > 5000) {
    process.stderr.write('bench-backend: --ports must be an integer from 1 to 5000\n');
    process.exit(2);
  }
  const servers: Server[] = [];
  const stop = (): void => {
    for (const s of servers) {
      s.close();
      s.closeAllConnections();
    }
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (process.send !== undefined) process.on('disconnect', stop);
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const server = createServer(handle);
    // Longer than any proxy's idle timeout: the proxies decide when a pooled connection ends.
    server.keepAliveTimeout = 65_000;
    servers.push(server);
    // A gateway given 1,000 connections per replica (the memory figure) opens hundreds at once:
    // Node's default backlog of 511 overflowed (1,871 overflows and 636 SYN retransmits a run).
    server.listen(0, values.host, 4096);
    await once(server, 'listening');
    ports.push((server.address() as AddressInfo).port);
  }
  process.stdout.write(`bench-backend listening on ${values.host} ports ${ports.join(',')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-backend: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
