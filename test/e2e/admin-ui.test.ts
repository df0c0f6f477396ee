/**
 * The admin UI end to end: Debian's Chromium driven by playwright-core, against a gateway with
 * simulated replicas and a real Redis. Each test is one line of issue 6's "Done when"; the run also
 * saves the README's screenshots (1280 px) and one at a phone's width.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';
import { startCluster, type Cluster } from '../helpers/cluster.js';
import { TEST_TOKEN, VIEWER_TOKEN, waitFor } from '../helpers/gateway.js';
import { inParallel, TestClient } from '../helpers/http.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { MODEL, versionOfPrediction } from '../helpers/stack.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const SCREENSHOTS = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../../test-results/e2e/', import.meta.url));
const WIDE = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

let redis: RedisServer;
let cluster: Cluster;
let browser: Browser;
let admin: string;
let rest: string;
const client = new TestClient(16);
const consoleLines: string[] = [];
let load: { stop(): Promise<void> } | undefined;

interface View {
  revision: number;
  state: string;
  policy: { percent: number; headerRules: unknown[] };
}

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const reply = await client.send(method, `${admin}${path}`, body === undefined ? undefined : JSON.stringify(body), {
    authorization: `Bearer ${TEST_TOKEN}`,
    ...(body === undefined ? {} : { 'content-type': 'application/json' }),
  });
  return { status: reply.status, json: reply.json<T>() };
}
const view = async (): Promise<View> => (await api<View>('GET', `/api/models/${MODEL}`)).json;

/** Keyless predictions at a steady, bounded pace, so the charts and live numbers have something to show. */
function backgroundLoad(perSecond: number, maxSeconds: number): { stop(): Promise<void> } {
  let running = true;
  const deadline = Date.now() + maxSeconds * 1000;
  const loop = (async () => {
    while (running && Date.now() < deadline) {
      const started = Date.now();
      await Promise.allSettled(Array.from({ length: 4 }, () => client.post(`${rest}/v1/models/${MODEL}:predict`, '{"instances": [1.0]}')));
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, (4 / perSecond) * 1000 - (Date.now() - started))));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

async function newPage(viewport = WIDE): Promise<Page> {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on('console', (m: ConsoleMessage) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (err) => consoleLines.push(`pageerror: ${err.message}`));
  await page.goto(`${admin}/`);
  return page;
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function openModel(page: Page): Promise<void> {
  await page.getByRole('link', { name: MODEL }).click();
  await page.getByRole('heading', { level: 1, name: MODEL }).waitFor();
  await page.getByText('Requests per second').waitFor();
}

/** Every element of the page wider than the viewport is a layout bug at that width. */
async function assertNoHorizontalScroll(page: Page): Promise<void> {
  const [scrollWidth, width] = (await page.evaluate('[document.documentElement.scrollWidth, window.innerWidth]')) as [number, number];
  assert.ok(scrollWidth <= width, `the page is ${scrollWidth} px wide in a ${width} px viewport`);
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium), as .ci/run does`);
  redis = await startRedis();
  cluster = await startCluster({
    redisUrl: redis.url,
    keyPrefix: 'e2e:',
    gateways: 1,
    policy: { stable: 1, canary: 2, percent: 10, headerRules: [{ header: 'x-canary' }], sticky: { header: 'x-user-id' } },
  });
  const gw = cluster.gateways[0]!;
  admin = gw.admin;
  rest = gw.rest;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    timeout: 30_000,
  });
  load = backgroundLoad(40, 240);
  mkdirSync(SCREENSHOTS, { recursive: true });
  mkdirSync(RESULTS, { recursive: true });
}, { timeout: 60_000 });

after(async () => {
  await load?.stop();
  await browser?.close();
  await client.close();
  await cluster?.close();
  await redis?.stop();
}, { timeout: 60_000 });

test('a wrong token shows a clear error and stores nothing', { timeout: 60_000 }, async () => {
  const page = await newPage();
  await signIn(page, 'not-the-right-token-0123456789');
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match(await alert.innerText(), /This token was not accepted/);
  assert.equal(await page.getByLabel('Admin token').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.evaluate('sessionStorage.length'), 0);
  assert.ok(!page.url().includes('0123456789'), page.url());
  await page.context().close();
});

test('sign in: the overview shows the model live, from the event stream without polling', { timeout: 60_000 }, async () => {
  const page = await newPage();
  const requests: string[] = [];
  page.on('request', (r) => requests.push(new URL(r.url()).pathname));
  await signIn(page, TEST_TOKEN);
  const row = page.locator(`tr[data-model="${MODEL}"]`);
  await row.waitFor();
  assert.match(await row.innerText(), /v1\s+2\/2 healthy/);
  assert.match(await row.innerText(), /v2\s+1\/1 healthy/);
  // The share set, then the share served (traffic flows from the first stats tick on).
  await waitFor(async () => /^10% \/ \d/.test(await row.locator('td.share').innerText()), 10_000, 'the live share on the overview');
  assert.match(await page.locator('header').innerText(), /test-operator · operator/);
  assert.equal(await page.evaluate(`sessionStorage.getItem('canary-gateway.admin-token')`), TEST_TOKEN);
  assert.ok(!page.url().includes(TEST_TOKEN));

  // Stats arrive once a second on the stream; the page itself asks nothing meanwhile.
  const asked = requests.length;
  await page.waitForTimeout(3_000);
  assert.deepEqual(requests.slice(asked), [], 'no request while nothing but stats happens');
  assert.ok(requests.includes('/api/events'));
  // Cropped to the content: one model leaves most of a 1280 x 800 screen empty.
  const bottom = (await page.evaluate(`Math.ceil(document.querySelector('main').getBoundingClientRect().bottom)`)) as number;
  await page.screenshot({ path: `${SCREENSHOTS}overview.png`, clip: { x: 0, y: 0, width: WIDE.width, height: Math.min(bottom, WIDE.height) } });
  await page.context().close();
});

test('the slider from 10 to 40, confirmed: the policy says 40 and the traffic follows', { timeout: 120_000 }, async () => {
  const page = await newPage();
  await signIn(page, TEST_TOKEN);
  await openModel(page);
  // Some history at 10% first, so the screenshot's charts show the step to 40%.
  await page.waitForTimeout(20_000);
  const slider = page.getByLabel(/Share of unpinned traffic/);
  assert.equal(await slider.inputValue(), '10');
  await slider.focus();
  for (let i = 0; i < 30; i++) await page.keyboard.press('ArrowRight');
  assert.equal(await slider.inputValue(), '40');
  assert.equal((await view()).policy.percent, 10, 'nothing is written before the confirmation');
  await page.getByRole('button', { name: 'Confirm 40%' }).click();
  await page.getByRole('status').filter({ hasText: 'The canary now gets 40%' }).waitFor();
  const after = await view();
  assert.equal(after.policy.percent, 40);

  const versions = await inParallel(400, 8, async () =>
    versionOfPrediction((await client.post(`${rest}/v1/models/${MODEL}:predict`, '{"instances": [1.0]}')).text),
  );
  const share = versions.filter((v) => v === 2).length / versions.length;
  assert.ok(share > 0.3 && share < 0.5, `canary share through the data port: ${share}`);

  // The live share the page shows follows too, once the 10 s stats window holds only the new split.
  const canaryTraffic = page.locator('.card.role-canary dd').first();
  await waitFor(
    async () => {
      const shown = Number((await canaryTraffic.innerText()).replace('%', ''));
      return shown > 30 && shown < 50;
    },
    20_000,
    'the page to show a live canary share near 40%',
  );
  await page.waitForTimeout(10_000);
  await page.screenshot({ path: `${SCREENSHOTS}model.png`, fullPage: true });
  await page.context().close();
});

test("an invalid rule shows the API's message beside the field and changes nothing", { timeout: 60_000 }, async () => {
  const page = await newPage();
  await signIn(page, TEST_TOKEN);
  await openModel(page);
  const before = await view();
  const audit = async () => (await api<{ entries: Array<{ id: string }> }>('GET', `/api/audit?model=${MODEL}&limit=1`)).json.entries[0]?.id;
  const auditBefore = await audit();
  const rule = page.getByRole('group', { name: 'Header rules, rule 2' });

  // A shape error (the schema's message), then a check only the gateway makes (the regex compiles).
  await page.getByRole('button', { name: 'Add header rule' }).click();
  await rule.getByLabel('Header', { exact: true }).fill('x beta');
  await page.getByRole('button', { name: 'Save rules' }).click();
  const expected = await api<{ details: Array<{ path: string; message: string }> }>('PUT', `/api/models/${MODEL}/rules`, {
    headerRules: [{ header: 'x-canary' }, { header: 'x beta' }],
  });
  assert.equal(expected.status, 400);
  const nameIssue = expected.json.details.find((d) => d.path === '/headerRules/1/header');
  assert.ok(nameIssue !== undefined, JSON.stringify(expected.json));
  const nameField = rule.getByLabel('Header', { exact: true });
  await waitFor(async () => (await nameField.getAttribute('aria-invalid')) === 'true', 5_000, 'the header field marked invalid');
  const nameError = page.locator(`#${await nameField.getAttribute('aria-describedby')}`);
  assert.equal((await nameError.innerText()).trim(), nameIssue.message);
  assert.ok(await rule.locator('.field.invalid').filter({ has: page.getByLabel('Header', { exact: true }) }).isVisible(), 'the message sits with its field');

  await nameField.fill('x-beta');
  await rule.getByLabel('Match', { exact: true }).selectOption('regex');
  await rule.getByLabel('Regular expression', { exact: true }).fill('([a-z');
  await page.getByRole('button', { name: 'Save rules' }).click();
  const regexField = rule.getByLabel('Regular expression', { exact: true });
  await waitFor(async () => (await regexField.getAttribute('aria-invalid')) === 'true', 5_000, 'the regex field marked invalid');
  const regexError = (await page.locator(`#${await regexField.getAttribute('aria-describedby')}`).innerText()).trim();
  const regexIssue = (
    await api<{ details: Array<{ path: string; message: string }> }>('PUT', `/api/models/${MODEL}/rules`, {
      headerRules: [{ header: 'x-canary' }, { header: 'x-beta', regex: '([a-z' }],
    })
  ).json.details.find((d) => d.path === '/headerRules/1/regex');
  assert.equal(regexError, regexIssue?.message);
  assert.match(regexError, /not a valid regular expression/);
  assert.equal(await nameField.getAttribute('aria-invalid'), 'false', 'the fixed field is no longer flagged');
  assert.match(await page.getByRole('alert').filter({ hasText: 'Not saved' }).innerText(), /nothing changed/);

  const after = await view();
  assert.equal(after.revision, before.revision, 'the policy revision is unchanged');
  assert.deepEqual(after.policy.headerRules, before.policy.headerRules);
  assert.equal(await audit(), auditBefore, 'no audit entry');
  await page.context().close();
});

test('a viewer token shows everything and no controls', { timeout: 60_000 }, async () => {
  const page = await newPage();
  await signIn(page, VIEWER_TOKEN);
  await page.locator(`tr[data-model="${MODEL}"]`).waitFor();
  assert.match(await page.locator('header').innerText(), /viewer \(read-only\)/);
  await openModel(page);
  await page.getByText(/Version 2 gets/).waitFor();
  await page.getByRole('heading', { name: 'Replicas' }).waitFor();
  await page.getByRole('heading', { name: 'Audit log' }).waitFor();
  assert.match(await page.locator('.rules-text').first().innerText(), /x-canary/);
  const buttons = await page.getByRole('button').allInnerTexts();
  assert.deepEqual(buttons, ['Sign out'], 'the only button signs out');
  assert.equal(await page.locator('input, select, textarea').count(), 0, 'no form control');
  await page.context().close();
});

test('the canary fails: the rollback appears in the UI without a reload', { timeout: 60_000 }, async () => {
  const page = await newPage();
  await signIn(page, TEST_TOKEN);
  await openModel(page);
  await page.evaluate('window.__loadedOnce = true');
  assert.equal(await page.locator('.banner.danger').count(), 0);

  // The canary's replica answers 500 to every prediction; the gateway rolls it back by itself.
  cluster.sims[2]!.setFaults({ errorRate: 1, errorStatus: 500 });

  const banner = page.locator('.banner.danger');
  await banner.waitFor({ timeout: 15_000 });
  assert.match(await banner.innerText(), /Rolled back/);
  assert.equal(await page.locator('.model-head .badge').innerText(), 'rolled back');
  assert.equal(await page.getByLabel(/Share of unpinned traffic/).inputValue(), '0');
  await page.locator('.audit .reason-rollback').first().waitFor();
  assert.equal(await page.evaluate('window.__loadedOnce'), true, 'the page was not reloaded');
  assert.equal((await view()).state, 'rolled-back');
  cluster.sims[2]!.clearFaults();
  await page.context().close();
});

test('at a phone width the pages fit the screen', { timeout: 60_000 }, async () => {
  const page = await newPage(PHONE);
  await signIn(page, TEST_TOKEN);
  await page.locator(`tr[data-model="${MODEL}"]`).waitFor();
  await assertNoHorizontalScroll(page);
  await openModel(page);
  await page.waitForTimeout(500);
  await assertNoHorizontalScroll(page);
  await page.screenshot({ path: `${RESULTS}model-phone.png`, fullPage: true });
  await page.context().close();
});

test('no script error and no token in the browser console', () => {
  // Chromium logs each refused request as a resource error: the wrong token's 401, the invalid rules' 400s.
  const unexpected = consoleLines.filter((l) => !/Failed to load resource: the server responded with a status of 40[01]/.test(l));
  assert.deepEqual(unexpected.filter((l) => l.startsWith('error') || l.startsWith('pageerror')), []);
  assert.ok(!consoleLines.some((l) => l.includes(TEST_TOKEN) || l.includes(VIEWER_TOKEN)));
});
