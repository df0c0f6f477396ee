#!/usr/bin/env node
/**
 * How fast a policy change made through one gateway is in force on another: two gateway
 * processes share a real redis-server; the benchmark writes the canary percentage through A's admin
 * API and times the arrival of that revision on B's event stream (B emits it once the new snapshot
 * is swapped in). Reports p50/p90/p99/max over many writes and writes bench-results/propagation.json.
 *
 *   npm run bench:propagation [-- --writes 300]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { BENCH_TOKEN, quantile, round2, startBenchCluster, type BenchGateway } from '../lib/bench-cluster.js';
import { openEventStream } from '../lib/sse-client.js';

const TARGET_P99_MS = 100;

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { writes: { type: 'string', default: '300' } } });
  const writes = Number(values.writes);
  if (!Number.isInteger(writes) || writes < 10) throw new Error('--writes must be an integer >= 10');
  const cluster = await startBenchCluster({ gateways: 2, stableReplicas: 1, canaryReplicas: 1, policy: { stable: 1, canary: 2, percent: 1 } });
  try {
    const [a, b] = cluster.gateways as [BenchGateway, BenchGateway];
    const stream = await openEventStream(`${b.admin}/api/events`, BENCH_TOKEN);
    const latencies: number[] = [];
    const writeTimes: number[] = [];
    try {
      for (let i = 0; i < writes; i++) {
        const started = performance.now();
        const res = await request(`${a.admin}/api/models/half_plus_two/percent`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${BENCH_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ percent: (i % 99) + 1 }),
        });
        const answered = performance.now();
        const body = (await res.body.json()) as { revision?: number };
        if (res.statusCode !== 200 || body.revision === undefined) throw new Error(`write ${i} failed: ${res.statusCode}`);
        const revision = body.revision;
        const event = await stream.waitFor(
          (e) => e.event === 'policy' && (e.data as { revision?: number }).revision === revision,
          5_000,
          `revision ${revision} on gateway B`,
        );
        latencies.push(event.receivedAt - started);
        writeTimes.push(answered - started);
      }
    } finally {
      await stream.close();
    }
    latencies.sort((x, y) => x - y);
    writeTimes.sort((x, y) => x - y);
    const summary = {
      date: new Date().toISOString(),
      machine: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`,
      writes,
      propagationMs: {
        p50: round2(quantile(latencies, 0.5)),
        p90: round2(quantile(latencies, 0.9)),
        p99: round2(quantile(latencies, 0.99)),
        max: round2(latencies[latencies.length - 1] ?? NaN),
      },
      writeResponseMs: { p50: round2(quantile(writeTimes, 0.5)), p99: round2(quantile(writeTimes, 0.99)) },
      targetP99Ms: TARGET_P99_MS,
    };
    const met = summary.propagationMs.p99 < TARGET_P99_MS;
    process.stdout.write(
      [
        `policy propagation, gateway A -> Redis -> gateway B (${writes} writes, ${summary.machine})`,
        '',
        '| measure | p50 | p90 | p99 | max |',
        '|---|---|---|---|---|',
        `| write on A until in force on B (ms) | ${summary.propagationMs.p50} | ${summary.propagationMs.p90} | ${summary.propagationMs.p99} | ${summary.propagationMs.max} |`,
        `| write on A until A answers (ms) | ${summary.writeResponseMs.p50} | | ${summary.writeResponseMs.p99} | |`,
        '',
        `target p99 < ${TARGET_P99_MS} ms: ${met ? 'met' : 'MISSED'}`,
        '',
      ].join('\n'),
    );
    mkdirSync('bench-results', { recursive: true });
    writeFileSync(join('bench-results', 'propagation.json'), JSON.stringify(summary, null, 2) + '\n');
    return met ? 0 : 1;
  } finally {
    await cluster.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
