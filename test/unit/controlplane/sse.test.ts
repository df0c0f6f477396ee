/**
 * The event stream's wire format: the one SSE parser the admin UI, the tests and the benchmarks
 * share, and the frames the gateway writes. The parser must give the same events however the
 * stream is cut into chunks, and must refuse to hold an unbounded event.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SSE_KEEP_ALIVE, SseLimitError, SseParser, sseDataLine, sseFrame, type SseMessage } from '../../../gateway/src/controlplane/admin/sse.js';

function parse(chunks: readonly string[], max?: number): SseMessage[] {
  const parser = new SseParser(max);
  return chunks.flatMap((c) => parser.push(c));
}

/** `text` cut before each of `cuts` (positions, any order, repeats allowed: empty chunks too). */
function cut(text: string, cuts: readonly number[]): string[] {
  const at = [0, ...[...cuts].sort((a, b) => a - b), text.length];
  return at.slice(1).map((end, i) => text.slice(at[i], end));
}

const STREAM =
  'retry: 2000\r\nevent: snapshot\r\ndata: {"a":1}\r\n\r\n' +
  ': keep-alive\n\n' +
  'event: stats\ndata: {"b":\ndata: 2}\n\n' +
  'data: plain\r\r' +
  'event: policy\rdata:no-space\r\n\n' +
  'event: é→\u{1F600}\ndata:  two spaces\n\n';
const EXPECTED: SseMessage[] = [
  { event: 'snapshot', data: '{"a":1}' },
  { event: 'stats', data: '{"b":\n2}' },
  { event: 'message', data: 'plain' },
  { event: 'policy', data: 'no-space' },
  { event: 'é→\u{1F600}', data: ' two spaces' },
];

test('LF, CRLF and CR line ends, comments, multi-line data, the default event name, one space dropped', () => {
  assert.deepEqual(parse([STREAM]), EXPECTED);
});

test('the same events wherever the stream is cut, down to one character a chunk', () => {
  for (let i = 0; i <= STREAM.length; i++) assert.deepEqual(parse(cut(STREAM, [i])), EXPECTED, `cut at ${i}`);
  assert.deepEqual(parse([...STREAM]), EXPECTED);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: STREAM.length }), { maxLength: 30 }), (cuts) => {
      assert.deepEqual(parse(cut(STREAM, cuts)), EXPECTED);
    }),
    { numRuns: 500 },
  );
});

test('a CR ending one chunk and the LF starting the next are one line end, not two', () => {
  // Two line ends would be an empty line: the first event dispatched with the second's data missing.
  assert.deepEqual(parse(['data: a\r', '\ndata: b\r', '\n\r', '\n']), [{ event: 'message', data: 'a\nb' }]);
  // Empty chunks in between change nothing.
  assert.deepEqual(parse(['data: a\r', '', '', '\ndata: b\n\n']), [{ event: 'message', data: 'a\nb' }]);
});

test('an event without data dispatches nothing and its name does not leak into the next', () => {
  assert.deepEqual(parse(['event: lonely\n\ndata: x\n\n']), [{ event: 'message', data: 'x' }]);
  // An empty data line is data: the event is dispatched with empty data.
  assert.deepEqual(parse(['event: empty\ndata\n\n']), [{ event: 'empty', data: '' }]);
  assert.deepEqual(parse(['event: two\ndata:\ndata:\n\n']), [{ event: 'two', data: '\n' }]);
});

test('other fields are ignored; an unfinished event at the end is not dispatched', () => {
  assert.deepEqual(parse(['id: 7\nretry: 10\nfoo: bar\ndata: x\nDATA: y\n\ndata: never finished\n']), [{ event: 'message', data: 'x' }]);
});

test('a byte order mark before the first line is dropped, later ones are text', () => {
  assert.deepEqual(parse(['\uFEFFevent: a\ndata: 1\n\n', 'data: \uFEFF\n\n']), [
    { event: 'a', data: '1' },
    { event: 'message', data: '\uFEFF' },
  ]);
  assert.deepEqual(parse(['', '\uFEFF', 'data: 1\n\n']), [{ event: 'message', data: '1' }]);
});

test('an unfinished line over the bound is refused, however it arrives, and the parser stays refused', () => {
  const parser = new SseParser(100);
  assert.deepEqual(parser.push('data: ' + 'x'.repeat(90)), []);
  assert.throws(() => parser.push('x'.repeat(10)), SseLimitError);
  assert.throws(() => parser.push('\n\n'), SseLimitError);
  // A single oversized chunk without a line end.
  assert.throws(() => new SseParser(100).push('y'.repeat(101)), SseLimitError);
  // A comment is held until its line ends too.
  assert.throws(() => parse([':', ' '.repeat(200)], 100), SseLimitError);
});

test('many data lines of one event over the bound are refused; events under it, however many, pass', () => {
  const line = `data: ${'x'.repeat(20)}\n`;
  assert.throws(() => parse([line.repeat(10)], 100), SseLimitError);
  // Each event is 4 × 21 characters: under the bound, and the count starts again after each.
  const events = parse([(line.repeat(4) + '\n').repeat(1000)], 100);
  assert.equal(events.length, 1000);
  assert.equal(events[0]!.data, Array(4).fill('x'.repeat(20)).join('\n'));
  // Exactly at the bound: the line (26 characters) and the data with its joining LF (21 after it).
  assert.deepEqual(parse([`data: ${'x'.repeat(20)}\n\n`], 26), [{ event: 'message', data: 'x'.repeat(20) }]);
  assert.throws(() => parse([`data: ${'x'.repeat(20)}\n\n`], 25), SseLimitError);
});

test('the frames the gateway writes read back as the events written, keep-alives as nothing', () => {
  const payloads = [JSON.stringify({ models: [{ name: 'a\nb', note: 'line\r\nbreak' }] }), 'two\nlines', 'cr\ronly', ''];
  const written = payloads.map((data, i) => sseFrame(`e${i}`, data)).join(SSE_KEEP_ALIVE);
  assert.deepEqual(
    parse([...written]),
    payloads.map((data, i) => ({ event: `e${i}`, data: data.replace(/\r\n?/g, '\n') })),
  );
});

test('a frame written in pieces (one line of data, then its blank line) is the same event as sseFrame writes', () => {
  const data = JSON.stringify({ models: [{ name: 'a', note: 'line\nbreak' }, { name: 'b' }] });
  const pieces = [sseDataLine('snapshot', '{"models":['), data.slice(11, 40), data.slice(40), '\n\n'];
  assert.equal(pieces.join(''), sseFrame('snapshot', data));
  assert.deepEqual(new SseParser().push(pieces.join('')), [{ event: 'snapshot', data }]);
  assert.throws(() => sseDataLine('snapshot', 'two\nlines'), /one line/);
});
