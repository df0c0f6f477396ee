/**
 * A replica whose every inference request waits for the test to answer it: it reports its version
 * AVAILABLE to health checks and hands each other request to the test, in arrival order, to be
 * answered with a status of the test's choosing when the test says so. For tests about what the
 * gateway does while an attempt is in flight.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HeldRequest {
  /** Answers with `status` and a small JSON body (TF Serving's shape for errors). */
  answer(status: number): void;
  /** Resolves once the request is over: answered, or its connection closed by the gateway. */
  readonly closed: Promise<void>;
}

export interface HeldReplica {
  readonly url: string;
  /** Inference requests received so far. */
  readonly received: number;
  /** The next inference request to arrive (or the oldest not yet taken). */
  next(): Promise<HeldRequest>;
  close(): Promise<void>;
}

export async function startHeldReplica(model: string, version: number): Promise<HeldReplica> {
  const statusPath = `/v1/models/${model}/versions/${version}`;
  const arrived: HeldRequest[] = [];
  const waiting: Array<(request: HeldRequest) => void> = [];
  let received = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      if (req.method === 'GET' && req.url === statusPath) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ model_version_status: [{ version: String(version), state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }] }));
        return;
      }
      received++;
      const held: HeldRequest = {
        answer: (status) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(status < 400 ? '{"predictions": [2.5]}' : `{ "error": "held replica answered ${status}" }`);
        },
        closed: once(res, 'close').then(() => undefined),
      };
      const taker = waiting.shift();
      if (taker !== undefined) taker(held);
      else arrived.push(held);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get received() {
      return received;
    },
    next: () => {
      const first = arrived.shift();
      return first !== undefined ? Promise.resolve(first) : new Promise((resolve) => waiting.push(resolve));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
