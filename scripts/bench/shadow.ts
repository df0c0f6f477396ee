#!/usr/bin/env node
/**
 * What shadow traffic costs the live request: the same closed-loop load (8 clients, REST predict)
 * through one gateway process, with no shadow, with every request copied to a healthy shadow
 * replica, and with every request copied to a shadow that takes 200 ms to answer (its copies are
 * bounded by maxInFlight, the rest dropped). Every part is its own process (bench-cluster.ts); the
 * figures are the clients' latency percentiles and throughput per phase.
 *
 *   npm run build && node dist/scripts/bench/shadow.js [requests per phase, default 6000]
 */
import { Agent, request } from 'undici';
import { BENCH_TOKEN, quantile, round2, startBenchCluster } from '../lib/bench-cluster.js';

const MODEL = 'half_plus_two';
const CLIENTS = 8;
const BODY = JSON.stringify({ instances: [1, 2, 5] });

async function phase(url: string, requests: number): Promise<{ rps: number; p50: number; p90: number; p99: number }> {
  const agent = new Agent({ connections: CLIENTS });
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const client = async (): Promise<void> => {
    while (next++ < requests) {
      const t = performance.now();
      const res = await request(url, { method: 'POST', body: BODY, headers: { 'content-type': 'application/json' }, dispatcher: agent });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
      latencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  const seconds = (performance.now() - started) / 1000;
  await agent.close();
  latencies.sort((a, b) => a - b);
  return { rps: Math.round(latencies.length / seconds), p50: round2(quantile(latencies, 0.5)), p90: round2(quantile(latencies, 0.9)), p99: round2(quantile(latencies, 0.99)) };
}

async function put(url: string, body: unknown, token?: string): Promise<void> {
  const res = await request(url, {
    method: 'PUT',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`PUT ${url}: ${res.statusCode} ${text}`);
}

async function main(): Promise<void> {
  const requests = Number(process.argv[2] ?? 6000);
  const cluster = await startBenchCluster({ gateways: 1, stableReplicas: 1, canaryReplicas: 1, policy: { stable: 1, canary: 2, percent: 0 } });
  try {
    const gateway = cluster.gateways[0]!;
    const url = `${gateway.rest}/v1/models/${MODEL}:predict`;
    const shadow = (value: unknown) => put(`${gateway.admin}/api/models/${MODEL}/shadow`, { shadow: value }, BENCH_TOKEN);
    // Health checks pass, connections warm.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    // Warm both paths (JIT) before anything is measured.
    await phase(url, requests);
    await shadow({ version: 2, percent: 100 });
    await phase(url, requests);
    const rows: Array<[string, Awaited<ReturnType<typeof phase>>]> = [];
    // Interleaved, twice: a drift of the machine (2 shared cores here) shows as a difference between rounds.
    for (const round of [1, 2]) {
      await shadow(null);
      rows.push([`no shadow (round ${round})`, await phase(url, requests)]);
      await shadow({ version: 2, percent: 100 });
      await put(`${cluster.canary[0]}/_sim/control`, { faults: { latencyMs: 0 } });
      rows.push([`shadow 100%, healthy (round ${round})`, await phase(url, requests)]);
      await put(`${cluster.canary[0]}/_sim/control`, { faults: { latencyMs: 200 } });
      rows.push([`shadow 100%, 200 ms slow (round ${round})`, await phase(url, requests)]);
    }
    console.log(`${requests} requests per phase, ${CLIENTS} clients, closed loop; client-side latency in ms`);
    console.log('| phase | req/s | p50 | p90 | p99 |\n|---|---:|---:|---:|---:|');
    for (const [name, r] of rows) console.log(`| ${name} | ${r.rps} | ${r.p50} | ${r.p90} | ${r.p99} |`);
  } finally {
    await cluster.close();
  }
}

await main();
