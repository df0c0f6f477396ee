/**
 * A small HTTP client for tests over real sockets (undici), with its own connection pool so a
 * suite can close every connection it opened.
 */
import type { ConnectionOptions } from 'node:tls';
import { Agent, request } from 'undici';

export interface Reply {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
  json<T = unknown>(): T;
}

export class TestClient {
  readonly agent: Agent;

  /** `tls`: for https URLs, e.g. the CA to trust and a client certificate. */
  constructor(connections = 64, tls?: ConnectionOptions) {
    this.agent = new Agent({ connections, keepAliveTimeout: 5_000, ...(tls === undefined ? {} : { connect: tls }) });
  }

  async send(method: string, url: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Reply> {
    const res = await request(url, {
      method: method as 'GET',
      body,
      headers,
      dispatcher: this.agent,
      headersTimeout: 20_000,
      bodyTimeout: 20_000,
    });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      statusText: res.statusText,
      headers: res.headers,
      text,
      json: <T>() => JSON.parse(text) as T,
    };
  }

  get(url: string, headers?: Record<string, string>): Promise<Reply> {
    return this.send('GET', url, undefined, headers);
  }

  post(url: string, body: string | Buffer, headers?: Record<string, string>): Promise<Reply> {
    return this.send('POST', url, body, { 'content-type': 'application/json', ...headers });
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/** Runs `count` calls of `fn` with at most `concurrency` in flight; returns the results in order. */
export async function inParallel<T>(count: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      results[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}
