/**
 * HTTP/2 over a bare TCP socket, for what node:http2 and grpc clients refuse to send: a bad
 * preface, frames that break the protocol, more streams than the server allows, thousands of
 * streams opened and reset at once. Requests are written frame by frame (headers as HPACK literals,
 * never indexed, no Huffman: nothing to keep in step with the server's tables); what comes back is
 * read as frames, by type and stream, without decoding header blocks: what these probes look at is
 * which streams were answered (a HEADERS or DATA with END_STREAM), reset (RST_STREAM and its code)
 * and whether the connection was ended (GOAWAY and its code, or a close).
 */
import { connect, type Socket } from 'node:net';

export const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
/** HTTP/2 error codes (RFC 9113 section 7). */
export const H2_ERROR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9, ENHANCE_YOUR_CALM: 11 } as const;
export const SETTING = { INITIAL_WINDOW_SIZE: 4, MAX_CONCURRENT_STREAMS: 3 } as const;

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

export function settingsFrame(entries: ReadonlyArray<readonly [number, number]> = []): Buffer {
  const payload = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FRAME.SETTINGS, 0, 0, payload);
}

/** An HPACK integer with an N-bit prefix (RFC 7541 section 5.1), the prefix's other bits in `high`. */
function hpackInt(value: number, prefixBits: number, high = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([high | value]);
  const bytes = [high | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** A header block of literals without indexing, new names, no Huffman (RFC 7541 section 6.2.2). */
export function headerBlock(headers: ReadonlyArray<readonly [string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    parts.push(Buffer.from([0x00]), hpackInt(n.length, 7), n, hpackInt(v.length, 7), v);
  }
  return Buffer.concat(parts);
}

export function headersFrame(streamId: number, headers: ReadonlyArray<readonly [string, string]>, endStream: boolean): Buffer {
  return frame(FRAME.HEADERS, FLAG.END_HEADERS | (endStream ? FLAG.END_STREAM : 0), streamId, headerBlock(headers));
}

export function dataFrame(streamId: number, data: Buffer, endStream: boolean): Buffer {
  return frame(FRAME.DATA, endStream ? FLAG.END_STREAM : 0, streamId, data);
}

export function rstStreamFrame(streamId: number, code: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(FRAME.RST_STREAM, 0, streamId, payload);
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(increment);
  return frame(FRAME.WINDOW_UPDATE, 0, streamId, payload);
}

/** The request headers of a gRPC call to `path` (te, content-type as grpc clients send them), plus `extra`. */
export function grpcRequestHeaders(path: string, extra: ReadonlyArray<readonly [string, string]> = []): Array<readonly [string, string]> {
  return [[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', '127.0.0.1'], ['content-type', 'application/grpc'], ['te', 'trailers'], ...extra];
}

export interface ReceivedFrame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly length: number;
}

/**
 * One raw HTTP/2 connection to 127.0.0.1:`port`. PINGs are answered and server SETTINGS
 * acknowledged (as any client does; `ackSettings: false` leaves them unacknowledged, so the
 * server's new settings are not yet in force); the received frames are tallied per stream.
 */
export class RawH2 {
  readonly socket: Socket;
  readonly frames: ReceivedFrame[] = [];
  /** RST_STREAM codes the server sent, by stream. */
  readonly resets = new Map<number, number>();
  /** Streams the server ended (END_STREAM on HEADERS or DATA). */
  readonly ended = new Set<number>();
  /** Streams the server sent a HEADERS frame on. */
  readonly answered = new Set<number>();
  goaway: { lastStreamId: number; code: number } | undefined;
  closed = false;
  error: string | undefined;
  #buffer: Buffer = Buffer.alloc(0);
  #waiters = new Set<() => void>();

  private constructor(socket: Socket, readonly ackSettings: boolean) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.error ??= err.code ?? err.message;
    });
    socket.on('close', () => {
      this.closed = true;
      this.#notify();
    });
  }

  /** Connects; with `preface` (default: the client preface and an empty SETTINGS) written first. */
  static open(port: number, options: { preface?: Buffer; ackSettings?: boolean } = {}): Promise<RawH2> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      socket.setNoDelay(true);
      const failed = (err: Error): void => reject(err);
      socket.once('error', failed);
      socket.once('connect', () => {
        socket.off('error', failed);
        const h2 = new RawH2(socket, options.ackSettings ?? true);
        socket.write(options.preface ?? Buffer.concat([PREFACE, settingsFrame()]));
        resolve(h2);
      });
    });
  }

  /** Writes, unless the connection is gone; false when the socket asked to wait (the caller may await drain()). */
  write(data: Buffer): boolean {
    if (this.socket.destroyed || !this.socket.writable) return false;
    return this.socket.write(data);
  }

  drain(): Promise<void> {
    if (!this.socket.writableNeedDrain || this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.once('drain', done);
      this.socket.once('close', done);
    });
  }

  /** Resolves true once `condition` holds, false after `timeoutMs` (or when the connection closed without it). */
  until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    if (condition()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = (): void => {
        if (condition()) finish(true);
        else if (this.closed) finish(condition());
      };
      const finish = (ok: boolean): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(ok);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.#waiters.add(check);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }

  #read(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    while (this.#buffer.length >= 9) {
      const length = this.#buffer.readUIntBE(0, 3);
      if (this.#buffer.length < 9 + length) break;
      const type = this.#buffer[3] as number;
      const flags = this.#buffer[4] as number;
      const streamId = this.#buffer.readUInt32BE(5) & 0x7fffffff;
      const payload = this.#buffer.subarray(9, 9 + length);
      this.#buffer = this.#buffer.subarray(9 + length);
      this.#frame({ type, flags, streamId, length }, payload);
    }
    this.#notify();
  }

  #frame(f: ReceivedFrame, payload: Buffer): void {
    this.frames.push(f);
    if (f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0 && this.ackSettings) this.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
    if (f.type === FRAME.PING && (f.flags & FLAG.ACK) === 0) this.write(frame(FRAME.PING, FLAG.ACK, 0, Buffer.from(payload)));
    if (f.type === FRAME.GOAWAY && payload.length >= 8) this.goaway = { lastStreamId: payload.readUInt32BE(0) & 0x7fffffff, code: payload.readUInt32BE(4) };
    if (f.type === FRAME.RST_STREAM && payload.length >= 4) this.resets.set(f.streamId, payload.readUInt32BE(0));
    if (f.type === FRAME.HEADERS) this.answered.add(f.streamId);
    if ((f.type === FRAME.HEADERS || f.type === FRAME.DATA) && (f.flags & FLAG.END_STREAM) !== 0) this.ended.add(f.streamId);
  }
}

/** An HTTP/2 error code's name, for reports. */
export function h2ErrorName(code: number): string {
  return Object.entries(H2_ERROR).find(([, c]) => c === code)?.[0] ?? `code ${code}`;
}
