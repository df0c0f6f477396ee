/**
 * Sticky cohorts: a user key hashed with a per-model salt into one of 10,000 buckets. A bucket below
 * percent × 100 is canary, so raising the percentage only adds buckets to the canary and lowering it
 * only removes them: nobody flips the other way. Every gateway instance (and any future listener,
 * gRPC included) must compute the same bucket, so the algorithm is fixed: FNV-1a over the UTF-16
 * code units of salt, a NUL separator and the key, finished with MurmurHash3's fmix32.
 */
export const BUCKETS = 10_000;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Hash state after the salt and separator; computed once per policy, not per request. */
export function saltState(salt: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < salt.length; i++) h = Math.imul(h ^ salt.charCodeAt(i), FNV_PRIME);
  return Math.imul(h ^ 0, FNV_PRIME);
}

export function bucketOf(state: number, key: string): number {
  let h = state;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), FNV_PRIME);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % BUCKETS;
}

/** Canary share expressed in buckets: 10% -> 1000, 0.5% -> 50. */
export function canaryBuckets(percent: number): number {
  return Math.round(percent * 100);
}

/** A keyless request's draw from the same bucket space, so 0.5% works as well as 50%. */
export function randomBucket(): number {
  return (Math.random() * BUCKETS) | 0;
}
