#!/usr/bin/env node
/**
 * Open-loop load at a fixed rate, the way wrk2 does it: request i is due at start + i / rate
 * whether or not earlier ones have been answered, and its latency is counted from that due time.
 * A closed-loop tool (wrk, autocannon) waits for an answer before it sends the next request, so a
 * stall delays the requests that would have seen it and the stall vanishes from the percentiles
 * (coordinated omission); here a stall shows up in every request that was due during it.
 *
 *   node dist/scripts/bench/loadgen.js --url URL --rate 2000 --duration 10 --warmup 2 --connections 50
 *     [--grpc-body FILE]   unary gRPC calls to the URL's path (HTTP/2), FILE the length-prefixed message
 *
 * Prints `loadgen ready` as its schedule starts, `loadgen window-start` as it sends the first
 * measured request, `loadgen window-end` once the last measured one is answered (so the bench can
 * read the target's CPU time over exactly the measured requests), then `loadgen-result {json}` (a
 * LoadgenResult), and exits; exits with its parent too.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { grpcSender, restSender } from './loadgen-senders.js';
import { percentiles, slowBursts, type LoadgenResult } from './stats.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      rate: { type: 'string', default: '2000' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string', default: '50' },
      'grpc-body': { type: 'string' },
    },
  });
  if (values.url === undefined) throw new Error('--url is required');
  const url = new URL(values.url);
  const rate = Number(values.rate);
  const durationS = Number(values.duration);
  const warmupS = Number(values.warmup);
  const connections = Number(values.connections);
  if (!(rate > 0) || !(durationS > 0) || !(warmupS >= 0) || !(connections >= 1)) throw new Error('bad --rate, --duration, --warmup or --connections');

  const grpcBody = values['grpc-body'];
  const sender = grpcBody === undefined ? restSender(url, connections) : grpcSender(url, connections, readFileSync(grpcBody));
  const interval = 1000 / rate;
  const skipped = Math.round(warmupS * rate);
  const total = skipped + Math.round(durationS * rate);
  const measured = total - skipped;
  const latency = new Float64Array(measured);
  const service = new Float64Array(measured);
  const lag = new Float64Array(measured);
  let ok = 0;
  let failed = 0;
  let outstanding = 0;
  let answered = 0;
  let firstDue = 0;
  let lastDone = 0;

  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  let allSent = false;

  const fire = (index: number, due: number): void => {
    if (index === skipped) process.stdout.write('loadgen window-start\n');
    const sent = performance.now();
    outstanding++;
    sender.send((failure) => record(index, due, sent, failure));
  };
  const failures: Record<string, number> = {};
  const record = (index: number, due: number, sent: number, failure: string | undefined): void => {
    const done = performance.now();
    outstanding--;
    const slot = index - skipped;
    if (slot >= 0) {
      if (++answered === measured) process.stdout.write('loadgen window-end\n');
      latency[slot] = done - due;
      service[slot] = done - sent;
      lag[slot] = sent - due;
      if (failure === undefined) ok++;
      else {
        failed++;
        failures[failure] = (failures[failure] ?? 0) + 1;
      }
      lastDone = Math.max(lastDone, done);
    }
    if (allSent && outstanding === 0) finish();
  };

  // Request i is due at start + i * interval; the clock thread says when, this thread sends.
  const origin = performance.timeOrigin;
  // Room for the clock thread to boot; a late first tick would only land in the warm-up anyway.
  const start = performance.now() + 100;
  firstDue = start + skipped * interval;
  let next = 0;
  const clock = new Worker(new URL('./loadgen-clock.js', import.meta.url), { workerData: { start: origin + start, interval, total } });
  process.stdout.write('loadgen ready\n');
  clock.on('message', (due: number) => {
    // Everything due by now goes out at once: a late wake-up must not thin the schedule.
    for (; next <= due; next++) fire(next, start + next * interval);
    if (next === total) {
      allSent = true;
      if (outstanding === 0) finish();
    }
  });
  clock.on('error', (err) => {
    process.stderr.write(`loadgen: clock failed: ${err.message}\n`);
    process.exit(1);
  });
  await finished;
  await sender.close();
  const windowS = Math.max(durationS, (lastDone - firstDue) / 1000);
  const result: LoadgenResult = {
    rate,
    durationS,
    requests: measured,
    ok,
    failed,
    failures,
    achievedRate: Math.round(((ok + failed) / windowS) * 10) / 10,
    latencyMs: percentiles(latency),
    serviceMs: percentiles(service),
    sendLagMs: percentiles(lag),
    slowest: slowBursts(latency, (slot) => slot * interval),
  };
  process.stdout.write(`loadgen-result ${JSON.stringify(result)}\n`);
}

if (process.send !== undefined) process.on('disconnect', () => process.exit(1));
main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`loadgen: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
