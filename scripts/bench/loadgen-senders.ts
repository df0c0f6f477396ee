/**
 * How the open-loop generator sends one request: a REST predict over HTTP/1.1 (an undici Pool), or
 * a unary gRPC call over HTTP/2 (node:http2 sessions, the calls spread over them in turn). Either
 * way the answer is read to its end and judged: 200 for REST, grpc-status 0 for gRPC.
 */
import http2 from 'node:http2';
import { Pool } from 'undici';
import { percentDecode } from '../../gateway/src/tfserving/grpc-wire.js';
import { PREDICT_BODY, USER_AGENT } from './wrk.js';

export interface Sender {
  /** Sends one request; `done` is called once, with what failed if it did (undefined: success). */
  send(done: (failure: string | undefined) => void): void;
  close(): Promise<void>;
}

export function restSender(url: URL, connections: number): Sender {
  const pool = new Pool(url.origin, { connections, pipelining: 1, keepAliveTimeout: 30_000 });
  const path = url.pathname + url.search;
  const headers = { 'content-type': 'application/json', 'user-agent': USER_AGENT };
  return {
    send(done) {
      pool.request({ method: 'POST', path, body: PREDICT_BODY, headers }).then(
        async (res) => {
          await res.body.text();
          done(res.statusCode === 200 ? undefined : `HTTP ${res.statusCode}`);
        },
        (err: unknown) => done(`error ${(err as { code?: string }).code ?? String(err)}`),
      );
    },
    close: () => pool.close(),
  };
}

/** `body` is the whole request body: the length-prefixed message. */
export function grpcSender(url: URL, connections: number, body: Buffer): Sender {
  const sessions: http2.ClientHttp2Session[] = [];
  for (let i = 0; i < connections; i++) {
    const session = http2.connect(url.origin);
    // A failed session fails its streams, which count as failed requests; nothing else to do.
    session.on('error', () => undefined);
    sessions.push(session);
  }
  const headers = {
    ':method': 'POST',
    ':path': url.pathname,
    'content-type': 'application/grpc',
    te: 'trailers',
    'user-agent': USER_AGENT,
  };
  let next = 0;
  return {
    send(done) {
      const session = sessions[next++ % sessions.length] as http2.ClientHttp2Session;
      let status: string | undefined;
      let message = '';
      const read = (h: http2.IncomingHttpHeaders): void => {
        const value = h['grpc-status'];
        if (typeof value === 'string') status = value;
        // The message's start says which error it was (e.g. no healthy replica, or admission).
        if (typeof h['grpc-message'] === 'string') message = `: ${percentDecode(h['grpc-message']).toString('utf8').slice(0, 60)}`;
      };
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request(headers);
      } catch (err) {
        done(`error ${(err as { code?: string }).code ?? String(err)}`);
        return;
      }
      // Trailers-Only answers carry grpc-status in the response headers.
      stream.on('response', read);
      stream.on('trailers', read);
      stream.on('error', () => undefined);
      stream.on('close', () => done(status === '0' ? undefined : status === undefined ? `reset ${stream.rstCode}` : `grpc-status ${status}${message}`));
      stream.resume();
      stream.end(body);
    },
    close: async () => {
      await Promise.all(sessions.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}
