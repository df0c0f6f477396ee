/**
 * The control-plane bench's GC floor (scripts/bench/gc-floor-probe.ts), in a real process: it
 * holds the old generation it is asked for, allocates at the rate it is asked for as its own
 * collections see it, and keeps nothing, so its scavenges are what the heap alone costs.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { GcFigures } from '../../../scripts/bench/gc-watch.js';
import { spawnNode, stopChild } from '../../../scripts/lib/processes.js';

const FLOOR = fileURLToPath(new URL('../../../scripts/bench/gc-floor-probe.js', import.meta.url));

test('the GC floor: the old generation asked for, the allocation rate asked for, nothing kept', async () => {
  const { child } = await spawnNode(FLOOR, ['--old-mib', '30'], /gc floor ready/, { ipc: true, timeoutMs: 30_000, nodeArgs: ['--max-semi-space-size=2', '--min-semi-space-size=2'] });
  try {
    const answer = once(child, 'message') as Promise<[{ gc: GcFigures }]>;
    child.send({ measure: 3, mibPerS: 8 });
    const [{ gc }] = await answer;
    const s = gc.scavenge;
    assert.ok(s !== null, 'it scavenged');
    assert.ok(s.count >= 5, `${s.count} scavenges in 3 s at 8 MiB/s with 2 MiB a semi-space`);
    assert.ok(s.oldMiB >= 29 && s.oldMiB < 36, `old generation ${s.oldMiB} MiB, asked for 30`);
    assert.ok(s.allocatedMiBPerS > 8 * 0.8 && s.allocatedMiBPerS < 8 * 1.25, `allocated ${s.allocatedMiBPerS} MiB/s, asked for 8`);
    assert.ok(s.survivedKiB < 64 && s.promotedKiB < 64, `kept: ${s.survivedKiB} KiB survived, ${s.promotedKiB} KiB promoted per scavenge`);
    assert.equal(gc.count >= s.count, true, 'every scavenge is a pause counted');
    assert.ok(s.meanPauseMs > 0, 'their pauses timed');
  } finally {
    await stopChild(child, 3_000);
  }
});
