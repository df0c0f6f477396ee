/**
 * An event-stream frame's bytes, written in order into one buffer outside V8's heap as the frame
 * is built, then handed out in pieces to be written to the clients.
 *
 * The stats frame is a few hundred kilobytes of JSON, built over many event-loop turns. Kept as
 * strings until it was written, it was alive whenever a young collection came, and those come
 * mostly while the frame is being built (it is the control plane's largest allocation): each
 * scavenge copied it, 300–560 KB. Written here at once, each text dies as soon as it is made, and
 * the scavenger never copies the bytes (docs/performance.md: the control plane and the event loop).
 */
export class FrameBytes {
  #buffer: Buffer;
  #length = 0;

  /** `expected`: about the size of the frame, so the buffer seldom grows (the last frame's size). */
  constructor(expected: number) {
    this.#buffer = Buffer.allocUnsafe(Math.max(1024, expected));
  }

  get length(): number {
    return this.#length;
  }

  text(text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    this.#room(text.length * 3);
    this.#length += this.#buffer.write(text, this.#length, 'utf8');
  }

  /** One ASCII character (a separator: a comma), without a string. */
  ascii(code: number): void {
    this.#room(1);
    this.#buffer[this.#length++] = code;
  }

  /**
   * The bytes in pieces of at most `size` (at least 4), never cutting a character: a piece ends
   * before the continuation bytes of a character it would split.
   */
  *pieces(size: number): Generator<Buffer> {
    const bytes = this.#buffer;
    let from = 0;
    while (from < this.#length) {
      let to = Math.min(from + Math.max(4, size), this.#length);
      while (to < this.#length && ((bytes[to] as number) & 0xc0) === 0x80) to--;
      yield bytes.subarray(from, to);
      from = to;
    }
  }

  #room(bytes: number): void {
    if (this.#length + bytes <= this.#buffer.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#length + bytes, this.#buffer.length * 2));
    this.#buffer.copy(next, 0, 0, this.#length);
    this.#buffer = next;
  }
}
