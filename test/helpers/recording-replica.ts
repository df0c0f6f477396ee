/**
 * A replica that shows what reached it: it reports its version AVAILABLE to health checks and
 * answers every other request with the method, path and raw headers it received, plus response
 * headers the test chooses. For checking what the gateway forwards, which TF Serving never echoes.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  readonly method: string;
  readonly path: string;
  readonly rawHeaders: string[];
  readonly bodyLength: number;
}

export interface RecordingReplica {
  readonly url: string;
  readonly received: Received[];
  /** Extra response headers for the next answers, as a flat [name, value, ...] list. */
  responseHeaders: string[];
  close(): Promise<void>;
}

export async function startRecordingReplica(model: string, version: number): Promise<RecordingReplica> {
  const received: Received[] = [];
  const replica = { responseHeaders: [] as string[] };
  const statusPath = `/v1/models/${model}/versions/${version}`;
  const server: Server = createServer((req: IncomingMessage, res) => {
    let bodyLength = 0;
    req.on('data', (c: Buffer) => (bodyLength += c.length));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === statusPath) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ model_version_status: [{ version: String(version), state: 'AVAILABLE', status: { error_code: 'OK', error_message: '' } }] }));
        return;
      }
      const record = { method: req.method ?? '', path: req.url ?? '', rawHeaders: req.rawHeaders, bodyLength };
      received.push(record);
      res.writeHead(200, ['content-type', 'application/json', ...replica.responseHeaders]);
      res.end(JSON.stringify(record));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    get responseHeaders() {
      return replica.responseHeaders;
    },
    set responseHeaders(value: string[]) {
      replica.responseHeaders = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
