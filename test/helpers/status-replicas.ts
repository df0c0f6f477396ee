/**
 * Many stand-in replicas at once, for tests of large pools: one HTTP server each on 127.0.0.1,
 * answering a version's status (AVAILABLE, whatever the version asked for) and a prediction for
 * anything else, and counting the status checks each one received.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const STATUS = /^\/v1\/models\/[^/:]+\/versions\/(\d+)$/;

export interface StatusReplicas {
  readonly urls: readonly string[];
  /** Health checks received, per replica (same order as urls). */
  readonly checks: readonly number[];
  /** Stops one replica (its port refuses from then on). */
  stop(index: number): Promise<void>;
  /** Starts a stopped replica again, on its port. */
  restart(index: number): Promise<void>;
  close(): Promise<void>;
}

export async function startStatusReplicas(count: number): Promise<StatusReplicas> {
  const servers: Server[] = [];
  const checks: number[] = [];
  const urls: string[] = [];
  for (let i = 0; i < count; i++) {
    checks.push(0);
    const server = createServer((req, res) => {
      req.resume();
      const status = req.method === 'GET' ? STATUS.exec(req.url ?? '') : null;
      if (status !== null) {
        checks[i]!++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ model_version_status: [{ version: status[1], state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }] }));
        return;
      }
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"predictions": [2.5]}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    urls.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  }
  const stop = (s: Server): Promise<void> =>
    new Promise<void>((resolve) => {
      if (!s.listening) return resolve();
      s.close(() => resolve());
      s.closeAllConnections();
    });
  return {
    urls,
    checks,
    stop: (index) => stop(servers[index] as Server),
    restart: (index) => new Promise<void>((resolve) => (servers[index] as Server).listen(Number(new URL(urls[index] as string).port), '127.0.0.1', resolve)),
    async close() {
      await Promise.all(servers.map(stop));
    },
  };
}
