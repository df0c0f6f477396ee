/**
 * The gateway makes no locale-aware call (Intl formatters, toLocaleString, localeCompare) while it
 * starts and serves: the first one makes ICU read its locale data, which node carries in its own
 * binary, and about 5 MB of it stays resident for the life of the process (docs/performance.md:
 * memory at 1,000 connections). A real gateway process, with a preload that wraps every such
 * entry point and writes down who called it; the gateway then serves a prediction, admin API
 * reads, a policy change and a refused one.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { request } from 'undici';
import { spawnGateway } from '../../helpers/gateway-process.js';
import { waitFor } from '../../helpers/gateway.js';
import { startReplica } from '../../helpers/simulator.js';

const MODEL = 'half_plus_two';
const TOKEN = 'no-locale-test-operator-token';

/** Wraps the locale-aware entry points; each call appends its stack to `file`, which loading empties. */
const preloadFor = (file: string): string => `
import { appendFileSync, writeFileSync } from 'node:fs';
const file = ${JSON.stringify(file)};
writeFileSync(file, '');
const note = (what) => appendFileSync(file, JSON.stringify({ what, stack: new Error().stack }) + '\\n');
const wrapMethod = (owner, name, label) => {
  const original = owner[name];
  Object.defineProperty(owner, name, { ...Object.getOwnPropertyDescriptor(owner, name), value: function (...args) { note(label); return original.apply(this, args); } });
};
for (const [proto, label] of [[Number.prototype, 'Number'], [BigInt.prototype, 'BigInt'], [Array.prototype, 'Array']]) wrapMethod(proto, 'toLocaleString', label + '.toLocaleString');
for (const name of ['toLocaleString', 'toLocaleDateString', 'toLocaleTimeString']) wrapMethod(Date.prototype, name, 'Date.' + name);
wrapMethod(String.prototype, 'localeCompare', 'String.localeCompare');
for (const name of ['NumberFormat', 'DateTimeFormat', 'Collator', 'PluralRules', 'RelativeTimeFormat', 'ListFormat', 'DisplayNames', 'Segmenter']) {
  const Original = Intl[name];
  if (typeof Original !== 'function') continue;
  Intl[name] = new Proxy(Original, {
    construct(target, args, newTarget) { note('Intl.' + name); return Reflect.construct(target, args, newTarget === Intl[name] ? target : newTarget); },
    apply(target, self, args) { note('Intl.' + name); return Reflect.apply(target, self, args); },
  });
}
`;

test('the gateway calls nothing locale-aware while it starts and serves', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-locale-'));
  const calls = join(dir, 'calls.jsonl');
  rmSync(calls, { force: true });
  const preload = join(dir, 'preload.mjs');
  writeFileSync(preload, preloadFor(calls));
  const replica = await startReplica({ model: MODEL, versions: [1, 2] });
  const gateway = await spawnGateway(
    {
      admin: { tokens: [{ name: 'ops', token: TOKEN, role: 'operator' }] },
      models: {
        [MODEL]: {
          pools: { '1': { replicas: [replica.url] }, '2': { replicas: [replica.url] } },
          policy: { stable: 1, canary: 2, percent: 50, headerRules: [{ header: 'x-canary', regex: '^on$' }] },
          healthCheck: { intervalMs: 200, timeoutMs: 1_000 },
        },
      },
    },
    [`--import=${preload}`],
  );
  try {
    const auth = { authorization: `Bearer ${TOKEN}` };
    await waitFor(
      async () => (await request(`${gateway.rest}/v1/models/${MODEL}:predict`, { method: 'POST', body: '{"instances":[1.0]}' })).statusCode === 200,
      10_000,
      'a prediction through the gateway',
    );
    for (const path of ['/api/models', `/api/models/${MODEL}`, '/api/audit', '/api/session', '/metrics', '/api/openapi.json']) {
      const res = await request(gateway.admin + path, { headers: auth });
      await res.body.dump();
      assert.ok(res.statusCode < 500, `${path} answered ${res.statusCode}`);
    }
    const model = await request(`${gateway.admin}/api/models/${MODEL}`, { headers: auth });
    const etag = model.headers['etag'] as string;
    await model.body.dump();
    const policy = { stable: 1, canary: 2, percent: 10, headerRules: [{ header: 'x-canary', regex: '^yes$' }] };
    const put = await request(`${gateway.admin}/api/models/${MODEL}/policy`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/json', 'if-match': etag },
      body: JSON.stringify(policy),
    });
    assert.equal(put.statusCode, 200, await put.body.text());
    const refused = await request(`${gateway.admin}/api/models/${MODEL}/policy`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ ...policy, percent: 101, headerRules: [{ header: 'x-canary', regex: '(a' }] }),
    });
    assert.equal(refused.statusCode, 400, await refused.body.text());
  } finally {
    await gateway.stop();
    await replica.close();
  }
  // The file exists only if the preload ran: a gateway started without it would pass vacuously.
  const seen = readFileSync(calls, 'utf8').trim();
  rmSync(dir, { recursive: true, force: true });
  assert.equal(seen, '', `locale-aware calls:\n${seen.split('\n').slice(0, 3).join('\n')}`);
});
