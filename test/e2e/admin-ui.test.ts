/**
 * The admin UI end to end: Debian's Chromium driven by playwright-core, against a gateway with
 * simulated replicas and a real Redis. Covers issue 6's "Done when" and every control of the model
 * page; the run also saves the README's screenshots (1280 px) and one at a phone's width.
 *
 * Three models, so the overview shows the states side by side: half_plus_two (a canary, the one
 * the tests act on), ranker (rolling out, held at its first step by a long dwell) and fraud_score
 * (steady; it discovers its versions on its replicas and rolls new ones out by itself). Tests run in order on one gateway; each one that acts on half_plus_two starts from
 * BASE_POLICY, whatever the previous one left.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { chromium, type Browser, type ConsoleMessage, type Page, type Request } from 'playwright-core';
import { startSimulator, type SimulatorHandle } from '../../simulator/src/server.js';
import { startTestGateway, TEST_TOKEN, VIEWER_TOKEN, waitFor, type TestGateway } from '../helpers/gateway.js';
import { inParallel, TestClient } from '../helpers/http.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { openEventStream, type EventStream } from '../helpers/sse.js';
import { MODEL, replicaEntry, versionOfPrediction } from '../helpers/stack.js';
import { tfServingClient } from '../helpers/grpc-client.js';
import { streamSchemaViolations } from '../helpers/stream-schemas.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const SCREENSHOTS = fileURLToPath(new URL('../../../docs/screenshots/', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../../test-results/e2e/', import.meta.url));
const WIDE = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const RANKER = 'ranker';
const FRAUD = 'fraud_score';

const BASE_POLICY = { stable: 1, canary: 2, percent: 10, headerRules: [{ header: 'x-canary' }], sticky: { header: 'x-user-id' }, plan: null };
/** Requests with this header go to the canary (BASE_POLICY's header rule: `always` forces it). */
const PINNED = { 'x-canary': 'always' };

/**
 * On a busy machine (load average 10) the canary's p99 stretched past twice stable's and the
 * gateway rolled back by itself in the middle of unrelated tests: the latency trigger is off here.
 * The error-rate trigger stays as configured by default (the automatic rollback test needs it).
 * For the failing-replica test, whatever the pace of traffic: three failures in a row eject a
 * replica for a second, and the breaker, which needs five attempts in its 10 s window, opens on the
 * failures that follow its return. Ejections stay short, so the replica is back for the next test.
 */
const RESILIENCE = {
  analysis: { latencyRatio: 1000, latencyMarginMs: 3_600_000 },
  ejection: { consecutiveFailures: 3, baseMs: 1_000, maxMs: 5_000 },
  breaker: { volumeThreshold: 5 },
};
/** Generous timeouts: a slow check on a busy machine must not take a replica down (a health event makes the page ask). */
const HEALTH_CHECK = { intervalMs: 1_000, timeoutMs: 1_000, healthyThreshold: 1, unhealthyThreshold: 3 };

let redis: RedisServer;
let gw: TestGateway;
let browser: Browser;
let admin: string;
let rest: string;
/** The admin event stream as a test sees it: tells the no-polling checks which events happened. */
let watch: EventStream;
const sims: Record<string, SimulatorHandle[]> = {};
const client = new TestClient(16);
const consoleLines: string[] = [];
/** Every line the gateway logged, raw, at debug level. */
const gatewayLog: string[] = [];
const loads: Array<{ stop(): Promise<void> }> = [];

interface View {
  revision: number;
  state: string;
  paused: boolean;
  rolledBack: boolean;
  policy: { stable: number; canary: number | null; percent: number; headerRules: unknown[]; sticky: unknown; plan: unknown };
  rollout: { step: number; steps: number } | null;
}

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
  const reply = await client.send(method, `${admin}${path}`, body === undefined ? undefined : JSON.stringify(body), {
    authorization: `Bearer ${TEST_TOKEN}`,
    ...(body === undefined ? {} : { 'content-type': 'application/json' }),
  });
  return { status: reply.status, json: reply.json<T>() };
}
const view = async (model = MODEL): Promise<View> => (await api<View>('GET', `/api/models/${model}`)).json;
const latestAudit = async (): Promise<{ id: string; actor: string; reason: string }> =>
  (await api<{ entries: Array<{ id: string; actor: string; reason: string }> }>('GET', `/api/audit?model=${MODEL}&limit=1`)).json.entries[0]!;

/** half_plus_two back to a 10% canary with its rules, not paused, not rolled back, no plan. */
async function resetModel(): Promise<void> {
  const current = await view();
  if (current.paused) assert.equal((await api('POST', `/api/models/${MODEL}/resume`)).status, 200);
  // Written only when something differs, so the audit log (and the screenshot of it) is not
  // filled with changes that change nothing.
  const { stable, canary, percent, headerRules, sticky, plan } = current.policy;
  if (!current.rolledBack && JSON.stringify({ stable, canary, percent, headerRules, sticky, plan }) === JSON.stringify(BASE_POLICY)) return;
  const reply = await api<View>('PUT', `/api/models/${MODEL}/policy`, BASE_POLICY);
  assert.equal(reply.status, 200, JSON.stringify(reply.json));
}

/** Predictions at a steady, bounded pace, so the charts and live numbers have something to show. */
function backgroundLoad(model: string, perSecond: number, maxSeconds: number): { stop(): Promise<void> } {
  let running = true;
  const deadline = Date.now() + maxSeconds * 1000;
  const url = `${rest}/v1/models/${model}:predict`;
  const loop = (async () => {
    while (running && Date.now() < deadline) {
      const started = Date.now();
      await Promise.allSettled(Array.from({ length: 4 }, () => client.post(url, '{"instances": [1.0]}')));
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

async function newPage(viewport = WIDE, initScript?: string): Promise<Page> {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  if (initScript !== undefined) await context.addInitScript(initScript);
  const page = await context.newPage();
  // Bounded, and generous: a busy machine renders slowly.
  page.setDefaultTimeout(20_000);
  page.on('console', (m: ConsoleMessage) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (err) => consoleLines.push(`pageerror: ${err.message}`));
  await page.goto(`${admin}/`);
  return page;
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function openModel(page: Page, name = MODEL): Promise<void> {
  await page.getByRole('link', { name, exact: true }).click();
  await page.getByRole('heading', { level: 1, name }).waitFor();
  await page.locator('.chart-box svg').first().waitFor();
}

/** The model page's canary actions: pause, resume, promote and roll back report here. */
const actionStatus = (page: Page, text: string | RegExp) => page.locator('.actions').getByRole('status').filter({ hasText: text });
const badge = (page: Page) => page.locator('.model-head .badge');
const firstAuditRow = (page: Page) => page.locator('.audit tbody tr').first();

/** Every element of the page wider than the viewport is a layout bug at that width. */
async function assertNoHorizontalScroll(page: Page): Promise<void> {
  const [scrollWidth, width] = (await page.evaluate('[document.documentElement.scrollWidth, window.innerWidth]')) as [number, number];
  assert.ok(scrollWidth <= width, `the page is ${scrollWidth} px wide in a ${width} px viewport`);
}

/**
 * The page asks the API nothing while only stats ticks arrive: watched over three ticks. A policy,
 * health or replica event rightly makes the page fetch that model once, so a window with one is
 * looked at again (a few times at most).
 */
async function assertNoPolling(page: Page, where: string, changes?: () => Promise<string | null>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const asked: string[] = [];
    const onRequest = (r: Request): void => void asked.push(`${r.method()} ${new URL(r.url()).pathname}`);
    const started = performance.now();
    const from = watch.events.length;
    const before = await changes?.();
    page.on('request', onRequest);
    await waitFor(() => watch.events.slice(from).filter((e) => e.event === 'stats').length >= 3, 15_000, 'three stats ticks');
    page.off('request', onRequest);
    // An event just before the window may be what the page is still answering.
    const events = watch.events.filter((e) => e.receivedAt >= started - 2_000 && e.event !== 'stats').map((e) => e.event);
    if (events.length > 0 && attempt < 4) continue;
    assert.deepEqual(events, [], `${where}: other events kept coming, the check could not be made`);
    assert.deepEqual(asked, [], `${where}: no request while only stats ticks arrive`);
    if (changes !== undefined) assert.notEqual(await changes(), before, `${where}: the page changed with the ticks`);
    return;
  }
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: install Debian's chromium (apt-get install chromium), as .ci/run does`);
  redis = await startRedis();
  const sim = async (key: string, model: string, version: number, behaviour: 'half_plus_two' | 'half_plus_three' = 'half_plus_two') => {
    const handle = await startSimulator({ host: '127.0.0.1', port: 0, grpcPort: 0, model, versions: [version], behaviour });
    (sims[key] ??= []).push(handle);
    return replicaEntry(handle);
  };
  const models = {
    [MODEL]: {
      pools: { '1': { replicas: [await sim('stable', MODEL, 1), await sim('stable', MODEL, 1)] }, '2': { replicas: [await sim('canary', MODEL, 2, 'half_plus_three')] } },
      policy: BASE_POLICY,
      healthCheck: HEALTH_CHECK,
      resilience: RESILIENCE,
    },
    [RANKER]: {
      pools: { '3': { replicas: [await sim('ranker', RANKER, 3)] }, '4': { replicas: [await sim('ranker', RANKER, 4)] } },
      policy: { stable: 3, canary: 4, percent: 5, plan: { steps: [5, 25, 50, 100], minDwellSeconds: 3600, minRequests: 100_000 } },
      healthCheck: HEALTH_CHECK,
      resilience: RESILIENCE,
    },
    [FRAUD]: {
      discover: { replicas: [await sim('fraud', FRAUD, 7), await sim('fraud', FRAUD, 7)] },
      policy: { stable: 7, onNewVersion: { plan: { shadow: { minRequests: 10, minAgreement: 0.99 }, steps: [50, 100], minDwellSeconds: 1, minRequests: 0 } } },
      healthCheck: HEALTH_CHECK,
      resilience: RESILIENCE,
    },
  };
  const logger = pino({ name: 'canary-gateway', level: 'debug' }, { write: (line: string) => void gatewayLog.push(line) });
  gw = await startTestGateway(
    {
      models,
      logging: { access: 'errors' },
      store: { type: 'redis', url: redis.url, keyPrefix: 'e2e:', resyncIntervalMs: 1_000, connectTimeoutMs: 500, commandTimeoutMs: 500 },
    },
    logger,
  );
  admin = gw.admin;
  rest = gw.rest;
  watch = await openEventStream(`${admin}/api/events`, VIEWER_TOKEN);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    timeout: 30_000,
  });
  loads.push(backgroundLoad(MODEL, 40, 900), backgroundLoad(RANKER, 16, 900), backgroundLoad(FRAUD, 8, 900));
  const allHealthy = async (): Promise<boolean> => {
    const { models: list } = (await api<{ models: Array<{ pools: Array<{ healthyReplicas: number; replicas: unknown[] }> }> }>('GET', '/api/models')).json;
    return list.length === 3 && list.every((m) => m.pools.every((p) => p.healthyReplicas === p.replicas.length));
  };
  await waitFor(allHealthy, 15_000, 'every replica healthy');
  mkdirSync(SCREENSHOTS, { recursive: true });
  mkdirSync(RESULTS, { recursive: true });
}, { timeout: 60_000 });

after(async () => {
  await Promise.all(loads.map((l) => l.stop()));
  await watch?.close();
  await browser?.close();
  await client.close();
  await gw?.close();
  await Promise.all(Object.values(sims).flat().map((s) => s.close()));
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

test('sign in: the overview shows every model live, from the event stream without polling', { timeout: 90_000 }, async () => {
  const page = await newPage();
  await signIn(page, TEST_TOKEN);
  const row = (name: string) => page.locator(`tr[data-model="${name}"]`);
  await waitFor(async () => /v1\s+2\/2 healthy/.test(await row(MODEL).innerText()), 10_000, 'stable v1 healthy on the overview');
  assert.match(await row(MODEL).innerText(), /v2\s+1\/1 healthy/);
  // The share set, then the share served (traffic flows from the first stats tick on).
  await waitFor(async () => /^10% \/ \d/.test(await row(MODEL).locator('td.share').innerText()), 10_000, 'the live share on the overview');
  assert.equal(await row(MODEL).locator('.badge').innerText(), 'canary');
  assert.equal(await row(RANKER).locator('.badge').innerText(), 'rolling out');
  assert.equal(await row(FRAUD).locator('.badge').innerText(), 'steady');
  assert.match(await page.locator('header').innerText(), /test-operator · operator/);
  assert.equal(await page.evaluate(`sessionStorage.getItem('canary-gateway.admin-token')`), TEST_TOKEN);
  assert.ok(!page.url().includes(TEST_TOKEN));

  await assertNoPolling(page, 'the overview');
  // Every model with live numbers before the picture.
  for (const name of [MODEL, RANKER, FRAUD]) {
    await waitFor(async () => !/—/.test(await row(name).locator('td[data-label="p99"]').innerText()), 15_000, `live numbers for ${name}`);
  }
  // Cropped to the content: three models leave most of a 1280 x 800 screen empty.
  const bottom = (await page.evaluate(`Math.ceil(document.querySelector('main').getBoundingClientRect().bottom)`)) as number;
  await page.screenshot({ path: `${SCREENSHOTS}overview.png`, clip: { x: 0, y: 0, width: WIDE.width, height: Math.min(bottom + 16, WIDE.height) } });
  await page.context().close();
});

test('the charts open with the last minutes of history, drawn at once', { timeout: 60_000 }, async () => {
  // Records what the first chart drawn on this page showed, before any later tick could add to it.
  const probe = `
    window.__firstChart = null;
    new MutationObserver(() => {
      const svg = document.querySelector('.chart-box svg');
      if (window.__firstChart !== null || svg === null) return;
      const points = [...svg.querySelectorAll('path.line')].map((p) => ((p.getAttribute('d') || '').match(/[ML]/g) || []).length);
      window.__firstChart = { points: Math.max(0, ...points) };
    }).observe(document, { childList: true, subtree: true, attributes: true });`;
  const page = await newPage(WIDE, probe);
  await signIn(page, TEST_TOKEN);
  await page.locator(`tr[data-model="${MODEL}"]`).waitFor();
  // A fresh page load straight onto the model: the history can only come from the snapshot.
  await page.evaluate(`location.hash = '#/models/${MODEL}'`);
  await page.reload();
  await page.locator('.chart-box svg').first().waitFor();
  const first = (await page.evaluate('window.__firstChart')) as { points: number } | null;
  assert.ok(first !== null && first.points > 1, `the first chart drawn had ${JSON.stringify(first)} points per line`);
  await page.context().close();
});

test('the slider from 10 to 40, confirmed: the policy says 40 and the traffic follows', { timeout: 120_000 }, async () => {
  await resetModel();
  const page = await newPage();
  await signIn(page, TEST_TOKEN);
  await openModel(page);
  const slider = page.getByLabel(/Share of unpinned traffic/);
  assert.equal(await slider.inputValue(), '10');
  await slider.focus();
  for (let i = 0; i < 30; i++) await page.keyboard.press('ArrowRight');
  assert.equal(await slider.inputValue(), '40');
  assert.equal((await view()).policy.percent, 10, 'nothing is written before the confirmation');
  await page.getByRole('button', { name: 'Confirm 40%' }).click();
  await page.getByRole('status').filter({ hasText: 'The canary now gets 40%' }).waitFor();
  assert.equal((await view()).policy.percent, 40);

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
    30_000,
    'the page to show a live canary share near 40%',
  );
  await page.context().close();
});

test('a rollout plan written through the API: the step list, its progress and the rolling-out state', { timeout: 120_000 }, async () => {
  await resetModel();
  const page = await newPage();
  await signIn(page, TEST_TOKEN);
  await openModel(page);
  // Enough canary requests per step that background traffic alone (about 4/s at 10%, 10/s at 25%)
  // takes over a minute at the first step and half a minute at the second: requests pinned to the
  // canary make the first step up happen when the test chooses, and the page stays at the
  // second long enough to be looked at.
  const plan = { steps: [10, 25, 50, 100], minDwellSeconds: 5, minRequests: 300 };
  const from = watch.events.length;
  const written = await api<View>('PUT', `/api/models/${MODEL}/plan`, { plan, note: 'error rate and p99 flat at 40%: roll out' });
  assert.equal(written.status, 200, JSON.stringify(written.json));

  await waitFor(async () => (await badge(page).innerText()) === 'rolling out', 10_000, 'the rolling out badge');
  const steps = page.locator('ol.steps li');
  // Each step's status is spelled out for screen readers, e.g. "10% (current)".
  const stepText = async (): Promise<string[]> => (await steps.allTextContents()).map((t) => t.trim());
  assert.deepEqual(await stepText(), ['10% (current)', '25%', '50%', '100%', 'promote']);
  const current = page.locator('ol.steps li[aria-current="step"]');
  assert.match(await current.innerText(), /^10%/);
  assert.match(await page.locator('section[aria-labelledby="h-plan"]').innerText(), /Step 1 of 4/);

  // The controller steps up by itself once the step has seen its requests: the page follows live.
  // Pinned requests at about 20/s (not a burst: the screenshot's charts show them) until it does.
  const stepped = (): boolean =>
    watch.events.slice(from).some((e) => e.event === 'policy' && (e.data as { model: string; rollout: { step: number } | null }).model === MODEL && (e.data as { rollout: { step: number } | null }).rollout?.step === 1);
  const deadline = Date.now() + 60_000;
  while (!stepped()) {
    assert.ok(Date.now() < deadline, 'the rollout stepped up within 60 s of pinned canary traffic');
    await Promise.all([1, 2].map(() => client.post(`${rest}/v1/models/${MODEL}:predict`, '{"instances": [1.0]}', PINNED)));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await waitFor(async () => /Step 2 of 4/.test(await page.locator('section[aria-labelledby="h-plan"]').innerText()), 30_000, 'step 2 of 4 on the page');
  assert.deepEqual(await stepText(), ['10% (done)', '25% (current)', '50%', '100%', 'promote']);
  assert.match(await current.innerText(), /^25%/);
  assert.equal(await badge(page).innerText(), 'rolling out');
  const state = await view();
  assert.deepEqual([state.state, state.rollout?.step, state.policy.percent], ['rolling-out', 1, 25]);
  await firstAuditRow(page).filter({ hasText: 'rollout-controller' }).waitFor();
  await page.locator('.audit .reason-rollout').first().waitFor();

  await page.screenshot({ path: `${SCREENSHOTS}model.png`, fullPage: true });
  await page.context().close();
});

test('the replicas table is live: in flight follows the traffic, without a reload or a request', { timeout: 90_000 }, async () => {
  await resetModel();
  const page = await newPage();
  await signIn(page, TEST_TOKEN);
  await openModel(page);
  await page.locator('.audit tbody tr').first().waitFor();
  await page.evaluate('window.__loadedOnce = true');
  const canary = sims['canary']![0]!;
  const inFlight = page.locator('table.replicas tr', { has: page.locator('th', { hasText: canary.url }) }).locator('td[data-label="In flight"]');

  const asked: string[] = [];
  const started = performance.now();
  page.on('request', (r) => asked.push(new URL(r.url()).pathname));
  // Slow answers from the canary, and requests pinned to it: they stay in flight for seconds.
  canary.setFaults({ latencyMs: 4_000 });
  // Their own connections: the shared client's are busy with the background load.
  const own = new TestClient(6);
  const slow = Promise.all(Array.from({ length: 6 }, () => own.post(`${rest}/v1/models/${MODEL}:predict`, '{"instances": [1.0]}', PINNED)));
  try {
    await waitFor(async () => Number(await inFlight.innerText()) >= 6, 15_000, 'the canary replica shown with 6 requests in flight');
  } finally {
    canary.clearFaults();
    await slow;
    await own.close();
  }
  await waitFor(async () => (await inFlight.innerText()) === '0', 15_000, 'in flight back to 0');
  const events = watch.events.filter((e) => e.receivedAt >= started && e.event !== 'stats').map((e) => e.event);
  assert.deepEqual(asked.filter((p) => p.startsWith('/api/models')), [], `the numbers came with the stats ticks, not from fetching the model (other events: ${events.join(', ') || 'none'})`);
  assert.equal(await page.evaluate('window.__loadedOnce'), true, 'the page was not reloaded');
  // Seconds-long canary answers would breach the latency trigger: off in this suite (RESILIENCE).
  assert.equal((await view()).state, 'canary', 'no automatic rollback for slow answers here');

  // No polling on the model page either: over three ticks the charts move and nothing is asked.
  await assertNoPolling(page, 'the model page', () => page.locator('.chart path.line').first().getAttribute('d'));
  await page.context().close();
});

test('gRPC calls show in the version card, apart from REST, live', { timeout: 60_000 }, async () => {
  await resetModel();
  const page = await newPage();
  await signIn(page, TEST_TOKEN);
  await openModel(page);
  const figure = page.locator('.card.role-stable div', { has: page.locator('dt', { hasText: 'REST · gRPC' }) }).locator('dd');
  const counts = async (): Promise<{ rest: number; grpc: number }> => {
    const [restCount, grpcCount] = (await figure.innerText()).split('·').map((t) => Number(t.trim()));
    return { rest: restCount ?? NaN, grpc: grpcCount ?? NaN };
  };
  await waitFor(async () => Number.isFinite((await counts()).grpc), 15_000, 'the REST · gRPC figure');
  const start = await counts();
  const grpc = tfServingClient(gw.grpc);
  try {
    const request = { model_spec: { name: MODEL, version_label: 'stable' }, inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: 1 }] }, float_val: [1] } } };
    for (let i = 0; i < 5; i++) await grpc.call('PredictionService', 'Predict', request);
  } finally {
    grpc.close();
  }
  // The background load is REST only: the gRPC count moves by exactly the calls made here.
  await waitFor(async () => (await counts()).grpc === start.grpc + 5, 15_000, `the stable card counts 5 more gRPC calls (from ${start.grpc})`);
  assert.ok((await counts()).rest >= start.rest);
  await page.context().close();
});

test('Pause, then Resume: the state badge and the audit log follow', { timeout: 60_000 }, async () => {
  await resetModel();
  const page = await newPage();
  await signIn(page, TEST_TOKEN);
  await openModel(page);
  assert.equal(await badge(page).innerText(), 'canary');
  const resume = page.getByRole('button', { name: 'Resume', exact: true });
  assert.equal(await resume.isDisabled(), true);

  await page.getByRole('button', { name: 'Pause', exact: true }).click();
  await actionStatus(page, 'Automation paused.').waitFor();
  await waitFor(async () => (await badge(page).innerText()) === 'paused', 10_000, 'the paused badge');
  await firstAuditRow(page).filter({ hasText: 'paused' }).filter({ hasText: 'test-operator' }).waitFor();
  assert.equal((await view()).paused, true);

  await resume.click();
  await actionStatus(page, 'Automation resumed.').waitFor();
  await waitFor(async () => (await badge(page).innerText()) === 'canary', 10_000, 'the canary badge again');
  await firstAuditRow(page).filter({ hasText: 'resumed' }).filter({ hasText: 'test-operator' }).waitFor();
  const after = await view();
  assert.deepEqual([after.paused, after.state], [false, 'canary']);
  await page.context().close();
});

test('Promote, confirmed: the canary version is stable and there is no canary', { timeout: 60_000 }, async () => {
  await resetModel();
  const page = await newPage();
  await signIn(page, TEST_TOKEN);
  await openModel(page);
  const before = await view();
  await page.getByRole('button', { name: 'Promote…' }).click();
  const question = page.getByRole('group').filter({ hasText: 'Make version 2 the stable version?' });
  await question.waitFor();
  assert.equal((await view()).revision, before.revision, 'nothing is written before the confirmation');

  await question.getByRole('button', { name: 'Confirm promotion' }).click();
  await actionStatus(page, 'Version 2 is stable now.').waitFor();
  const after = await view();
  assert.deepEqual([after.policy.stable, after.policy.canary, after.policy.percent, after.state], [2, null, 0, 'steady']);
  await waitFor(async () => (await badge(page).innerText()) === 'steady', 10_000, 'the steady badge');
  assert.equal((await latestAudit()).reason, 'promotion');
  await page.locator('.audit .reason-promotion').first().waitFor();
  await page.context().close();
});

test('Roll back by hand: percent 0 and the rolled-back state', { timeout: 60_000 }, async () => {
  await resetModel();
  const page = await newPage();
  await signIn(page, TEST_TOKEN);
  await openModel(page);
  await page.getByRole('button', { name: 'Roll back', exact: true }).click();
  await actionStatus(page, /^Rolled back \(revision \d+\)\.$/).waitFor();
  const after = await view();
  assert.deepEqual([after.policy.percent, after.state, after.rolledBack], [0, 'rolled-back', true]);
  await waitFor(async () => (await badge(page).innerText()) === 'rolled back', 10_000, 'the rolled back badge');
  assert.match(await page.locator('.banner.danger').innerText(), /Rolled back\..*test-operator/s);
  assert.equal(await page.getByLabel(/Share of unpinned traffic/).inputValue(), '0');
  const audit = await latestAudit();
  assert.deepEqual([audit.reason, audit.actor], ['rollback', 'test-operator']);
  assert.equal(await page.getByRole('button', { name: 'Roll back', exact: true }).isDisabled(), true, 'nothing left to roll back');
  await page.context().close();
});

test("an invalid rule shows the API's message beside the field and changes nothing", { timeout: 60_000 }, async () => {
  await resetModel();
  const page = await newPage();
  await signIn(page, TEST_TOKEN);
  await openModel(page);
  const before = await view();
  const audit = async () => (await latestAudit()).id;
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
  await waitFor(async () => (await nameField.getAttribute('aria-invalid')) === 'true', 10_000, 'the header field marked invalid');
  const nameError = page.locator(`#${await nameField.getAttribute('aria-describedby')}`);
  assert.equal((await nameError.innerText()).trim(), nameIssue.message);
  assert.ok(await rule.locator('.field.invalid').filter({ has: page.getByLabel('Header', { exact: true }) }).isVisible(), 'the message sits with its field');

  await nameField.fill('x-beta');
  await rule.getByLabel('Match', { exact: true }).selectOption('regex');
  await rule.getByLabel('Regular expression', { exact: true }).fill('([a-z');
  await page.getByRole('button', { name: 'Save rules' }).click();
  const regexField = rule.getByLabel('Regular expression', { exact: true });
  await waitFor(async () => (await regexField.getAttribute('aria-invalid')) === 'true', 10_000, 'the regex field marked invalid');
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

test('a failing replica shows it: ejected, breaker open, then back', { timeout: 90_000 }, async () => {
  await resetModel();
  const page = await newPage();
  await signIn(page, TEST_TOKEN);
  await openModel(page);
  const failing = sims['stable']![1]!;
  const row = page.locator('table.replicas tr', { has: page.locator('th', { hasText: failing.url }) });
  assert.equal(await row.locator('td[data-label="Ejected"]').innerText(), 'no');
  assert.equal(await row.locator('td[data-label="Breaker"]').innerText(), 'closed');

  // Its predictions fail (health checks still pass): three failures in a row eject it, and once it
  // is back, two more open its breaker (RESILIENCE). Retries keep clients served.
  failing.setFaults({ errorRate: 1, errorStatus: 503 });
  try {
    await row.locator('td[data-label="Ejected"] .badge', { hasText: /^until / }).waitFor({ timeout: 20_000 });
    await page.locator('.card.role-stable').getByText('available').waitFor();
    await row.locator('td[data-label="Breaker"] .badge', { hasText: 'open' }).waitFor({ timeout: 30_000 });
  } finally {
    failing.clearFaults();
  }
  // Readmitted, and its breaker's trial request succeeds.
  await waitFor(
    async () => (await row.locator('td[data-label="Ejected"]').innerText()).startsWith('no') && (await row.locator('td[data-label="Breaker"]').innerText()) === 'closed',
    30_000,
    'the replica back in service on the page',
  );
  assert.equal((await view()).state, 'canary', 'a failing stable replica does not roll the canary back');
  await page.context().close();
});

test('the canary fails: the rollback appears in the UI without a reload', { timeout: 60_000 }, async () => {
  await resetModel();
  const page = await newPage();
  await signIn(page, TEST_TOKEN);
  await openModel(page);
  await page.evaluate('window.__loadedOnce = true');
  assert.equal(await page.locator('.banner.danger').count(), 0);

  // The canary's replica answers 500 to every prediction; the gateway rolls it back by itself.
  const canary = sims['canary']![0]!;
  canary.setFaults({ errorRate: 1, errorStatus: 500 });
  try {
    const banner = page.locator('.banner.danger');
    await banner.waitFor({ timeout: 30_000 });
    assert.match(await banner.innerText(), /Rolled back/);
    await waitFor(async () => (await badge(page).innerText()) === 'rolled back', 10_000, 'the rolled back badge');
    assert.equal(await page.getByLabel(/Share of unpinned traffic/).inputValue(), '0');
    await page.locator('.audit .reason-rollback').first().waitFor();
    assert.equal(await page.evaluate('window.__loadedOnce'), true, 'the page was not reloaded');
    const after = await view();
    assert.equal(after.state, 'rolled-back');
    assert.equal((await latestAudit()).actor, 'rollback-controller');
  } finally {
    canary.clearFaults();
  }
  await page.context().close();
});

test('a version that appears is drawn as a dot until it has a second sample', { timeout: 60_000 }, async () => {
  // Records, for each version, what its line in the requests chart looked like when first drawn.
  const probe = `
    window.__firstDrawn = {};
    new MutationObserver(() => {
      const svg = document.querySelector('.chart-box svg');
      if (svg === null) return;
      for (const g of svg.querySelectorAll('g[data-version]')) {
        const v = g.getAttribute('data-version');
        if (v in window.__firstDrawn) continue;
        const d = g.querySelector('path')?.getAttribute('d') || '';
        window.__firstDrawn[v] = { points: (d.match(/[ML]/g) || []).length, dots: g.querySelectorAll('circle.dot').length };
      }
    }).observe(document, { childList: true, subtree: true, attributes: true });`;
  const page = await newPage(WIDE, probe);
  await signIn(page, TEST_TOKEN);
  await openModel(page, FRAUD);
  // A new version gets a pool through the API: from the next tick on, the stats carry it.
  const replica = await startSimulator({ host: '127.0.0.1', port: 0, model: FRAUD, versions: [8] });
  sims['fraud']!.push(replica);
  const reply = await api('PUT', `/api/models/${FRAUD}/pools/8/replicas`, { replicas: [replica.url] });
  assert.equal(reply.status, 200, JSON.stringify(reply.json));
  await page.locator('.chart-box svg g[data-version="8"]').first().waitFor();
  const first = ((await page.evaluate('window.__firstDrawn')) as Record<string, { points: number; dots: number }>)['8'];
  assert.deepEqual(first, { points: 1, dots: 1 }, 'one sample: a dot, since a one-point line draws nothing');
  await waitFor(async () => (await page.locator('.chart-box svg').first().locator('g[data-version="8"] circle.dot').count()) === 0, 10_000, 'the dot to become a line');
  await page.context().close();
});

test('a bad version found on the replicas: the New versions panel shows the candidate in its shadow stage, then its rejection and why; Clear is audited', { timeout: 90_000 }, async () => {
  const page = await newPage();
  await signIn(page, TEST_TOKEN);
  await openModel(page, FRAUD);
  const panel = page.locator('section[aria-labelledby="h-new-versions"]');
  await panel.getByTestId('discovered').filter({ hasText: '7 (stable)' }).waitFor();
  assert.match(await panel.innerText(), /Automatic rollout is on: .*shadow stage, then 50%, 100%, promote/);
  // Version 9 appears on both replicas, answering as half_plus_three: every comparison disagrees.
  for (const replica of sims['fraud']!.slice(0, 2)) replica.setVersionState(9, { state: 'AVAILABLE', behaviour: 'half_plus_three' });
  await panel.getByTestId('candidate').filter({ hasText: /Candidate: version 9, in its shadow stage/ }).waitFor();
  await panel.getByTestId('rejected').filter({ hasText: /Version 9, .*: shadow stage failed \(.+\): agreement 0\.0% over \d+ compared pairs/ }).waitFor({ timeout: 30_000 });
  assert.equal(await panel.getByTestId('candidate').count(), 0, 'no candidate once rejected');
  // The shadow panel and the disagreements say why: 0% agreement, both answers side by side.
  const agreement = page.locator('dl[aria-label="Comparison with version 9"] div').filter({ hasText: 'agreement' }).locator('dd');
  assert.equal((await agreement.innerText()).trim(), '0%');
  const disagreement = page.locator('section[aria-labelledby="h-disagreements"] article').first();
  assert.match(await disagreement.innerText(), /\/predictions\/0: live 2\.5, shadow 3\.5[\s\S]*live \(version 7\)[\s\S]*2\.5[\s\S]*shadow \(version 9\)[\s\S]*3\.5/);
  // The audit log says what each of those writes changed.
  for (const change of ['found v9', 'candidate none → v9', 'v9 rejected']) await page.locator('.audit tbody tr').filter({ hasText: change }).first().waitFor();
  assert.equal((await view(FRAUD)).policy.stable, 7, 'stable unchanged');
  await page.screenshot({ path: `${RESULTS}new-versions.png`, fullPage: true });

  await panel.getByRole('button', { name: 'Clear the rejection of version 9' }).click();
  await panel.getByRole('status').filter({ hasText: 'Version 9 may be tried again.' }).waitFor();
  const entries = (await api<{ entries: Array<{ actor: string; reason: string; note: string }> }>('GET', `/api/audit?model=${FRAUD}&limit=20`)).json.entries;
  assert.ok(entries.some((e) => e.actor === 'test-operator' && e.reason === 'manual' && /version 9 no longer rejected/.test(e.note)), JSON.stringify(entries));
  assert.ok(entries.some((e) => e.actor === 'version-discovery' && e.reason === 'discovery' && /found on the replicas: version 9 /.test(e.note)));
  // Version 9 unloads and automation ends, so the tests after find fraud_score steady.
  for (const replica of sims['fraud']!.slice(0, 2)) replica.setVersionState(9, 'END');
  assert.equal((await api('PUT', `/api/models/${FRAUD}/policy`, { stable: 7 })).status, 200);
  await page.context().close();
});

test('at a phone width the pages fit the screen', { timeout: 60_000 }, async () => {
  const page = await newPage(PHONE);
  await signIn(page, TEST_TOKEN);
  await page.locator(`tr[data-model="${MODEL}"]`).waitFor();
  await assertNoHorizontalScroll(page);
  await openModel(page);
  await page.locator('.audit tbody tr').first().waitFor();
  await assertNoHorizontalScroll(page);
  await page.screenshot({ path: `${RESULTS}model-phone.png`, fullPage: true });
  await page.context().close();
});

test('every event the page was sent matches the schema the page reads it by', () => {
  // The run's ejection, breaker and rollbacks sent every kind of event but the store's.
  const seen = new Set(watch.events.map((e) => e.event));
  for (const event of ['snapshot', 'stats', 'policy', 'replica', 'rollback']) assert.ok(seen.has(event), `a ${event} event was seen`);
  assert.deepEqual(streamSchemaViolations(watch.events), []);
});

test('no script error and no token in the browser console', () => {
  // Chromium logs each refused request as a resource error: the wrong token's 401, the invalid rules' 400s.
  const unexpected = consoleLines.filter((l) => !/Failed to load resource: the server responded with a status of 40[01]/.test(l));
  assert.deepEqual(unexpected.filter((l) => l.startsWith('error') || l.startsWith('pageerror')), []);
  assert.ok(!consoleLines.some((l) => l.includes(TEST_TOKEN) || l.includes(VIEWER_TOKEN)));
});

test("no token in the gateway's logs", () => {
  // The capture worked: the run's notable moments are there.
  const text = gatewayLog.join('');
  for (const expected of ['canary breach: rolling back', 'replica ejected', 'breaker open', 'rollout steps up']) {
    assert.ok(text.includes(expected), `the captured log has "${expected}" (${gatewayLog.length} lines)`);
  }
  assert.ok(!text.includes(TEST_TOKEN), 'the operator token is in the logs');
  assert.ok(!text.includes(VIEWER_TOKEN), 'the viewer token is in the logs');
});
