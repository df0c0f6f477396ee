/**
 * Deterministic subsetting (rendezvous hashing): the size is kept, the same gateway always gets
 * the same subset, many gateways cover a pool evenly, a replica that comes or goes moves few
 * assignments, and members found down are replaced by the next in the ranking.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseSubset, rankReplicas } from '../../../gateway/src/controlplane/subset.js';

const replicas = (n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => `http://10.0.${(from + i) >> 8}.${(from + i) & 255}:8501`);
const gateways = Array.from({ length: 1000 }, (_, i) => `gateway-${i}`);
const subsetOf = (id: string, pool: readonly string[], size: number, down: ReadonlySet<string> = new Set()): string[] =>
  chooseSubset(rankReplicas(id, pool, (r) => r), size, (r) => down.has(r));

test('a subset has the size asked for, and the same gateway always gets the same one', () => {
  const pool = replicas(200);
  const a = subsetOf('gateway-a', pool, 10);
  assert.equal(a.length, 10);
  assert.equal(new Set(a).size, 10);
  assert.deepEqual(subsetOf('gateway-a', [...pool].reverse(), 10), a, 'the order replicas are listed in does not matter');
  assert.notDeepEqual(subsetOf('gateway-b', pool, 10), a, 'another gateway, another subset');
  assert.deepEqual(subsetOf('gateway-a', pool, 0).sort(), [...pool].sort(), 'size 0: every replica');
  assert.equal(subsetOf('gateway-a', pool.slice(0, 5), 10).length, 5, 'a pool smaller than the size: all of it');
});

test('over many gateways, every replica is used about equally', () => {
  const pool = replicas(200);
  const uses = new Map(pool.map((r) => [r, 0]));
  for (const id of gateways) for (const r of subsetOf(id, pool, 10)) uses.set(r, (uses.get(r) ?? 0) + 1);
  // 1,000 gateways x 10 / 200 replicas = 50 each on average (binomial: a standard deviation of 7).
  const counts = [...uses.values()];
  assert.ok(Math.min(...counts) >= 25, `least used replica: ${Math.min(...counts)} gateways`);
  assert.ok(Math.max(...counts) <= 80, `most used replica: ${Math.max(...counts)} gateways`);
});

test('a replica that comes or goes moves few assignments', () => {
  const pool = replicas(200);
  const before = new Map(gateways.map((id) => [id, new Set(subsetOf(id, pool, 10))]));
  const moved = (after: (id: string) => string[]): { gateways: number; members: number } => {
    let changedGateways = 0;
    let changedMembers = 0;
    for (const id of gateways) {
      const old = before.get(id) as Set<string>;
      const now = after(id);
      const gone = [...old].filter((r) => !now.includes(r)).length;
      if (gone > 0) changedGateways++;
      changedMembers += gone;
    }
    return { gateways: changedGateways, members: changedMembers };
  };
  // One replica more: only gateways that now rank it in their top 10 change, by one member each
  // (expected 1,000 x 10 / 201, about 50, of 10,000 assignments).
  const added = moved((id) => subsetOf(id, [...pool, ...replicas(1, 200)], 10));
  assert.ok(added.gateways <= 90, `${added.gateways} gateways changed`);
  assert.equal(added.members, added.gateways, 'each by one member');
  // One replica fewer: only the gateways that had it change, by that one member.
  const leaving = pool[17] as string;
  const had = gateways.filter((id) => before.get(id)?.has(leaving)).length;
  const removed = moved((id) => subsetOf(id, pool.filter((r) => r !== leaving), 10));
  assert.equal(removed.gateways, had);
  assert.equal(removed.members, had);
  // A listing in another order moves nothing.
  assert.equal(moved((id) => subsetOf(id, [...pool].reverse(), 10)).members, 0);
});

test('members found down are replaced by the next in the ranking, and leave again once they are back', () => {
  const pool = replicas(50);
  const ranked = rankReplicas('gateway-a', pool, (r) => r);
  const top = ranked.slice(0, 5);
  // Two members down: they stay (so their return is seen) and the 6th and 7th join.
  const down = new Set([top[1] as string, top[3] as string]);
  assert.deepEqual(subsetOf('gateway-a', pool, 5, down), ranked.slice(0, 7));
  // A replacement down as well: the next one joins too.
  assert.deepEqual(subsetOf('gateway-a', pool, 5, new Set([...down, ranked[5] as string])), ranked.slice(0, 8));
  // Every replica down: the whole pool, in ranking order.
  assert.deepEqual(subsetOf('gateway-a', pool, 5, new Set(pool)), ranked);
  // Back up: the subset is the top 5 again.
  assert.deepEqual(subsetOf('gateway-a', pool, 5), top);
});
