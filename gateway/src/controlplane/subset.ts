/**
 * Deterministic subsetting of a large pool: each gateway uses only `subsetSize` of a pool's
 * replicas, so that a fleet of gateways in front of hundreds of replicas keeps a few well used
 * keep-alive connections per replica instead of hundreds of idle ones, and health-checks only its
 * own.
 *
 * Which replicas: rendezvous (highest random weight) hashing. Every replica gets a score from the
 * gateway's instance id and the replica's address; a gateway takes its highest-scored ones. So
 *   - it is stable: the same id and the same replicas give the same subset, after any restart;
 *   - it is even: over many gateways, each replica is picked by about gateways x size / replicas;
 *   - it reshuffles minimally: a replica that arrives enters only the subsets where it scores into
 *     the top, displacing one member each; one that leaves is replaced, in the subsets that had it,
 *     by each gateway's next-ranked replica. Nobody else moves.
 *
 * Fallback: a member whose health checks found it down stays in the subset (still checked, so its
 * return is seen) and the next replica in the ranking joins in its place, until `size` members are
 * not down (or the pool is used whole). Once it is back, the replacement leaves. A member only
 * ejected or with an open breaker is not replaced: those are short, and panic routing covers a
 * pool with none left (see VersionPool.panicPick).
 */

/** FNV-1a over the UTF-16 code units, finished with MurmurHash3's fmix32 (as the sticky cohorts hash). */
function hash32(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A replica's score for one gateway: 53 bits from two seeded hashes, so ties are vanishingly rare. */
export function rendezvousScore(instanceId: string, replica: string): number {
  const text = `${instanceId}\u0000${replica}`;
  return (hash32(text, 0) & 0x1fffff) * 2 ** 32 + hash32(text, 0x9e3779b9);
}

/** The replicas in this gateway's order of preference (ties, if any, by their key). */
export function rankReplicas<T>(instanceId: string, replicas: readonly T[], key: (replica: T) => string): T[] {
  return replicas
    .map((replica) => ({ replica, id: key(replica), score: rendezvousScore(instanceId, key(replica)) }))
    .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((x) => x.replica);
}

/**
 * The subset from a ranking: the first `size`, and for each of them known down, one more from
 * further down the ranking (itself subject to the same rule). `size` 0 or at least the pool: all.
 */
export function chooseSubset<T>(ranked: readonly T[], size: number, isDown: (replica: T) => boolean): T[] {
  if (size <= 0 || size >= ranked.length) return [...ranked];
  const subset: T[] = [];
  let usable = 0;
  for (const replica of ranked) {
    if (usable >= size) break;
    subset.push(replica);
    if (!isDown(replica)) usable++;
  }
  return subset;
}
