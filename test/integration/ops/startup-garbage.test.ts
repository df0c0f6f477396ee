/**
 * collectStartupGarbage (runtime/heap.ts), which both entry points call after their imports: the
 * gateway's modules compile their schemas with Ajv on import, which fills the transitions of the
 * `{}` root map to V8's limit, so that every literal with a computed key (Node's TickObject, made
 * about 9 times per request) gets a map of its own and the code that builds it turns megamorphic.
 * Read from V8 itself (%HaveSameMap, with --allow-natives-syntax) in a child process that imports
 * the gateway as the entry points do: the precondition (the imports leave the root map full) and
 * the cure (after the collection two such literals share their map again).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const APP = new URL('../../../gateway/src/app.js', import.meta.url).href;
const HEAP = new URL('../../../gateway/src/runtime/heap.js', import.meta.url).href;

const PROBE = `
await import(${JSON.stringify(APP)});
const key = Symbol('probe');
const literal = () => ({ [key]: 1 });
const full = !%HaveSameMap(literal(), literal());
const { collectStartupGarbage } = await import(${JSON.stringify(HEAP)});
collectStartupGarbage();
const shared = %HaveSameMap(literal(), literal());
process.stdout.write(JSON.stringify({ full, shared, gcExposed: typeof globalThis.gc === 'function' }));
`;

test("after the gateway's imports the {} root map is full, and collectStartupGarbage empties it", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-startup-gc-'));
  try {
    const probe = join(dir, 'probe.mjs');
    writeFileSync(probe, PROBE);
    const { stdout } = await promisify(execFile)(process.execPath, ['--allow-natives-syntax', probe], { timeout: 30_000 });
    const seen = JSON.parse(stdout) as { full: boolean; shared: boolean; gcExposed: boolean };
    assert.equal(seen.full, true, 'the imports no longer fill the root map: collectStartupGarbage may be unnecessary');
    assert.equal(seen.shared, true, 'two literals with the same computed key still get maps of their own');
    assert.equal(seen.gcExposed, false, 'gc() must not be left on the global object');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
