#!/usr/bin/env node
/**
 * A bad canary, end to end: two gateway processes share a redis-server in front of simulated
 * replicas (each its own process), steady keyless traffic goes through both, and the canary
 * (20%) switches to answering HTTP 500 to everything. Measured per round: requests the clients saw
 * fail, and the time from the fault's onset until both gateways have the rollback in force (each
 * gateway's event stream announces it once its new snapshot is swapped in). Several rounds; the
 * canary is restored and set back to 20% between them.
 *
 *   npm run bench:rollback [-- --rounds 3 --concurrency 16]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { BENCH_TOKEN, round2, startBenchCluster, type BenchGateway } from '../lib/bench-cluster.js';
import { openEventStream, type EventStream } from '../lib/sse-client.js';

const TARGET_FAILED_SHARE = 0.001;
const TARGET_ROLLBACK_MS = 2_000;
const PERCENT = 20;

interface Round {
  readonly requests: number;
  readonly failed: number;
  readonly rollbackMs: number;
  readonly perGatewayMs: readonly number[];
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '16' } } });
  const rounds = Number(values.rounds);
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(concurrency) || concurrency < 2) {
    throw new Error('--rounds must be >= 1 and --concurrency >= 2');
  }
  const cluster = await startBenchCluster({ gateways: 2, stableReplicas: 2, canaryReplicas: 1, policy: { stable: 1, canary: 2, percent: PERCENT } });
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 10_000 });
  const streams: EventStream[] = [];
  try {
    const gateways = cluster.gateways as readonly BenchGateway[];
    for (const gw of gateways) streams.push(await openEventStream(`${gw.admin}/api/events`, BENCH_TOKEN));
    const canary = cluster.canary[0] as string;
    const results: Round[] = [];
    let running = true;
    for (let round = 0; round < rounds; round++) {
      let ok = 0;
      let failed = 0;
      running = true;
      const worker = async (gw: BenchGateway): Promise<void> => {
        while (running) {
          try {
            const res = await request(`${gw.rest}/v1/models/half_plus_two:predict`, {
              method: 'POST',
              body: '{"instances": [1.0, 2.0, 5.0]}',
              headers: { 'content-type': 'application/json' },
              dispatcher: agent,
            });
            await res.body.dump();
            if (res.statusCode === 200) ok++;
            else failed++;
          } catch {
            failed++;
          }
        }
      };
      const workers = Array.from({ length: concurrency }, (_, i) => worker(gateways[i % gateways.length] as BenchGateway));
      let arrivals: number[];
      try {
        await sleep(2_000);
        const onset = performance.now();
        await control(canary, { faults: { errorRate: 1, errorStatus: 500 } });
        arrivals = await Promise.all(
          streams.map((s, i) =>
            s.waitFor((e) => e.event === 'rollback' && e.receivedAt > onset, 15_000, `the rollback on gateway ${i + 1}`).then((e) => e.receivedAt - onset),
          ),
        );
        await sleep(2_000);
      } finally {
        running = false;
        await Promise.all(workers);
      }
      results.push({ requests: ok + failed, failed, rollbackMs: Math.max(...arrivals), perGatewayMs: arrivals });
      process.stderr.write(`round ${round + 1}: ${ok + failed} requests, ${failed} failed, rollback in force everywhere after ${round2(Math.max(...arrivals))} ms\n`);
      // Next round: a healthy canary at 20% again (an operator's change ends the rolled-back state).
      await control(canary, { faults: { errorRate: 0 } });
      const reset = await request(`${gateways[0]!.admin}/api/models/half_plus_two/percent`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${BENCH_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ percent: PERCENT, note: 'benchmark round reset' }),
      });
      await reset.body.dump();
      // The canary's breaker must close again (a good trial) before the next round.
      await sleep(6_000);
    }
    const requests = results.reduce((n, r) => n + r.requests, 0);
    const failed = results.reduce((n, r) => n + r.failed, 0);
    const worstMs = Math.max(...results.map((r) => r.rollbackMs));
    const summary = {
      date: new Date().toISOString(),
      machine: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`,
      setup: `2 gateways, Redis, 2 stable + 1 canary replica (processes), canary ${PERCENT}%, ${concurrency} connections`,
      rounds: results.map((r) => ({ ...r, rollbackMs: round2(r.rollbackMs), perGatewayMs: r.perGatewayMs.map(round2) })),
      requests,
      failed,
      failedShare: requests === 0 ? 0 : failed / requests,
      worstRollbackMs: round2(worstMs),
      targets: { failedShare: TARGET_FAILED_SHARE, rollbackMs: TARGET_ROLLBACK_MS },
    };
    const met = summary.failedShare <= TARGET_FAILED_SHARE && worstMs <= TARGET_ROLLBACK_MS;
    process.stdout.write(
      [
        `bad canary: ${summary.setup} (${summary.machine})`,
        '',
        '| round | requests | failed | fault onset -> rollback in force on both gateways (ms) |',
        '|---|---|---|---|',
        ...summary.rounds.map((r, i) => `| ${i + 1} | ${r.requests} | ${r.failed} | ${r.rollbackMs} (${r.perGatewayMs.join(' / ')}) |`),
        `| all | ${requests} | ${failed} (${(summary.failedShare * 100).toFixed(3)}%) | worst ${summary.worstRollbackMs} |`,
        '',
        `targets: failed <= ${TARGET_FAILED_SHARE * 100}%, rollback <= ${TARGET_ROLLBACK_MS} ms: ${met ? 'met' : 'MISSED'}`,
        '',
      ].join('\n'),
    );
    mkdirSync('bench-results', { recursive: true });
    writeFileSync(join('bench-results', 'rollback.json'), JSON.stringify(summary, null, 2) + '\n');
    return met ? 0 : 1;
  } finally {
    await Promise.all(streams.map((s) => s.close()));
    await agent.close();
    await cluster.close();
  }
}

/** The simulator's run-time fault control. */
async function control(replica: string, patch: unknown): Promise<void> {
  const res = await request(`${replica}/_sim/control`, { method: 'PUT', body: JSON.stringify(patch), headers: { 'content-type': 'application/json' } });
  await res.body.dump();
  if (res.statusCode !== 200) throw new Error(`simulator control answered ${res.statusCode}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
