/**
 * The bench's own arithmetic and parsing, which no run checks by itself: h2load's report read into
 * figures, the latency section's ratios (none against a noise-level divisor), and the gRPC request
 * body (a length-prefixed PredictRequest as TF Serving reads it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readMessages } from '../../../gateway/src/tfserving/grpc-wire.js';
import { messageCodec, type PredictRequestMessage } from '../../../gateway/src/tfserving/protos.js';
import { parseH2load } from '../../../scripts/bench/h2load.js';
import { largePredict, smallPredict } from '../../../scripts/bench/grpc-messages.js';
import { latencyRatios } from '../../../scripts/bench/latency-section.js';
import { slowBursts } from '../../../scripts/bench/stats.js';
import { callgrindGcInstructions, callgrindTotal, floorPauseCost, instructionFigures, pauseCostPerSecond } from '../../../scripts/bench/callgrind.js';
import { readOptions, UsageError } from '../../../scripts/bench/options.js';
import { fileURLToPath } from 'node:url';
import type { FixedRateTarget } from '../../../scripts/bench/report.js';
import { controlPlaneMarkdown, type ProbeFigures } from '../../../scripts/bench/control-plane.js';

const H2LOAD_REPORT = `starting benchmark...
spawning thread #0: 5 total client(s). Timing-based test with 0s of warm-up time and 3s of main duration for measurements.
Warm-up phase is over for thread #0.
Main benchmark duration is over for thread #0. Stopping all clients.

finished in 3.00s, 8306.33 req/s, 1.01MB/s
requests: 24919 total, 25019 started, 24919 done, 24900 succeeded, 19 failed, 7 errored, 3 timeout
status codes: 24890 2xx, 0 3xx, 0 4xx, 10 5xx
traffic: 3.05MB (3195392) total, 511.10KB (523361) headers (space savings 93.01%), 1.86MB (1944000) data
                     min         max         mean         sd        +/- sd
time for request:      312us     71.52ms     11.83ms      4.20ms    80.12%
time for connect:      123us       421us       250us        90us    60.00%
`;

test('h2load: calls/s, done calls, failures (errors, timeouts and non-2xx answers), mean and max time', () => {
  assert.deepEqual(parseH2load(H2LOAD_REPORT), { rps: 8306.33, requests: 24919, failed: 19 + 10, meanMs: 11.83, maxMs: 71.52 });
  assert.throws(() => parseH2load('h2load: connection refused'), /cannot read h2load's report/);
});

const target = (key: string, addedP99Ms: number | undefined, cpuUsPerRequest: number | undefined): FixedRateTarget => ({
  key,
  label: key,
  p50Ms: 1,
  p99Ms: 2,
  p999Ms: 3,
  addedP50Ms: addedP99Ms,
  addedP99Ms,
  addedP999Ms: addedP99Ms,
  cpuUsPerRequest,
  mainThreadCpuUsPerRequest: cpuUsPerRequest === undefined ? undefined : cpuUsPerRequest * 0.9,
  serviceP99Ms: 2,
  sendLagP99Ms: 0,
  achievedRate: 2000,
  failed: 0,
  failures: {},
  runs: [],
});

test('latency ratios: the gateway against the floor and nginx; n/a where the divisor is noise', () => {
  const base = { rate: 2000, connections: 50, rounds: 2 };
  const r = latencyRatios({ ...base, targets: [target('direct', undefined, undefined), target('nginx', 0.2, 12), target('floor', 0.4, 36), target('gateway', 0.5, 40)] });
  assert.equal(r.gatewayVsFloorP99, 1.25);
  assert.equal(r.gatewayVsNginxP99, 2.5);
  assert.equal(r.gatewayVsFloorCpu, 1.11);
  const noisy = latencyRatios({ ...base, targets: [target('direct', undefined, undefined), target('nginx', -0.1, 12), target('floor', 0, 36), target('gateway', 0.5, 40)] });
  assert.equal(noisy.gatewayVsFloorP99, undefined);
  assert.equal(noisy.gatewayVsNginxP99, undefined);
  assert.equal(r.gatewayVsBaselineCpu, undefined, 'no baseline build ran');
  const ab = latencyRatios({ ...base, targets: [target('direct', undefined, undefined), target('floor', 0.4, 36), target('gateway', 0.5, 40), target('baseline', 0.4, 50)] });
  assert.equal(ab.gatewayVsBaselineP99, 1.25);
  assert.equal(ab.gatewayVsBaselineCpu, 0.8);
});

test('gRPC bodies: one length-prefixed PredictRequest for half_plus_two; the large one carries its bytes in tensor_content', () => {
  const codec = messageCodec<PredictRequestMessage>('tensorflow.serving.PredictRequest');
  const [small] = readMessages(smallPredict()) ?? [];
  assert.ok(small !== undefined && !small.compressed);
  const request = codec.decode(small.payload);
  assert.equal(request.model_spec?.name, 'half_plus_two');
  assert.deepEqual(request.inputs?.['x']?.float_val, [1, 2, 5]);
  const large = readMessages(largePredict(1024));
  assert.equal(large?.length, 1);
  const x = codec.decode(large?.[0]?.payload ?? Buffer.alloc(0)).inputs?.['x'];
  assert.equal(x?.tensor_content?.length, 1024);
  assert.equal(x?.tensor_shape?.dim?.[0]?.size, '256');
});

test('the slowest 1% in bursts: one stall is one burst holding all of them; a tail spread over the run is many small ones', () => {
  const interval = 0.5; // 2,000 req/s
  const due = (i: number): number => i * interval;
  // 10,000 requests at 1 ms; a 300 ms stall from 3 s: the 600 requests due in it wait up to 300 ms.
  const stalled = new Float64Array(10_000).fill(1);
  for (let i = 6_000; i < 6_600; i++) stalled[i] = 300 - (i - 6_000) * interval;
  const stall = slowBursts(stalled, due);
  assert.equal(stall.count, 100);
  assert.equal(stall.bursts.length, 1);
  assert.deepEqual(stall.bursts[0], { atS: 3, spanMs: 49.5, count: 100, maxMs: 300 });
  assert.equal(stall.largestShare, 1);
  // One slow request in every hundred, evenly: 100 bursts of one, five reported, the largest 1%.
  const spread = new Float64Array(10_000).fill(1);
  for (let i = 50; i < 10_000; i += 100) spread[i] = 5;
  const even = slowBursts(spread, due);
  assert.equal(even.bursts.length, 5);
  assert.ok(even.bursts.every((b) => b.count === 1 && b.maxMs === 5 && b.spanMs === 0));
  assert.equal(even.largestShare, 0.01);
  // Fewer than 100 requests: the single slowest.
  assert.equal(slowBursts(Float64Array.from([1, 9, 2]), due).count, 1);
  assert.equal(slowBursts(Float64Array.from([1, 9, 2]), due).bursts[0]?.maxMs, 9);
});

test('--baseline: the built entry point of another checkout; a directory without one is a usage error', () => {
  // This test runs from dist/test/unit/bench: the checkout is four levels up.
  const checkout = fileURLToPath(new URL('../../../../', import.meta.url));
  const options = readOptions(['--baseline', checkout]);
  assert.ok(options !== 'help');
  assert.equal(options.baselineMain, fileURLToPath(new URL('../../../gateway/src/main.js', import.meta.url)));
  assert.throws(() => readOptions(['--baseline', fileURLToPath(new URL('./', import.meta.url))]), UsageError);
  const plain = readOptions([]);
  assert.ok(plain !== 'help' && plain.baselineMain === undefined);
});

test('bench:instructions: a dump\'s total; periodic work (what pauses cost beyond the floor\'s) taken out of the per-request figure', () => {
  const dump = ['# callgrind format', 'version: 1', 'events: Ir', 'summary: 1218005086', '', 'fn=(1) main', '0 5', 'totals: 1218005091', ''].join('\n');
  assert.equal(callgrindTotal(dump), 1218005091);
  assert.equal(callgrindTotal('events: Ir\nsummary: 42\n'), 42);
  assert.throws(() => callgrindTotal('events: Ir\n'), /not a callgrind output file/);
  // Back to back, 1,500 requests took 10 s and 400M; with pauses, 25 s and 460M: 4M per second of
  // pauses. The floor's pauses cost 2M a second, so the other 2M are this process's periodic work.
  const steady = { instructions: 400e6, gcInstructions: 0, seconds: 10 };
  const stretched = { instructions: 460e6, gcInstructions: 0, seconds: 25 };
  assert.equal(pauseCostPerSecond(steady, stretched), 4e6);
  const floorOf = (all: number, withoutGc = all) => ({ all, withoutGc });
  const f = instructionFigures(1500, steady, stretched, floorOf(2e6));
  assert.equal(f.periodicPerSecond, 2e6);
  assert.ok(Math.abs(f.perRequest - 400e6 / 1500) < 1e-6);
  assert.ok(Math.abs(f.perRequestNet - 380e6 / 1500) < 1e-6);
  // The floor against itself: no periodic work, the figure as counted.
  assert.equal(instructionFigures(1500, steady, stretched, floorPauseCost(steady, stretched)).perRequestNet, 400e6 / 1500);
  // Pauses that cost less than the floor's mean no periodic work, not a negative amount.
  assert.equal(instructionFigures(10, { instructions: 100, gcInstructions: 0, seconds: 1 }, { instructions: 90, gcInstructions: 0, seconds: 2 }, floorOf(0)).perRequestNet, 10);
  assert.throws(() => instructionFigures(0, steady, stretched, floorOf(0)), /no requests/);
  assert.throws(() => pauseCostPerSecond(stretched, steady), /not longer/);
});

test('bench:instructions: garbage collection counted apart, from the calls into Heap::CollectGarbage, callees included', () => {
  const collect = 'v8::internal::Heap::CollectGarbage(v8::internal::AllocationSpace, v8::internal::GarbageCollectionReason, v8::GCCallbackFlags)';
  // Two callers, the name written in full the first time and by id after; a call to another function between them.
  const dump = [
    'events: Ir',
    'summary: 1000',
    'fn=(1) v8::internal::Heap::AllocateRawWithRetryOrFailSlowPath(int)',
    '0 7',
    `cfn=(2) ${collect}`,
    'calls=2 0',
    '0 300',
    'cfn=(3) malloc',
    'calls=9 0',
    '+2 50',
    'fn=(4) Builtins_AllocateInYoungGeneration',
    `cfn=(2)`,
    'calls=1 0',
    '* 120',
    'fn=(2)',
    '0 420',
    '',
  ].join('\n');
  assert.equal(callgrindGcInstructions(dump), 420);
  assert.equal(callgrindGcInstructions('events: Ir\nsummary: 5\nfn=(1) main\n0 5\n'), 0);
  // A window whose GC fell differently: the figure without it sees through that, and through the
  // GC of the periodic work (the stretched window's) too.
  const floor = floorPauseCost({ instructions: 400e6, gcInstructions: 20e6, seconds: 10 }, { instructions: 470e6, gcInstructions: 45e6, seconds: 25 });
  assert.equal(floor.all, 70e6 / 15);
  assert.equal(floor.withoutGc, 3e6);
  const g = instructionFigures(1000, { instructions: 520e6, gcInstructions: 60e6, seconds: 10 }, { instructions: 600e6, gcInstructions: 80e6, seconds: 25 }, floor);
  assert.equal(g.gcPerRequest, 60e3);
  // Without GC: 460M in 10 s; pauses cost (520M - 460M) / 15 s = 4M a second, 1M beyond the floor's: 450M over 1,000 requests.
  assert.ok(Math.abs(g.perRequestNetWithoutGc - 450e3) < 1e-6);
});

test("control plane: the sliced runs' slices over 1 ms listed one by one, switches and GC included; the whole runs' left out", () => {
  const passes = { controller: { slices: 10, maxUnits: 4, maxMs: 2.5, p99Ms: 0.2, maxCpuMs: 1.9, p99CpuMs: 0.1, overOneMsCpu: 1, overOneMsCpuWithGc: 0 } };
  const figures = (costly: ProbeFigures['costly'], scavenge: ProbeFigures['gc']['scavenge'] = null): ProbeFigures => ({
    cpuClock: 'thread',
    loopDelay: { maxMs: 3, p99Ms: 1.2, p999Ms: 2, meanMs: 1 },
    passes,
    costly,
    gc: { count: 2, totalMs: 2.5, maxMs: 1.5, p99Ms: 1.5, overOneMs: 1, scavenge },
  });
  const text = controlPlaneMarkdown({
    models: 100,
    replicas: 200,
    sessions: 10,
    durationS: 10,
    semiSpaceMiB: 2,
    runs: [
      { mode: 'before', streamBytes: 0, figures: figures([{ work: 'stats', cpuMs: 8.4, wallMs: 9, switchesIn: 0, gc: false, atS: 1 }]) },
      { mode: 'after', streamBytes: 0, figures: figures([{ work: 'controller', cpuMs: 1.9, wallMs: 2.5, switchesIn: 2, gc: true, atS: 4.25 }], { count: 2, survivedKiB: 108, promotedKiB: 47, allocatedMiBPerS: 9.5, oldMiB: 47.2, meanPauseMs: 1.1 }) },
      { mode: 'after', streamBytes: 0, figures: figures([], { count: 3, survivedKiB: 113, promotedKiB: 50, allocatedMiBPerS: 8.25, oldMiB: 46.6, meanPauseMs: 1.2 }) },
    ],
  });
  assert.match(text, /\| 2 \| 4\.3 \| controller \| 1\.900 \| 2\.500 \| 2 \| yes \|/);
  assert.doesNotMatch(text, /\| stats \| 8\.400 \|/, 'the unsliced run is not listed');
  assert.match(text, /young generation 2 MiB a semi-space\)/, 'the young generation it ran with is named');
  // Pauses summed over the runs of a mode, then divided by their count: 5 ms in 4 pauses; what
  // the scavenges copied, each run's median; a run without scavenges a dash.
  assert.match(text, /\| \*\*after \(sliced\)\*\* \| 3\.00 \| 1\.20 \| 2\.00 \| 4 \| 1\.25 \| 1\.50 \| 2 \| 108, 113 \| 47, 50 \|/);
  assert.match(text, /\| before \(each pass whole\) \| .* \| – \| – \|/);
});

test("control plane: the GC floor's row, and the sliced gateway's scavenges against the floor's", () => {
  const passes = { controller: { slices: 10, maxUnits: 4, maxMs: 0.5, p99Ms: 0.2, maxCpuMs: 0.4, p99CpuMs: 0.1, overOneMsCpu: 0, overOneMsCpuWithGc: 0 } };
  const gc = (count: number, totalMs: number, maxMs: number, overOneMs: number, survivedKiB: number, scavenges: number, meanPauseMs: number): ProbeFigures['gc'] => ({
    count,
    totalMs,
    maxMs,
    p99Ms: maxMs,
    overOneMs,
    scavenge: { count: scavenges, survivedKiB, promotedKiB: 4, allocatedMiBPerS: 9.46, oldMiB: 47.2, meanPauseMs },
  });
  const figures = (g: ProbeFigures['gc']): ProbeFigures => ({ cpuClock: 'thread', loopDelay: { maxMs: 3, p99Ms: 1.2, p999Ms: 2, meanMs: 1 }, passes, costly: [], gc: g });
  const base = {
    models: 100,
    replicas: 200,
    sessions: 10,
    durationS: 10,
    semiSpaceMiB: 8,
    runs: [
      { mode: 'before' as const, streamBytes: 0, figures: figures(gc(10, 40, 6, 10, 300, 9, 3)) },
      // Full collections among the pauses (10 pauses, 8 of them scavenges): not in the ratio.
      { mode: 'after' as const, streamBytes: 0, figures: figures(gc(10, 30, 8, 9, 110, 8, 2)) },
      { mode: 'after' as const, streamBytes: 0, figures: figures(gc(10, 22, 3, 10, 120, 12, 1.5)) },
    ],
  };
  const text = controlPlaneMarkdown({ ...base, floors: [gc(10, 11, 1.5, 4, 5, 10, 1.1), gc(10, 13, 1.8, 6, 6, 10, 1.3)] });
  // The floor's pauses over its runs: 24 ms in 20, 1.20 ms. Scavenges weighted by their count: the
  // gateway (8 x 2 + 12 x 1.5) / 20 = 1.70 ms, the floor 1.20 ms: 1.42x. The whole passes' run is
  // not in the ratio.
  assert.match(text, /\| GC floor \(bare Node: [^|]*\) \| – \| – \| – \| 20 \| 1\.20 \| 1\.80 \| 10 \| 5, 6 \| 4, 4 \|/);
  assert.match(text, /scavenges against the GC floor's \([^)]*47 MiB old at 9\.5 MiB\/s; 47 MiB old at 9\.5 MiB\/s\): a mean pause of 1\.70 against 1\.20 ms, \*\*1\.42x\*\*/);
  assert.doesNotMatch(controlPlaneMarkdown(base), /GC floor/, 'no floor measured, no row');
});

test('control plane: the survivors run, when asked for, is a table of sites with their KiB per window', () => {
  const passes = { controller: { slices: 10, maxUnits: 4, maxMs: 0.5, p99Ms: 0.2, maxCpuMs: 0.4, p99CpuMs: 0.1, overOneMsCpu: 0, overOneMsCpuWithGc: 0 } };
  const figures: ProbeFigures = { cpuClock: 'thread', loopDelay: { maxMs: 3, p99Ms: 1.2, p999Ms: 2, meanMs: 1 }, passes, costly: [], gc: { count: 1, totalMs: 1.5, maxMs: 1.5, p99Ms: 1.5, overOneMs: 1, scavenge: null } };
  const base = { models: 100, replicas: 200, sessions: 10, durationS: 10, semiSpaceMiB: 8, runs: [{ mode: 'after' as const, streamBytes: 0, figures }] };
  const survivors = { windows: 10, windowMs: 1000, totalBytes: 215_040, sites: [{ site: 'processTimers node:internal/timers:504', bytes: 45_260 }, { site: 'setTimeout node_modules/undici/lib/dispatcher/client-h1.js:251', bytes: 28_262 }] };
  const text = controlPlaneMarkdown({ ...base, survivors });
  assert.match(text, /still alive: \*\*210\.0 KiB\*\* per window/);
  assert.match(text, /mean of 10 windows/);
  assert.match(text, /\| `processTimers node:internal\/timers:504` \| 44\.2 \|/);
  assert.match(text, /\| `setTimeout node_modules\/undici\/lib\/dispatcher\/client-h1\.js:251` \| 27\.6 \|/);
  assert.doesNotMatch(controlPlaneMarkdown(base), /would copy/, 'no survivors run, no table');
});
