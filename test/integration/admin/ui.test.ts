/**
 * The admin UI's files on the admin port: served without a token, index.html never cached and
 * locked down by a CSP, hashed assets cached for good; every /api route still needs a token, however
 * its path is spelled; without a build, `/` says how to make one. Needs `npm run build` (npm test
 * runs it), which puts the UI in dist/admin-ui/.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Fastify from 'fastify';
import { adminUi } from '../../../gateway/src/controlplane/admin/ui.js';
import { TestClient } from '../../helpers/http.js';
import { startStack, type Stack } from '../../helpers/stack.js';

let stack: Stack;
const client = new TestClient(8);

before(async () => {
  stack = await startStack();
});
after(async () => {
  await client.close();
  await stack.close();
});

test('/ serves the UI without a token; index.html is not cached, assets are immutable', async () => {
  const index = await client.get(`${stack.gw.admin}/`);
  assert.equal(index.status, 200);
  assert.match(String(index.headers['content-type']), /^text\/html/);
  assert.equal(index.headers['cache-control'], 'no-cache');
  assert.match(String(index.headers['content-security-policy']), /script-src 'self'/);
  const asset = /src="(\/assets\/[^"]+\.js)"/.exec(index.text)?.[1];
  assert.ok(asset !== undefined, index.text);
  const js = await client.get(`${stack.gw.admin}${asset}`);
  assert.equal(js.status, 200);
  assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
});

test('every /api route still needs a token, however the path is spelled', async () => {
  // The router decodes %61 to "a": the auth hook must not decide on the raw URL.
  for (const path of ['/api/models', '/%61pi/models', '/api/events', '/api/unknown', '/nothing-here', '/assets/missing.js']) {
    const reply = await client.get(`${stack.gw.admin}${path}`);
    assert.equal(reply.status, 401, path);
  }
});

test('without a build, / answers a 404 page that says how to build the UI', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'cg-no-ui-'));
  const app = Fastify();
  try {
    await app.register(adminUi, { root: empty });
    const reply = await app.inject('/');
    assert.equal(reply.statusCode, 404);
    assert.match(String(reply.headers['content-type']), /^text\/html/);
    assert.match(reply.body, /admin UI is not built/);
    assert.match(reply.body, /npm run build/);
  } finally {
    await app.close();
    rmSync(empty, { recursive: true, force: true });
  }
});
