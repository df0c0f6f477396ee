/**
 * One HTTP/1.1 request written byte for byte on its own connection, for headers an HTTP client
 * will not send (non-ASCII bytes, duplicate Authorization headers, 100 KiB values).
 */
import { connect } from 'node:net';

export interface RawReply {
  /** 0 when the server closed the connection without an answer. */
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** `headerLines` are written as given, each followed by CRLF. */
export function rawRequest(origin: string, method: string, target: string, headerLines: readonly Buffer[], body = ''): Promise<RawReply> {
  const { hostname, port } = new URL(origin);
  const payload = Buffer.from(body, 'utf8');
  const head = Buffer.from(
    `${method} ${target} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n` +
      (body === '' ? '' : `Content-Type: application/json\r\nContent-Length: ${payload.length}\r\n`),
    'latin1',
  );
  const crlf = Buffer.from('\r\n', 'latin1');
  const request = Buffer.concat([head, ...headerLines.flatMap((line) => [line, crlf]), crlf, payload]);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), 10_000);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // A server may answer and close before the whole request is written (431): keep what came.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parse(Buffer.concat(chunks).toString('latin1')));
    });
    // Not end(): a client's half-close makes Node abandon a response still being prepared.
    // Connection: close has the server close once it has answered.
    socket.write(request);
  });
}

function parse(text: string): RawReply {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return { status: 0, headers: {}, body: text };
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1] ?? 0), headers, body: Buffer.from(text.slice(end + 4), 'latin1').toString('utf8') };
}
