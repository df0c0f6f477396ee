/**
 * bench:cpu-profile's reading of `perf script -F ip,sym,dso`: samples cut at blank lines, leaves
 * classed (kernel, JavaScript, megamorphic lookups, GC...), time per request from the sampling
 * rate, and the callers of megamorphic lookups found past the builtins' own frames.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classify, largestGains, parsePerfScript, summarize } from '../../../scripts/bench/perf-samples.js';

// Four samples as perf prints them (tabs, an offset on one symbol, a symbol with spaces and parentheses).
const SCRIPT = [
  '',
  '\t          108cae epoll_pwait (/usr/lib/x86_64-linux-gnu/libc.so.6)',
  '',
  '\tffffffff816ddd95 pvm_irq_enable ([kernel.kallsyms])',
  '\tffffffff81757663 do_epoll_wait+0x1f ([kernel.kallsyms])',
  '\t          108cae epoll_pwait (/usr/lib/x86_64-linux-gnu/libc.so.6)',
  '',
  '\t    7f00aa001000 Builtins_KeyedLoadIC_Megamorphic (/usr/bin/node)',
  '\t    7f00aa002000 Builtins_LoadICTrampoline (/usr/bin/node)',
  '\t    3a1d00000100 JS:*handle file:///x/handler.js:37:20 (/tmp/perf-1234.map)',
  '\t    3a1d00000200 JS:*guarded file:///x/handler.js:26:28 (/tmp/perf-1234.map)',
  '',
  '\t          9a0b0c v8::internal::ScavengerCollector::CollectGarbage() (/usr/bin/node)',
  '\t          9a0b0d v8::internal::Heap::Scavenge() (/usr/bin/node)',
  '',
].join('\n');

test('perf script output is cut into samples, leaf first, offsets dropped', () => {
  const samples = parsePerfScript(SCRIPT);
  assert.equal(samples.length, 4);
  assert.deepEqual(samples[1]?.frames.map((f) => f.sym), ['pvm_irq_enable', 'do_epoll_wait', 'epoll_pwait']);
  assert.equal(samples[3]?.frames[0]?.sym, 'v8::internal::ScavengerCollector::CollectGarbage()');
  assert.equal(samples[3]?.frames[0]?.dso, '/usr/bin/node');
});

test('leaves are classed by where they ran', () => {
  assert.equal(classify({ sym: 'pvm_irq_enable', dso: '[kernel.kallsyms]' }), 'kernel');
  assert.equal(classify({ sym: 'JS:*handle file:///x.js:1:1', dso: '/tmp/perf-1.map' }), 'javascript');
  assert.equal(classify({ sym: 'RegExp:^a', dso: '[JIT] tid 5' }), 'javascript');
  assert.equal(classify({ sym: 'Builtins_KeyedStoreIC_Megamorphic', dso: '/usr/bin/node' }), 'megamorphic IC');
  assert.equal(classify({ sym: 'Builtins_LoadIC', dso: '/usr/bin/node' }), 'other IC and builtins');
  assert.equal(classify({ sym: 'v8::internal::Heap::Scavenge()', dso: '/usr/bin/node' }), 'GC');
  assert.equal(classify({ sym: 'node::Parser::Execute', dso: '/usr/bin/node' }), 'node and V8 C++');
  assert.equal(classify({ sym: 'epoll_pwait', dso: '/usr/lib/x86_64-linux-gnu/libc.so.6' }), 'libc and others');
});

test('time per request comes from the sampling rate; megamorphic lookups are charged to their JavaScript caller', () => {
  // 4 samples at 1000 Hz over 2 requests: each sample is 1 ms / 2 = 500 µs per request.
  const s = summarize(parsePerfScript(SCRIPT), 1000, 2);
  assert.equal(s.samples, 4);
  assert.equal(s.usPerRequest.total, 2000);
  assert.equal(s.usPerRequest.kernel, 500);
  assert.equal(s.usPerRequest['megamorphic IC'], 500);
  assert.equal(s.usPerRequest.GC, 500);
  assert.equal(s.usPerRequest['libc and others'], 500);
  assert.equal(s.usPerRequest.javascript, 0);
  assert.deepEqual([...s.megamorphicCallers], [['JS:*handle file:///x/handler.js:37:20', 500]]);
  assert.equal(s.bySymbol.get('pvm_irq_enable'), 500);
  assert.throws(() => summarize([], 0, 1));
});

test('the largest gains come first, keys of either side included', () => {
  const a = new Map([['x', 5], ['y', 1]]);
  const b = new Map([['x', 6], ['y', 4], ['z', 2]]);
  assert.deepEqual(largestGains(a, b, 2).map((g) => g.key), ['y', 'z']);
  assert.deepEqual(largestGains(a, b, 5).at(-1), { key: 'x', a: 5, b: 6 });
});
