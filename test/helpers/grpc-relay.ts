/**
 * A replica's gRPC port with HTTP/2 behaviour the simulator does not have: a node:http2 server that
 * relays each call to a simulator's gRPC port (headers, message and trailers as they come) and, on
 * the test's word, refuses new streams with RST_STREAM(REFUSED_STREAM) or tells every connection
 * GOAWAY, as a TF Serving behind a restarting sidecar or an overloaded grpc server does.
 */
import http2, { type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { RESPOND_AND_END, RESPOND_WITH_TRAILERS } from '../../gateway/src/tfserving/grpc-wire.js';

export interface GrpcRelay {
  readonly port: number;
  /** Streams relayed, refused. */
  readonly counts: { relayed: number; refused: number };
  /** From now on every new stream is refused (true) or relayed (false). */
  refuse(on: boolean): void;
  /** GOAWAY on every open connection (calls in flight finish); new connections are accepted. */
  goAway(): void;
  /** Connections accepted so far. */
  readonly sessions: number;
  /** Per stream received, the header names that came as HPACK literals never indexed (node:http2's sensitiveHeaders). */
  readonly neverIndexed: string[][];
  close(): Promise<void>;
}

const PSEUDO = /^:/;

function forwardable(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!PSEUDO.test(name) || name === ':status') out[name] = value;
  }
  return out;
}

export async function startGrpcRelay(target: string): Promise<GrpcRelay> {
  const upstream = http2.connect(`http://${target}`);
  upstream.on('error', () => undefined);
  const server = http2.createServer();
  const open = new Set<ServerHttp2Session>();
  const counts = { relayed: 0, refused: 0 };
  let refusing = false;
  let accepted = 0;
  const neverIndexed: string[][] = [];
  server.on('session', (session) => {
    accepted++;
    open.add(session);
    session.on('close', () => open.delete(session));
    session.on('error', () => undefined);
  });
  server.on('stream', (stream, headers) => {
    neverIndexed.push([...((headers as Record<symbol, string[] | undefined>)[http2.sensitiveHeaders] ?? [])]);
    stream.on('error', () => undefined);
    if (refusing) {
      counts.refused++;
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    counts.relayed++;
    const call = upstream.request({ ':method': 'POST', ':path': headers[':path'], ...forwardable(headers) });
    call.on('error', () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
    let trailers: OutgoingHttpHeaders = {};
    call.on('response', (response, flags) => {
      const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      stream.respond(forwardable(response), endStream ? RESPOND_AND_END : RESPOND_WITH_TRAILERS);
    });
    call.on('trailers', (t) => (trailers = forwardable(t)));
    stream.on('wantTrailers', () => stream.sendTrailers(trailers));
    call.on('data', (chunk: Buffer) => stream.write(chunk));
    call.on('end', () => {
      if (!stream.destroyed && !stream.writableEnded) stream.end();
    });
    stream.pipe(call);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    counts,
    refuse: (on) => void (refusing = on),
    goAway: () => {
      for (const session of open) session.close();
    },
    neverIndexed,
    get sessions() {
      return accepted;
    },
    close: async () => {
      for (const session of open) session.destroy();
      upstream.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
