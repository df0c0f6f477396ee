/** An event-stream frame's bytes: written in order past its first size, handed out in bounded pieces that never split a character. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FrameBytes } from '../../../gateway/src/controlplane/admin/frame-bytes.js';

test('holds what was written, in order, past the size it started with', () => {
  const frame = new FrameBytes(0);
  const texts = ['data: {"models":[', '{"name":"m0"}', 'é€😀', ']}\n\n'];
  for (const [i, text] of texts.entries()) {
    if (i > 0) frame.ascii(0x2c);
    frame.text(text.repeat(300));
  }
  const expected = texts.map((t) => t.repeat(300)).join(',');
  assert.equal(frame.length, Buffer.byteLength(expected));
  assert.equal(Buffer.concat([...frame.pieces(1 << 20)]).toString('utf8'), expected);
});

test('pieces are at most the size asked, together the whole frame, and each decodes alone', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 40 }), { maxLength: 60 }), fc.integer({ min: 4, max: 64 }), fc.integer({ min: 0, max: 256 }), (texts, size, expected) => {
      const frame = new FrameBytes(expected);
      for (const text of texts) frame.text(text);
      const pieces = [...frame.pieces(size)];
      for (const piece of pieces) {
        assert.ok(piece.length > 0 && piece.length <= size, `a piece of ${piece.length} bytes`);
        // A piece cut inside a character would not survive decoding on its own.
        assert.equal(Buffer.from(piece.toString('utf8'), 'utf8').length, piece.length);
      }
      assert.equal(Buffer.concat(pieces).toString('utf8'), texts.join(''));
    }),
    { numRuns: 300 },
  );
});
