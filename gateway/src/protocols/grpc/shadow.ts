/**
 * Sends a gRPC call's copy to the shadow version (dataplane/shadow.ts decided it may go): the
 * message naming the shadow's version, on the replica's HTTP/2 sessions, reading the answer whole
 * up to the pair's limit (framed, as the live answer is kept). Nothing of it reaches the client,
 * and none of it is recorded in the shadow pool's breakers, ejection or stats. Bounded by the
 * proxy deadline, which it also sends as grpc-timeout.
 */
import { performance } from 'node:perf_hooks';
import type { ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import type { ShadowPair } from '../../dataplane/shadow.js';
import { release } from './release.js';
import { decodeGrpcMessage } from './status.js';
import { NGHTTP2_CANCEL, type GrpcUpstream } from './upstream.js';
import { formatTimeout, GRPC_STATUS, perCallUnindexed } from './wire.js';

/** `body`: the framed message naming the shadow's version (built here, so a failure to build it ends the copy too). */
export function sendGrpcShadow(pair: ShadowPair, path: string, body: () => Buffer, upstream: GrpcUpstream, deadlineMs: number): void {
  let status = -1;
  let chunks: Buffer[] = [];
  let bytes = 0;
  let tooLarge = false;
  let done = false;
  let stream: ClientHttp2Stream | undefined;
  const finish = (error: string | null): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    const keep = error === null && !tooLarge;
    const kept = chunks;
    chunks = [];
    pair.shadowDone({
      ok: error === null,
      status,
      body: keep ? (kept.length === 1 ? (kept[0] as Buffer) : Buffer.concat(kept, bytes)) : null,
      error,
      tooLarge,
      latencyMs: performance.now() - pair.sentAt,
    });
  };
  const timer = setTimeout(() => {
    finish(`timeout: no answer within ${deadlineMs} ms`);
    stream?.close(NGHTTP2_CANCEL);
  }, deadlineMs);
  const settle = (headers: IncomingHttpHeaders): void => {
    status = Number(headers['grpc-status']);
    if (status === GRPC_STATUS.OK) finish(null);
    else finish(`gRPC status ${status}: ${decodeGrpcMessage(headers['grpc-message'] as string | undefined)}`);
  };
  let message: Buffer;
  try {
    message = body();
    stream = upstream.session().request(
      perCallUnindexed({
        ':method': 'POST',
        ':path': path,
        'content-type': 'application/grpc',
        te: 'trailers',
        'x-request-id': pair.requestId,
        'grpc-timeout': formatTimeout(deadlineMs),
      }),
      { endStream: false },
    );
  } catch (err) {
    finish((err as Error).message);
    return;
  }
  let trailers: IncomingHttpHeaders | undefined;
  const sent = stream;
  stream.on('response', (headers) => {
    if (headers[':status'] !== 200) finish(`HTTP ${String(headers[':status'])}`);
    // Trailers-Only: the status is in the headers.
    else if (headers['grpc-status'] !== undefined) settle(headers);
  });
  stream.on('data', (chunk: Buffer) => {
    if (tooLarge) return;
    bytes += chunk.length;
    if (bytes > pair.maxBytes) {
      tooLarge = true;
      chunks = [];
      return;
    }
    chunks.push(chunk);
  });
  stream.on('trailers', (headers) => (trailers = headers));
  stream.on('end', () => (trailers === undefined ? finish('the replica ended the stream without a status') : settle(trailers)));
  stream.on('error', (err: Error) => finish(err.message || err.name));
  // 'error' keeps an error from being thrown; 'close' releases the stream (release.ts).
  stream.on('close', () => {
    finish('the replica closed the stream without a status');
    release(sent);
  });
  stream.end(message);
}
