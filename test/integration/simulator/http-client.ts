/**
 * Minimal HTTP client for the simulator tests: node:http for ordinary requests (with an optional
 * keep-alive agent, so connection reuse and resets are observable) and raw sockets for requests
 * node:http would refuse to send. Every call is bounded in time.
 */
import http, { type Agent, type IncomingHttpHeaders } from 'node:http';
import net from 'node:net';

export interface Reply {
  readonly status: number;
  readonly statusText: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The local port of the connection that carried the request (to see keep-alive reuse). */
  readonly localPort: number | undefined;
}

export interface CallOptions {
  readonly body?: string | Buffer;
  readonly headers?: Record<string, string>;
  readonly agent?: Agent;
  readonly timeoutMs?: number;
}

export function call(baseUrl: string, method: string, path: string, options: CallOptions = {}): Promise<Reply> {
  const url = new URL(baseUrl);
  return new Promise<Reply>((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: options.headers,
        agent: options.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({
            status: res.statusCode ?? 0,
            statusText: res.statusMessage ?? '',
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            localPort: res.socket?.localPort,
          });
        });
        res.on('error', reject);
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`${method} ${path}: no answer within ${options.timeoutMs ?? 5000} ms`));
    }, options.timeoutMs ?? 5000);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    if (options.body !== undefined) req.end(options.body);
    else req.end();
  });
}

export const get = (baseUrl: string, path: string, options?: CallOptions): Promise<Reply> => call(baseUrl, 'GET', path, options);

export const post = (baseUrl: string, path: string, body: string | Buffer, options: CallOptions = {}): Promise<Reply> =>
  call(baseUrl, 'POST', path, { ...options, body });

/** The parsed {"error": ...} of a TF error answer. */
export function errorOf(reply: Reply): string {
  const parsed = JSON.parse(reply.body) as { error?: unknown };
  if (typeof parsed.error !== 'string') throw new Error(`not a TF error body: ${reply.body}`);
  return parsed.error;
}

/** Writes raw bytes and collects everything until the server closes the connection (or the timeout). */
export function rawExchange(port: number, bytes: string, timeoutMs = 3000): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    }, timeoutMs);
    socket.on('connect', () => socket.write(bytes, 'latin1'));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Whether a TCP connection to the port is refused right now. */
export function isRefused(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED') resolve(true);
      else reject(e);
    });
  });
}

/** A free port, found by binding port 0 and releasing it. */
export function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
