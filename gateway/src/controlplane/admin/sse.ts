/**
 * Server-Sent Events, the wire format of the admin event stream: the frames the gateway writes and
 * the one incremental parser every client of the stream uses (the admin UI in the browser, the
 * tests and benchmarks in Node). Pure: no Node or DOM module, so the UI's bundle takes it as is.
 *
 * The parser follows the WHATWG event-stream rules: lines end with CRLF, LF or CR; a line starting
 * with ':' is a comment (the gateway's keep-alive); `data` lines accumulate, joined by LF; an empty
 * line dispatches the event (the type defaults to `message`; without data nothing is dispatched);
 * one space after the colon is dropped; other fields (`id`, `retry`) are ignored, since these
 * clients neither resume from an id nor follow the server's retry delay. A chunk may end anywhere,
 * even between the CR and LF of a line end. What it holds of an unfinished event is bounded: over
 * `maxEventChars` it throws SseLimitError and refuses further input, so a hostile or broken
 * stream cannot grow a client's memory without limit.
 */

export interface SseMessage {
  readonly event: string;
  readonly data: string;
}

/**
 * Default bound on one event, in UTF-16 code units of its unfinished line and data. The largest
 * event is the snapshot: every model's view and its last 120 stats ticks, some 30 KB per model with
 * a canary, so this leaves room for about two thousand models.
 */
export const MAX_EVENT_CHARS = 64 * 1024 * 1024;

export class SseLimitError extends Error {
  constructor(limit: number) {
    super(`an event of the stream exceeds ${limit} characters`);
    this.name = 'SseLimitError';
  }
}

/** One frame: the event's name and its data, a line per line of the data. */
export function sseFrame(event: string, data: string): string {
  return `event: ${event}\n${data
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}\n`)
    .join('')}\n`;
}

/**
 * The start of a frame whose data is `data` followed by more text written after it, on the same
 * line, then a blank line (`\n\n`) to end it: for one line of data (JSON has no raw line ends)
 * too large to build as one string.
 */
export function sseDataLine(event: string, data: string): string {
  if (/[\r\n]/.test(data)) throw new Error('sseDataLine: the data must be one line');
  return `event: ${event}\ndata: ${data}`;
}

/** A comment frame: ignored by clients, keeps proxies and half-open detection quiet. */
export const SSE_KEEP_ALIVE = ': keep-alive\n\n';

const LINE_END = /[\r\n]/g;

export class SseParser {
  readonly #max: number;
  /** The unfinished line, in pieces (a long line arriving in many chunks is not copied each time). */
  #line: string[] = [];
  #lineChars = 0;
  #data: string[] = [];
  #dataChars = 0;
  #event = '';
  /** The last chunk ended with CR: an LF starting the next one belongs to the same line end. */
  #afterCr = false;
  #started = false;
  #failed: SseLimitError | undefined;

  constructor(maxEventChars = MAX_EVENT_CHARS) {
    this.#max = maxEventChars;
  }

  /** Takes the next piece of the stream; returns the events it completes, in order. */
  push(chunk: string): SseMessage[] {
    if (this.#failed !== undefined) throw this.#failed;
    const out: SseMessage[] = [];
    if (chunk === '') return out;
    let from = 0;
    if (!this.#started) {
      this.#started = true;
      if (chunk.charCodeAt(0) === 0xfeff) from = 1; // a byte order mark is not part of the first line
    }
    if (this.#afterCr) {
      this.#afterCr = false;
      if (chunk.charCodeAt(from) === 0x0a) from++;
    }
    LINE_END.lastIndex = from;
    for (let end = LINE_END.exec(chunk); end !== null; end = LINE_END.exec(chunk)) {
      const at = end.index;
      this.#append(chunk, from, at);
      const line = this.#line.length === 1 ? (this.#line[0] as string) : this.#line.join('');
      this.#line = [];
      this.#lineChars = 0;
      this.#take(line, out);
      from = at + 1;
      if (chunk.charCodeAt(at) === 0x0d) {
        if (from === chunk.length) this.#afterCr = true;
        else if (chunk.charCodeAt(from) === 0x0a) from++;
      }
      LINE_END.lastIndex = from;
    }
    this.#append(chunk, from, chunk.length);
    return out;
  }

  #append(chunk: string, from: number, to: number): void {
    if (to === from) return;
    this.#lineChars += to - from;
    this.#check();
    this.#line.push(chunk.slice(from, to));
  }

  #check(): void {
    if (this.#lineChars + this.#dataChars <= this.#max) return;
    this.#failed = new SseLimitError(this.#max);
    this.#line = [];
    this.#data = [];
    throw this.#failed;
  }

  #take(line: string, out: SseMessage[]): void {
    if (line === '') {
      if (this.#data.length > 0) out.push({ event: this.#event === '' ? 'message' : this.#event, data: this.#data.join('\n') });
      this.#data = [];
      this.#dataChars = 0;
      this.#event = '';
      return;
    }
    const colon = line.indexOf(':');
    if (colon === 0) return;
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') {
      this.#event = value;
    } else if (field === 'data') {
      this.#data.push(value);
      // Counts the joining LF too: the bound is on the event as dispatched.
      this.#dataChars += value.length + 1;
      this.#check();
    }
  }
}
