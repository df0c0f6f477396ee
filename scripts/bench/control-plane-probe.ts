#!/usr/bin/env node
/**
 * The control-plane bench's gateway: a real gateway (buildGateway, as `serve` runs it) with many
 * models and a large pool, built in this process so that the event loop it runs on can be watched
 * from inside: perf_hooks' event-loop delay histogram (what a request waiting on the loop would
 * feel) and every slice of the periodic passes (runtime/slices.ts: how long each ran, on how many
 * units). Nothing else runs in this process: the event stream's clients are the parent's.
 *
 *   node control-plane-probe.js --ports 8001,8002,... [--models 100] [--big 200] [--unsliced]
 *
 * Prints `control-plane probe admin <url>` once listening. Then, on an IPC message
 * `{ measure: seconds }`, starts over its figures, waits that long and answers with a
 * ProbeFigures message. Exits when its parent goes away.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { buildGateway } from '../../gateway/src/app.js';
import { resolveConfig } from '../../gateway/src/config/load.js';
import { createLogger } from '../../gateway/src/observability/logger.js';
import { observeSlices, unboundSlices } from '../../gateway/src/runtime/slices.js';
import { threadCpuClock } from '../lib/thread-cpu.js';
import { GcWatch, p99 } from './gc-watch.js';
import { round3 } from './stats.js';
import { MAX_COSTLY_LISTED, PROBE_TOKEN, TARGET_BLOCKING_MS, type CostlySlice, type ProbeFigures, type SliceFigures } from './control-plane.js';

function config(ports: readonly number[], models: number, big: number): unknown {
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const document: Record<string, unknown> = {};
  const policy = { stable: 1, canary: 2, percent: 10 };
  // One model with two pools of `big` replicas; the others with two small pools, every model a
  // canary, so the controller judges each of them four times a second.
  document['m0'] = { pools: { '1': { replicas: urls.slice(0, big) }, '2': { replicas: urls.slice(0, big) } }, policy };
  for (let m = 1; m < models; m++) {
    const a = urls[(2 * m) % urls.length] as string;
    const b = urls[(2 * m + 1) % urls.length] as string;
    document[`m${m}`] = { pools: { '1': { replicas: [a, b] }, '2': { replicas: [b, a] } }, policy };
  }
  return {
    listeners: { rest: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
    admin: { tokens: [{ name: 'bench', token: PROBE_TOKEN, role: 'viewer' }] },
    store: { type: 'memory' },
    models: document,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ports: { type: 'string' },
      models: { type: 'string', default: '100' },
      big: { type: 'string', default: '200' },
      unsliced: { type: 'boolean', default: false },
    },
  });
  const ports = (values.ports ?? '').split(',').filter(Boolean).map(Number);
  const models = Number(values.models);
  const big = Math.min(Number(values.big), ports.length);
  if (ports.length === 0 || !Number.isInteger(models) || models < 1) throw new Error('--ports and --models are needed');
  unboundSlices(values.unsliced === true);
  // The event loop's own thread: a slice's cost without V8's and libuv's other threads.
  const cpu = threadCpuClock();
  // A slice reads the clock twice, at its start and its end, then reports: the switches-in count
  // at each reading gives the switches during the slice. (Readings in any other pattern, a slice
  // inside another, would leave it unknown.)
  let readings = 0;
  let switchesBefore = 0;
  let switchesAfter = 0;
  const clock = (): number => {
    readings++;
    switchesBefore = switchesAfter;
    const ms = cpu.clock();
    switchesAfter = cpu.switchesIn();
    return ms;
  };
  let measuredFrom = performance.now();
  const costly: Array<Omit<CostlySlice, 'gc'> & { readonly from: number; readonly to: number }> = [];
  const passes = new Map<string, { maxUnits: number; wall: number[]; cpu: number[]; costly: Array<[number, number]> }>();
  observeSlices((work, units, _items, ms, cpuMs) => {
    const switched = cpu.kind === 'thread' && readings === 2 ? switchesAfter - switchesBefore : null;
    readings = 0;
    let p = passes.get(work);
    if (p === undefined) passes.set(work, (p = { maxUnits: 0, wall: [], cpu: [], costly: [] }));
    p.wall.push(ms);
    p.cpu.push(cpuMs);
    if (units > p.maxUnits) p.maxUnits = units;
    if (cpuMs > TARGET_BLOCKING_MS) {
      // When it ran, to be matched with the GC pauses.
      const to = performance.now();
      p.costly.push([to - ms, to]);
      if (costly.length < MAX_COSTLY_LISTED) costly.push({ work, cpuMs: round3(cpuMs), wallMs: round3(ms), switchesIn: switched, atS: round3((to - measuredFrom) / 1000), from: to - ms, to });
    }
  }, clock);
  /** Whether a garbage collection pause overlapped [from, to]. */
  const withGc = ([from, to]: [number, number]): boolean => gc.pauses.some((g) => g.startTime < to && g.startTime + g.duration > from);
  const figuresOf = (p: { maxUnits: number; wall: number[]; cpu: number[]; costly: Array<[number, number]> }): SliceFigures => ({
    slices: p.wall.length,
    maxUnits: p.maxUnits,
    maxMs: round3(Math.max(...p.wall)),
    p99Ms: round3(p99(p.wall)),
    maxCpuMs: round3(Math.max(...p.cpu)),
    p99CpuMs: round3(p99(p.cpu)),
    overOneMsCpu: p.cpu.filter((x) => x > TARGET_BLOCKING_MS).length,
    overOneMsCpuWithGc: p.costly.filter(withGc).length,
  });
  // Garbage collection pauses, which land inside whatever slice allocated last.
  const gc = new GcWatch();
  const gateway = await buildGateway({ config: resolveConfig(config(ports, models, big), 'control-plane bench', {}), logger: createLogger('warn') });
  const addresses = await gateway.listen();
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const stop = (): void => {
    void gateway.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);
  process.on('message', (message: { measure?: number }) => {
    const seconds = message.measure;
    if (typeof seconds !== 'number') return;
    histogram.reset();
    passes.clear();
    costly.length = 0;
    gc.restart();
    measuredFrom = performance.now();
    setTimeout(() => {
      const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
      const figures: ProbeFigures = {
        cpuClock: cpu.kind,
        loopDelay: { maxMs: ms(histogram.max), p99Ms: ms(histogram.percentile(99)), p999Ms: ms(histogram.percentile(99.9)), meanMs: ms(histogram.mean) },
        passes: Object.fromEntries([...passes].map(([work, p]) => [work, figuresOf(p)])),
        costly: costly.map(({ from, to, ...slice }) => ({ ...slice, gc: withGc([from, to]) })),
        gc: gc.figures(),
      };
      process.send?.(figures);
    }, seconds * 1000);
  });
  process.stdout.write(`control-plane probe admin http://127.0.0.1:${addresses.admin.port}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`control-plane probe: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
