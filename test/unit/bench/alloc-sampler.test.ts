/**
 * The allocation sampler's survivors mode (scripts/bench/alloc-sampler.ts), in a real process: of
 * two sites that allocate alike, the one whose objects are kept is counted and the one whose
 * objects die at once is not.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { SurvivorReport } from '../../../scripts/bench/alloc-sampler.js';
import { spawnNode, stopChild } from '../../../scripts/lib/processes.js';

interface Answer {
  readonly alloc?: string;
  readonly survivors?: SurvivorReport;
  readonly error?: string;
}

const survivorsAnswer = (child: ChildProcess): Promise<Answer> =>
  new Promise((resolve) => {
    child.on('message', (m: Answer) => {
      if (m.alloc === 'survivors') resolve(m);
    });
  });

const SAMPLER = fileURLToPath(new URL('../../../scripts/bench/alloc-sampler.js', import.meta.url));

// Every 10 ms: 200 objects kept (the last 20,000, a few seconds' worth) and 2,000 dropped at once.
const PROGRAM = `
const kept = [];
function keepSome() { for (let i = 0; i < 200; i++) kept.push({ a: i, b: i + 1, c: [i] }); if (kept.length > 20000) kept.splice(0, 200); }
let sink = 0;
function dropMany() { for (let i = 0; i < 2000; i++) { const o = { a: i, b: i + 1, c: [i] }; sink += o.c.length; } }
setInterval(() => { keepSome(); dropMany(); }, 10);
process.stdout.write('ready\\n');
`;

test('survivors: what is kept is counted by its site, what dies at once is not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'alloc-sampler-'));
  const program = join(dir, 'program.mjs');
  writeFileSync(program, PROGRAM);
  // No pretenuring: V8 would otherwise move the kept site's objects straight to the old generation.
  const { child } = await spawnNode(program, [], /ready/, { ipc: true, timeoutMs: 10_000, nodeArgs: ['--expose-gc', '--no-allocation-site-pretenuring', '--import', SAMPLER] });
  try {
    const answer = survivorsAnswer(child);
    child.send({ alloc: 'survivors', windows: 3, windowMs: 300 });
    const { survivors, error } = await answer;
    assert.equal(error, undefined);
    assert.ok(survivors !== undefined);
    assert.equal(survivors.windows, 3);
    const bytes = (name: string): number => survivors.sites.filter((s) => s.site.startsWith(`${name} `)).reduce((n, s) => n + s.bytes, 0);
    // 30 ticks of 200 objects of about 60 bytes in 300 ms: a few hundred KB, nearly all kept.
    assert.ok(bytes('keepSome') > 100_000, `kept: ${bytes('keepSome')} bytes per window`);
    assert.ok(bytes('dropMany') < bytes('keepSome') / 20, `dropped: ${bytes('dropMany')} bytes per window against ${bytes('keepSome')}`);
    assert.equal(survivors.sites[0]?.site.startsWith('keepSome '), true, `largest: ${survivors.sites[0]?.site}`);
  } finally {
    await stopChild(child, 3_000);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('survivors: a process without --expose-gc gets an error, not a report', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'alloc-sampler-'));
  const program = join(dir, 'program.mjs');
  writeFileSync(program, PROGRAM);
  const { child } = await spawnNode(program, [], /ready/, { ipc: true, timeoutMs: 10_000, nodeArgs: ['--import', SAMPLER] });
  try {
    const answer = survivorsAnswer(child);
    child.send({ alloc: 'survivors', windows: 1, windowMs: 50 });
    const { survivors, error } = await answer;
    assert.equal(survivors, undefined);
    assert.match(error ?? '', /--expose-gc/);
  } finally {
    await stopChild(child, 3_000);
    rmSync(dir, { recursive: true, force: true });
  }
});
