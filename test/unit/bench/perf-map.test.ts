/**
 * bench:cpu-profile's own reading of Node's perf map: when dead code's memory was reused, the map
 * holds an earlier and a later entry for one address, and the later one names the code that ran.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { PerfMap } from '../../../scripts/bench/perf-map.js';
import { parsePerfScript } from '../../../scripts/bench/perf-samples.js';

const line = (start: number, size: number, name: string): string => `${start.toString(16)} ${size.toString(16)} ${name}`;

test('a later entry over an earlier one names the address, and the earlier one is dropped whole', () => {
  const map = new PerfMap(
    [
      line(0x7f0000001000, 0x4000, 'JS:*optimizeNames ajv/codegen/index.js:167:18'),
      line(0x7f0000009000, 0x100, 'JS:*kept file:///x.js:1:1'),
      line(0x7f0000000e00, 0x2600, 'JS:*writeH1 undici/client-h1.js:1144:18'),
      'not a line',
      '7f000000a000 0 JS:*empty',
      '',
    ].join('\n'),
  );
  assert.equal(map.superseded, 1);
  assert.equal(map.lookup(0x7f00000017d7), 'JS:*writeH1 undici/client-h1.js:1144:18');
  assert.equal(map.lookup(0x7f0000000e00), 'JS:*writeH1 undici/client-h1.js:1144:18');
  // Past writeH1's end but inside the old entry: that code was dead, so nothing is named.
  assert.equal(map.lookup(0x7f0000003400), undefined);
  assert.equal(map.lookup(0x7f0000004fff), undefined);
  assert.equal(map.lookup(0x7f0000009000), 'JS:*kept file:///x.js:1:1');
  assert.equal(map.lookup(0x7f00000090ff), 'JS:*kept file:///x.js:1:1');
  assert.equal(map.lookup(0x7f0000009100), undefined);
  assert.equal(map.lookup(0x7f000000a000), undefined);
});

test('every address names the entry a brute-force reading picks', () => {
  const entry = fc.record({ start: fc.integer({ min: 0, max: 400 }), size: fc.integer({ min: 1, max: 60 }) });
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 40 }), (entries) => {
      const base = 0x7f0000000000;
      const map = new PerfMap(entries.map((e, i) => line(base + e.start, e.size, `f${i}`)).join('\n'));
      const overlaps = (a: { start: number; size: number }, b: { start: number; size: number }): boolean => a.start < b.start + b.size && b.start < a.start + a.size;
      const alive = entries.map((e, i) => entries.slice(i + 1).every((later) => !overlaps(e, later)));
      for (let address = 0; address <= 470; address++) {
        const i = entries.findIndex((e, k) => alive[k] && e.start <= address && address < e.start + e.size);
        assert.equal(map.lookup(base + address), i < 0 ? undefined : `f${i}`, `address ${address}`);
      }
    }),
    { numRuns: 300 },
  );
});

test("perf script's frames in the perf map are named from the map, the others as perf named them", () => {
  const map = new PerfMap(line(0x3a1d00000000, 0x400, 'JS:*writeH1 undici/client-h1.js:1144:18'));
  const samples = parsePerfScript(
    [
      '\t    3a1d00000100 JS:*optimizeNames ajv/codegen/index.js:167:18 (/tmp/perf-1234.map)',
      '\t    3a1d00000900 JS:*gone file:///x.js:1:1 (/tmp/perf-1234.map)',
      '\t          108cae epoll_pwait+0x1e (/usr/lib/x86_64-linux-gnu/libc.so.6)',
      '',
    ].join('\n'),
    map,
  );
  assert.deepEqual(
    samples[0]?.frames.map((f) => f.sym),
    ['JS:*writeH1 undici/client-h1.js:1144:18', '[unknown]', 'epoll_pwait'],
  );
});
