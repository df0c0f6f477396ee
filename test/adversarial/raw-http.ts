/**
 * HTTP/1.1 over a bare TCP socket, for requests an HTTP client would refuse to send or would
 * normalise (traversal paths, control bytes, conflicting lengths, pipelined requests, slow
 * clients), and a parser for whatever comes back, pipelined answers included. Every exchange has
 * a timeout, so a gateway that hangs fails the test instead of stalling it.
 */
import { connect } from 'node:net';

export interface RawResponse {
  readonly status: number;
  readonly reason: string;
  /** Lower-cased names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface RawOutcome {
  /** Complete responses, in order (a 100 Continue counts as one). */
  readonly responses: RawResponse[];
  /** The peer closed (or reset) the connection before the timeout. */
  readonly closed: boolean;
  /** Nothing conclusive before the timeout: the socket was still open. */
  readonly timedOut: boolean;
  /** Socket error seen, e.g. ECONNRESET or EPIPE when the peer stopped reading. */
  readonly error: string | undefined;
  /** Milliseconds from connect to the end of the exchange. */
  readonly ms: number;
}

export interface RawOptions {
  /** Default 5 s. */
  readonly timeoutMs?: number;
  /**
   * Finish once this many complete responses arrived (the last one's `Connection: close` then
   * waits for the close). Default: wait for the peer to close.
   */
  readonly responses?: number;
  /** With `data` given as pieces: the delay between two writes (a slow client). */
  readonly intervalMs?: number;
}

/** Sends `data` (one write, or pieces `intervalMs` apart) to 127.0.0.1:`port` and reads the answers. */
export function rawExchange(port: number, data: string | Buffer | ReadonlyArray<string | Buffer>, options: RawOptions = {}): Promise<RawOutcome> {
  const started = performance.now();
  const wanted = options.responses;
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const parser = new ResponseParser();
    let error: string | undefined;
    let done = false;
    let writer: NodeJS.Timeout | undefined;
    const finish = (closed: boolean, timedOut: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(writer);
      if (closed) parser.close();
      socket.destroy();
      resolve({ responses: parser.responses, closed, timedOut, error, ms: Math.round(performance.now() - started) });
    };
    const timer = setTimeout(() => finish(false, true), options.timeoutMs ?? 5_000);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error ??= err.code ?? err.message;
    });
    socket.on('close', () => finish(true, false));
    socket.on('data', (chunk: Buffer) => {
      parser.push(chunk);
      const last = parser.responses[parser.responses.length - 1];
      if (wanted !== undefined && parser.responses.length >= wanted && last?.headers['connection']?.toLowerCase() !== 'close') {
        finish(false, false);
      }
    });
    if (typeof data === 'string' || Buffer.isBuffer(data)) {
      socket.write(data);
      return;
    }
    const pieces = [...data];
    const writeNext = (): void => {
      const piece = pieces.shift();
      if (piece === undefined || done || socket.destroyed || !socket.writable) return;
      socket.write(piece);
      writer = setTimeout(writeNext, options.intervalMs ?? 0);
    };
    socket.once('connect', writeNext);
  });
}

/** Incremental HTTP/1.x response parser: Content-Length, chunked and close-delimited bodies. */
class ResponseParser {
  readonly responses: RawResponse[] = [];
  #buffer = Buffer.alloc(0);
  #head: { status: number; reason: string; headers: Record<string, string> } | undefined;

  push(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    while (this.#step(false)) {
      // Parse as many complete responses as the buffer holds.
    }
  }

  /** The connection ended: a close-delimited body is complete now. */
  close(): void {
    while (this.#step(true)) {
      // Drain.
    }
  }

  #step(closed: boolean): boolean {
    if (this.#head === undefined) {
      const end = this.#buffer.indexOf('\r\n\r\n');
      if (end < 0) return false;
      const lines = this.#buffer.subarray(0, end).toString('latin1').split('\r\n');
      this.#buffer = this.#buffer.subarray(end + 4);
      const statusLine = /^HTTP\/\d\.\d (\d{3}) ?(.*)$/.exec(lines[0] ?? '');
      const headers: Record<string, string> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon < 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      }
      this.#head = { status: statusLine === null ? 0 : Number(statusLine[1]), reason: statusLine?.[2] ?? '', headers };
    }
    const head = this.#head;
    let body: Buffer | undefined;
    if ((head.status >= 100 && head.status < 200) || head.status === 204 || head.status === 304) {
      body = Buffer.alloc(0);
    } else if (head.headers['transfer-encoding']?.toLowerCase() === 'chunked') {
      body = this.#chunked();
    } else if (head.headers['content-length'] !== undefined) {
      const length = Number(head.headers['content-length']);
      if (this.#buffer.length >= length) {
        body = this.#buffer.subarray(0, length);
        this.#buffer = this.#buffer.subarray(length);
      }
    } else if (closed) {
      body = this.#buffer;
      this.#buffer = Buffer.alloc(0);
    }
    if (body === undefined) return false;
    this.responses.push({ ...head, body: body.toString('utf8') });
    this.#head = undefined;
    return this.#buffer.length > 0 || closed;
  }

  /** The whole chunked body if it has arrived (trailers skipped), else undefined. */
  #chunked(): Buffer | undefined {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = this.#buffer.indexOf('\r\n', at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(this.#buffer.subarray(at, lineEnd).toString('latin1'), 16);
      if (Number.isNaN(size)) return undefined;
      at = lineEnd + 2;
      if (size === 0) {
        const trailerEnd = this.#buffer.indexOf('\r\n', at);
        if (trailerEnd < 0) return undefined;
        // Skip trailer lines up to the empty one.
        let end = trailerEnd;
        while (end !== at) {
          at = end + 2;
          end = this.#buffer.indexOf('\r\n', at);
          if (end < 0) return undefined;
        }
        this.#buffer = this.#buffer.subarray(at + 2);
        return Buffer.concat(parts);
      }
      if (this.#buffer.length < at + size + 2) return undefined;
      parts.push(this.#buffer.subarray(at, at + size));
      at += size + 2;
    }
  }
}

/** libevent's evhttp_send_error page, which TF Serving sends for what never reaches its handlers. */
export function libeventPage(status: 400 | 404 | 501): string {
  const reason = status === 404 ? 'Not Found' : status === 400 ? 'Bad Request' : 'Not Implemented';
  return `<HTML><HEAD>\n<TITLE>${status} ${reason}</TITLE>\n</HEAD><BODY>\n<H1>${reason}</H1>\n</BODY></HTML>\n`;
}

/** TF Serving's error body, `{"error": "..."}` and nothing else, or undefined. */
export function tfError(response: RawResponse): string | undefined {
  if (response.headers['content-type'] !== 'application/json') return undefined;
  try {
    const parsed: unknown = JSON.parse(response.body);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
    const keys = Object.keys(parsed);
    const error = (parsed as { error?: unknown }).error;
    return keys.length === 1 && typeof error === 'string' ? error : undefined;
  } catch {
    return undefined;
  }
}

/** What came back, in a few words: "400 libevent page", "404 TF error", "closed, no answer"... */
export function describeOutcome(outcome: RawOutcome): string {
  if (outcome.timedOut && outcome.responses.length === 0) return 'no answer, connection left open';
  const parts = outcome.responses.map(describeResponse);
  if (parts.length === 0) return outcome.error === undefined ? 'closed, no answer' : `closed, no answer (${outcome.error})`;
  const last = outcome.responses[outcome.responses.length - 1];
  // Closed later than the answers said (a timeout after them): worth telling apart.
  const cut = outcome.closed && last?.headers['connection']?.toLowerCase() !== 'close' ? ', then closed' : '';
  return parts.join(' + ') + cut;
}

export function describeResponse(response: RawResponse): string {
  const status = response.status;
  if (status === 100) return '100 Continue';
  if (tfError(response) !== undefined) return `${status} TF error`;
  if (response.headers['content-type'] === 'text/html' && (status === 400 || status === 404 || status === 501) && response.body === libeventPage(status)) {
    return `${status} libevent page`;
  }
  if (response.headers['x-model-version'] !== undefined) return `${status} from replica`;
  return response.body === '' ? `${status} empty` : `${status} other`;
}
