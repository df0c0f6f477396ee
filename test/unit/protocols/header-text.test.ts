/**
 * The strings of the REST hot path's headers (protocols/rest/header-text.ts): a replica's header
 * bytes read as Latin-1 without a call into C++ while they repeat, and common client header names
 * swapped for interned literals, each giving exactly the text it was given.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { commonName, headerText } from '../../../gateway/src/protocols/rest/header-text.js';

/** How often Buffer's toString runs while `run` does. */
function conversions(run: () => void): number {
  const original = Buffer.prototype.toString;
  let calls = 0;
  Buffer.prototype.toString = function (this: Buffer, ...args: Parameters<Buffer['toString']>): string {
    calls++;
    return original.apply(this, args);
  };
  try {
    run();
  } finally {
    Buffer.prototype.toString = original;
  }
  return calls;
}

test("headerText is always the bytes' Latin-1 text, whatever came before (repeats, collisions, long and empty values)", () => {
  // Few distinct lengths and end bytes, so the table's slots collide often.
  const bytes = fc.oneof(
    fc.uint8Array({ minLength: 0, maxLength: 80 }),
    fc.constantFrom('Content-Type', 'content-type', 'Date', 'Content-Length', 'Keep-Alive', 'application/json', '123', '124', 'Thu, 03 Dec 2026 21:13:17 GMT', 'Thu, 03 Dec 2026 21:13:18 GMT').map((t) => new Uint8Array(Buffer.from(t, 'latin1'))),
    fc.uint8Array({ minLength: 1, maxLength: 4 }).map((end) => new Uint8Array([65, ...end, 65])),
  );
  fc.assert(
    fc.property(fc.array(bytes, { minLength: 1, maxLength: 60 }), (inputs) => {
      for (const input of inputs) {
        const buffer = Buffer.from(input);
        assert.equal(headerText(buffer), buffer.toString('latin1'));
      }
    }),
    { seed: 3, numRuns: 300 },
  );
});

test('headerText makes the string once for bytes that repeat, in new Buffers each time', () => {
  // Not among the property test's texts, which the table may still hold.
  const answer = ['Content-type', 'application/json; charset=utf-8', 'date', 'Fri, 04 Dec 2026 09:00:00 GMT', 'content-length', '57'];
  const made = conversions(() => {
    for (let i = 0; i < 3; i++) for (const text of answer) assert.equal(headerText(Buffer.from(text, 'latin1')), text);
  });
  assert.equal(made, answer.length, 'only the first answer is converted');
});

test('headerText keeps nothing over 64 bytes', () => {
  const long = 'x'.repeat(65);
  const made = conversions(() => {
    for (let i = 0; i < 3; i++) assert.equal(headerText(Buffer.from(long, 'latin1')), long);
  });
  assert.equal(made, 3);
});

test('commonName gives the same characters, interned for the common names in their two usual spellings', async () => {
  const module = new URL('../../../gateway/src/protocols/rest/header-text.js', import.meta.url).href;
  const probe = `
const { commonName } = await import(${JSON.stringify(module)});
// Built at run time, as node:http's parser makes them: not interned.
const made = (text) => [...text].join('');
const seen = {};
for (const name of ['User-Agent', 'user-agent', 'Content-Type', 'content-type', 'Accept', 'X-Custom-Header', 'uSER-aGENT']) {
  const input = made(name);
  const out = commonName(input);
  seen[name] = { same: out === name, inputInterned: %IsInternalizedString(input), interned: %IsInternalizedString(out) };
}
process.stdout.write(JSON.stringify(seen));
`;
  const dir = mkdtempSync(join(tmpdir(), 'cg-header-text-'));
  try {
    const file = join(dir, 'probe.mjs');
    writeFileSync(file, probe);
    const { stdout } = await promisify(execFile)(process.execPath, ['--allow-natives-syntax', file], { timeout: 30_000 });
    const seen = JSON.parse(stdout) as Record<string, { same: boolean; inputInterned: boolean; interned: boolean }>;
    for (const [name, s] of Object.entries(seen)) {
      assert.equal(s.same, true, name);
      assert.equal(s.inputInterned, false, `${name}: the probe's input was already interned`);
    }
    for (const name of ['User-Agent', 'user-agent', 'Content-Type', 'content-type', 'Accept']) assert.equal(seen[name]?.interned, true, name);
    for (const name of ['X-Custom-Header', 'uSER-aGENT']) assert.equal(seen[name]?.interned, false, `${name} is passed on as it came`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('commonName returns its input for every other name', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 20 }), (name) => {
      assert.equal(commonName(name), name);
    }),
    { seed: 5, numRuns: 500 },
  );
});
