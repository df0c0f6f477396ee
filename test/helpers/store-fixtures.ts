/** One model `m`'s documents for store tests: a policy, the seed a gateway offers, a write. */
import type { PolicyWrite, SeedEntry } from '../../gateway/src/controlplane/store/types.js';
import type { PolicyDocument } from '../../gateway/src/policy/schema.js';
import { NO_VERSIONS } from '../../gateway/src/policy/stored.js';

export function policy(percent: number): PolicyDocument {
  return { stable: 1, canary: 2, percent, headerRules: [], cookieRules: [], sticky: null, salt: 'm', plan: null, shadow: null, onNewVersion: null };
}

/** What a gateway that never reached the store offers for `m`: its file's policy, provisional. */
export const seed = (): ReadonlyMap<string, SeedEntry> =>
  new Map([['m', { policy: policy(5), paused: false, rolledBack: false, rollout: null, versions: NO_VERSIONS, revision: 1, actor: 'config', provisional: true }]]);

export const write = (percent: number, expectedRevision: number): PolicyWrite => ({
  model: 'm',
  policy: policy(percent),
  paused: false,
  rolledBack: false,
  rollout: null,
  versions: NO_VERSIONS,
  expectedRevision,
  actor: 'tester',
  reason: 'manual',
});
