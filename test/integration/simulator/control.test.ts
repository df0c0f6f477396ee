/**
 * The run-time control endpoint (outside /v1): read settings, patch them, validation, counters.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startReplica, type SimulatorHandle } from '../../helpers/simulator.js';
import { call, errorOf, get, post } from './http-client.js';

const T = { timeout: 15_000 };
const M = '/v1/models/half_plus_two';

const put = (url: string, body: string): ReturnType<typeof call> => call(url, 'PUT', '/_sim/control', { body, headers: { 'Content-Type': 'application/json' } });

describe('control endpoint', () => {
  let sim: SimulatorHandle;
  before(async () => {
    sim = await startReplica({ versions: [1, 2] });
  });
  after(() => sim.close());

  it('GET /_sim/control returns the current settings', T, async () => {
    const r = await get(sim.url, '/_sim/control');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(r.body), {
      model: 'half_plus_two',
      behaviour: 'half_plus_two',
      versions: {
        '1': { state: 'AVAILABLE', errorCode: 'OK', errorMessage: '', behaviour: 'half_plus_two' },
        '2': { state: 'AVAILABLE', errorCode: 'OK', errorMessage: '', behaviour: 'half_plus_two' },
      },
      labels: {},
      faults: { errorRate: 0, errorStatus: 500, errorMessage: null, latencyMs: 0, jitterMs: 0, hang: false, resetRate: 0, scope: 'inference' },
    });
  });

  it('PUT /_sim/control patches faults, versions and labels; the replica follows', T, async () => {
    const r = await put(sim.url, JSON.stringify({ faults: { errorRate: 1, errorStatus: 504 }, versions: { '2': 'UNLOADING', '3': { state: 'AVAILABLE' } }, labels: { canary: 3 } }));
    assert.equal(r.status, 200, r.body);
    const settings = JSON.parse(r.body) as { faults: { errorRate: number; errorStatus: number }; versions: Record<string, { state: string }>; labels: Record<string, string> };
    assert.equal(settings.faults.errorRate, 1);
    assert.equal(settings.faults.errorStatus, 504);
    assert.deepEqual(Object.keys(settings.versions), ['1', '2', '3']);
    assert.equal(settings.versions['2']?.state, 'UNLOADING');
    assert.deepEqual(settings.labels, { canary: '3' });

    const failed = await post(sim.url, `${M}:predict`, '{"instances":[1]}');
    assert.equal(failed.status, 504);
    assert.equal(failed.statusText, 'Gateway Time-out');
    assert.equal(errorOf(failed), 'tfserving-sim injected fault: DEADLINE_EXCEEDED');

    const cleared = await call(sim.url, 'PATCH', '/_sim/control', { body: '{"faults":{"errorRate":0}}' });
    assert.equal(cleared.status, 200);
    assert.equal((await post(sim.url, `${M}/labels/canary:predict`, '{"instances":[1]}')).status, 200);
    assert.equal((await post(sim.url, `${M}/versions/2:predict`, '{"instances":[1]}')).status, 404);
    assert.ok((await get(sim.url, M)).body.includes('"state": "UNLOADING"'));
    assert.equal(sim.settings().labels['canary'], '3');
  });

  it('invalid patches are refused with 400 and a clear message, nothing applied', T, async () => {
    const before = sim.settings();
    const cases: Array<[string, string]> = [
      ['{"faults":{"errorRate":1.5}}', 'faults.errorRate must be a number between 0 and 1'],
      ['{"faults":{"errorStatus":418}}', 'faults.errorStatus must be one of 400, 401, 403, 404, 409, 429, 499, 500, 501, 503, 504'],
      ['{"faults":{"errorRate":1},"versions":{"1":"BROKEN"}}', 'versions["1"] must be one of UNKNOWN, START, LOADING, AVAILABLE, UNLOADING, END'],
      ['{"faults":{"latency":5}}', 'unknown field faults.latency (known: errorRate, errorStatus, errorMessage, latencyMs, jitterMs, hang, resetRate, scope)'],
      ['{"version":{}}', 'unknown field version (known: faults, versions, labels)'],
      ['[1]', 'the body must be a JSON object with any of "faults", "versions", "labels"'],
    ];
    for (const [body, message] of cases) {
      const r = await put(sim.url, body);
      assert.equal(r.status, 400, body);
      assert.deepEqual(JSON.parse(r.body), { error: message }, body);
    }
    const notJson = await put(sim.url, '{faults');
    assert.equal(notJson.status, 400);
    assert.match(errorOf(notJson), /^invalid JSON: /);
    assert.deepEqual(sim.settings(), before);
  });

  it('GET /_sim/counters reports, DELETE resets; control requests are not counted', T, async () => {
    await call(sim.url, 'DELETE', '/_sim/counters');
    await post(sim.url, `${M}:predict`, '{"instances":[1]}');
    await get(sim.url, '/_sim/control');
    const r = await get(sim.url, '/_sim/counters');
    const counters = JSON.parse(r.body) as { total: number; byOperation: { predict: number } };
    assert.equal(counters.total, 1);
    assert.equal(counters.byOperation.predict, 1);
    const reset = await call(sim.url, 'DELETE', '/_sim/counters');
    assert.equal((JSON.parse(reset.body) as { total: number }).total, 0);
    assert.equal(sim.counters().total, 0);
  });

  it('unknown control paths and methods', T, async () => {
    const unknown = await get(sim.url, '/_sim/nope');
    assert.equal(unknown.status, 404);
    assert.match(errorOf(unknown), /unknown control endpoint \/_sim\/nope/);
    const wrong = await call(sim.url, 'POST', '/_sim/control', { body: '{}' });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers['allow'], 'GET, PUT, PATCH');
  });
});

describe('control endpoint disabled', () => {
  let sim: SimulatorHandle;
  before(async () => {
    sim = await startReplica({ controlEndpoint: false });
  });
  after(() => sim.close());

  it('/_sim/ paths are just paths outside /v1: the libevent 404 page', T, async () => {
    const r = await get(sim.url, '/_sim/control');
    assert.equal(r.status, 404);
    assert.equal(r.headers['content-type'], 'text/html');
  });
});

describe('handle API', () => {
  it('update() validates like the endpoint and throws on bad input', T, async (t) => {
    const sim = await startReplica();
    t.after(() => sim.close());
    assert.throws(() => sim.setFaults({ errorRate: -1 }), /faults.errorRate must be a number between 0 and 1/);
    assert.throws(() => sim.setVersionState('x', 'END'), /must be a non-negative integer version number/);
    const s = sim.update({ labels: { stable: 1 }, faults: { latencyMs: 5 } });
    assert.deepEqual(s.labels, { stable: '1' });
    assert.equal(s.faults.latencyMs, 5);
    assert.equal(sim.setLabel('stable', null).labels['stable'], undefined);
  });

  it('invalid options make startSimulator reject', T, async () => {
    await assert.rejects(startReplica({ faults: { errorStatus: 302 } }), /faults.errorStatus/);
    await assert.rejects(startReplica({ versions: [] }), /at least one version/);
    await assert.rejects(startReplica({ model: '' }), /model name must not be empty/);
  });
});
