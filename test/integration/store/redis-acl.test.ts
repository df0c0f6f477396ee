/**
 * The Redis ACL the README gives is enough, and the gateways need nothing more: a real redis-server
 * with a user set up by exactly the README's line runs every store operation (start and seed,
 * writes, conflicts, reads, the audit trail, change messages between two gateways) and a gateway
 * serving through it. Removing any one command from the line breaks something (so no command in
 * it is there for nothing).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { RedisStore } from '../../../gateway/src/controlplane/store/redis.js';
import { RevisionConflictError, type StoredPolicy } from '../../../gateway/src/controlplane/store/types.js';
import { policy, seed, write } from '../../helpers/store-fixtures.js';
import { startRedis, type RedisServer } from '../../helpers/redis.js';
import { NO_VERSIONS } from '../../../gateway/src/policy/stored.js';

const ADMIN_PASSWORD = 'redis-admin-password-1';
const USER_PASSWORD = 'gateway-acl-password-2';
const silent = pino({ level: 'silent' });

/** The README's ACL line, for a key prefix and a password. */
function readmeAcl(prefix: string, password: string): string[] {
  const readme = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8');
  const line = /^ *(ACL SETUSER canary-gateway .+)$/m.exec(readme)?.[1];
  assert.ok(line, 'the README gives an ACL SETUSER line');
  return line
    .replaceAll('canary-gateway:', prefix)
    .replace('>CHANGE-ME', `>${password}`)
    .split(' ')
    .slice(3);
}

let redis: RedisServer;
let admin: Redis;
let users = 0;

before(async () => {
  redis = await startRedis({ password: ADMIN_PASSWORD });
  admin = new Redis({ port: redis.port, host: '127.0.0.1', password: ADMIN_PASSWORD });
});
after(async () => {
  admin.disconnect();
  await redis.stop();
});


/** A user made by the README's line minus `drop`; returns its name and key prefix. */
async function aclUser(drop?: string): Promise<{ username: string; prefix: string }> {
  const username = `gw${++users}`;
  const prefix = `acl${users}:`;
  const rules = readmeAcl(prefix, USER_PASSWORD).filter((r) => r !== drop);
  assert.equal(await admin.call('ACL', 'SETUSER', username, 'reset', ...rules), 'OK');
  return { username, prefix };
}

function openStore(username: string, prefix: string): RedisStore {
  return new RedisStore({
    url: redis.url,
    username,
    password: USER_PASSWORD,
    keyPrefix: prefix,
    auditMaxEntries: 100,
    connectTimeoutMs: 2_000,
    commandTimeoutMs: 1_000,
    logger: silent,
  });
}

/** Every operation a gateway makes, on two stores sharing the user; throws on the first refusal. */
async function exercise(username: string, prefix: string): Promise<void> {
  const cleanups: Array<() => void> = [];
  const a = openStore(username, prefix);
  const b = openStore(username, prefix);
  try {
    await a.start(seed);
    await b.start(seed);
    let timer: NodeJS.Timeout | undefined;
    const seen = new Promise<StoredPolicy>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error('no change message reached the other gateway')), 3_000);
      b.on('change', (s) => {
        if (s.revision === 2) resolve(s);
      });
    });
    // Awaited below unless an earlier step fails: then its timeout must not surface on its own.
    seen.catch(() => undefined);
    cleanups.push(() => clearTimeout(timer));
    const written = await a.put(write(40, 1));
    assert.equal(written.revision, 2);
    await assert.rejects(a.put(write(50, 1)), RevisionConflictError);
    assert.deepEqual((await seen).policy.percent, 40);
    assert.equal((await b.load(['m']))[0]?.revision, 2);
    const audit = await a.audit({ model: 'm', limit: 10 });
    assert.ok(audit.length >= 2, 'the audit trail reads back');
    // Puts back what a Redis that lost its data lacks (the restore path).
    await admin.del(`${prefix}{policies}:model:m`);
    await a.seed(new Map([['m', { policy: policy(40), paused: false, rolledBack: false, rollout: null, versions: NO_VERSIONS, revision: 2, actor: 'restore', provisional: false }]]));
    assert.equal((await b.load(['m']))[0]?.revision, 2);
  } finally {
    for (const cleanup of cleanups) cleanup();
    await a.close();
    await b.close();
  }
}

test('the README ACL runs every store operation', async () => {
  const { username, prefix } = await aclUser();
  await exercise(username, prefix);
});

test('every command in the README ACL is needed', async () => {
  // +info serves ioredis' ready check only (it waits while Redis loads its data): nothing fails without it.
  const rules = readmeAcl('x:', USER_PASSWORD).filter((r) => r.startsWith('+') && r !== '+@connection' && r !== '+info');
  assert.ok(rules.length >= 10, rules.join(' '));
  for (const rule of rules) {
    const { username, prefix } = await aclUser(rule);
    await assert.rejects(exercise(username, prefix), (err: Error) => err instanceof Error, `without ${rule} something fails`);
  }
});

test('the README ACL keeps the gateway to its keys and channel', async () => {
  const { username, prefix } = await aclUser();
  const user = new Redis({ port: redis.port, host: '127.0.0.1', username, password: USER_PASSWORD });
  try {
    await assert.rejects(user.call('HSET', 'other:key', 'a', '1'), /NOPERM/);
    await assert.rejects(user.publish('other:changes', 'x'), /NOPERM/);
    await assert.rejects(user.call('KEYS', '*'), /NOPERM/);
    await assert.rejects(user.call('FLUSHALL'), /NOPERM/);
    await assert.rejects(user.call('CONFIG', 'GET', 'dir'), /NOPERM/);
    assert.equal(await user.call('HSET', `${prefix}{policies}:model:z`, 'a', '1'), 1);
  } finally {
    user.disconnect();
  }
});
