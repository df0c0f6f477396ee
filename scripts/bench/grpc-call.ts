/**
 * One unary gRPC call over node:http2, timed from the request's first byte to the trailers, with
 * its answer kept: the gRPC section checks each target with it and times the large message.
 */
import http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import { percentDecode, readMessages } from '../../gateway/src/tfserving/grpc-wire.js';
import { USER_AGENT } from './wrk.js';

export interface GrpcAnswer {
  /** grpc-status, from the trailers or a Trailers-Only answer; undefined if none came. */
  readonly status: string | undefined;
  readonly message: string | undefined;
  readonly headers: http2.IncomingHttpHeaders;
  /** The response message, prefix removed; undefined when the body was not exactly one message. */
  readonly payload: Buffer | undefined;
  readonly ms: number;
}

export function grpcCall(session: http2.ClientHttp2Session, path: string, body: Buffer, timeoutMs: number): Promise<GrpcAnswer> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', 'user-agent': USER_AGENT });
    const timer = setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), timeoutMs);
    let headers: http2.IncomingHttpHeaders = {};
    let status: string | undefined;
    let message: string | undefined;
    const read = (h: http2.IncomingHttpHeaders): void => {
      if (typeof h['grpc-status'] === 'string') status = h['grpc-status'];
      if (typeof h['grpc-message'] === 'string') message = percentDecode(h['grpc-message']).toString('utf8');
    };
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      headers = h;
      read(h);
    });
    stream.on('trailers', read);
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    stream.on('close', () => {
      clearTimeout(timer);
      const ms = performance.now() - started;
      if (status === undefined && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) {
        reject(new Error(`the stream was reset (code ${stream.rstCode}) after ${Math.round(ms)} ms`));
        return;
      }
      const messages = readMessages(Buffer.concat(chunks));
      resolve({ status, message, headers, payload: messages?.length === 1 ? messages[0]?.payload : undefined, ms });
    });
    stream.end(body);
  });
}

export function connect(url: string): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.once('connect', () => {
      session.off('error', reject);
      session.on('error', () => undefined);
      resolve(session);
    });
    session.once('error', reject);
  });
}

export function closeSession(session: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => session.close(() => resolve()));
}
