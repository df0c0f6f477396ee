/**
 * What the event stream's stats pass builds for its clients (each replica's view as JSON, the
 * frame's pieces) dies young: after the pass, two young collections forced in a row leave the old
 * generation about as it was, where a pass whose generator kept its context (one declared inside
 * the pass, docs/performance.md: what a scavenge copies) had every frame's strings promoted. And
 * while the pass runs, the frame built so far is bytes outside the heap, not strings a young
 * collection would copy.
 * In process, with `gc` exposed at run time; the stream's reader drops what it reads.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { observeSlices } from '../../../gateway/src/runtime/slices.js';
import { runInNewContext } from 'node:vm';
import { request } from 'undici';
import { startTestGateway, TEST_TOKEN, waitFor, type TestGateway } from '../../helpers/gateway.js';
import { startStatusReplicas, type StatusReplicas } from '../../helpers/status-replicas.js';

const REPLICAS = 200;
const MODELS = 4;
const ROUNDS = 7;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (options?: { type: 'minor' | 'major' }) => void;

const oldSpaceUsed = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')?.space_used_size ?? 0;
const newSpaceUsed = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_used_size ?? 0;

let replicas: StatusReplicas;
let gw: TestGateway;
let abort: AbortController;
let bytes = 0;

before(async () => {
  replicas = await startStatusReplicas(REPLICAS);
  const policy = { stable: 1, canary: 2, percent: 10 };
  const models: Record<string, unknown> = {};
  for (let m = 0; m < MODELS; m++) models[`m${m}`] = { pools: { '1': { replicas: replicas.urls }, '2': { replicas: replicas.urls } }, policy };
  // Checked once at the start, then not for an hour: the checks' own garbage stays out of the figures.
  gw = await startTestGateway({ models, healthCheck: { intervalMs: 3_600_000 } });
  abort = new AbortController();
  const res = await request(`${gw.admin}/api/events`, { headers: { authorization: `Bearer ${TEST_TOKEN}`, accept: 'text/event-stream' }, signal: abort.signal, bodyTimeout: 0 });
  assert.equal(res.statusCode, 200);
  res.body.on('data', (chunk: Buffer) => (bytes += chunk.length));
  res.body.on('error', () => {});
  // The snapshot and a few stats frames: every pass has run with a client, and its code is warm.
  await waitFor(() => bytes > 1_000_000, 15_000, 'the snapshot and stats frames');
});

after(async () => {
  abort?.abort();
  await gw?.close();
  await replicas?.close();
});

test("a stats pass's strings do not outlive it through young collections", async (t) => {
  const growth: number[] = [];
  const frames: number[] = [];
  gc();
  for (let round = 0; round < ROUNDS; round++) {
    const before = oldSpaceUsed();
    const read = bytes;
    // A tick (once a second) and its pass, then what is left of them pushed out of the young generation.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    gc({ type: 'minor' });
    gc({ type: 'minor' });
    growth.push(oldSpaceUsed() - before);
    frames.push(bytes - read);
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const frame = median(frames);
  t.diagnostic(`old generation growth per round: ${growth.join(', ')} bytes; stats frames of ${frame} bytes`);
  // 1,600 replicas' views: a frame of hundreds of kilobytes, whose strings are about as many bytes again in the heap.
  assert.ok(frame > 200_000, `a stats frame of ${frame} bytes`);
  assert.ok(median(growth) < frame / 4, `the old generation grew ${median(growth)} bytes a round (rounds: ${growth.join(', ')}), against frames of ${frame} bytes`);
});

test('a young collection in the middle of a stats pass finds little of the frame alive', async (t) => {
  // 1,600 replicas' views at 8 a step: a pass takes at least 100 slices of 16 units. One young
  // collection at the 60th leaves in the young generation what survived it: with the frame kept
  // as strings until written, the three-fifths of it built so far.
  const survived: number[] = [];
  let slicesThisPass = 0;
  observeSlices((work) => {
    if (work !== 'event-stream stats') return;
    if (++slicesThisPass !== 60 || survived.length >= 5) return;
    gc({ type: 'minor' });
    survived.push(newSpaceUsed());
  });
  try {
    const read = bytes;
    for (let round = 0; round < 7 && survived.length < 5; round++) {
      slicesThisPass = 0;
      await new Promise((resolve) => setTimeout(resolve, 1_100));
    }
    const frame = (bytes - read) / 7;
    const median = [...survived].sort((a, b) => a - b)[Math.floor(survived.length / 2)] as number;
    t.diagnostic(`young generation after a collection mid-pass: ${survived.join(', ')} bytes; stats frames of about ${Math.round(frame)} bytes`);
    assert.ok(survived.length >= 3, `${survived.length} collections mid-pass`);
    assert.ok(median < frame / 3, `${median} bytes survived a young collection mid-pass (${survived.join(', ')}), against frames of ${Math.round(frame)} bytes`);
  } finally {
    observeSlices(undefined);
  }
});
