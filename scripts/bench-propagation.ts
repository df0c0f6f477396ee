#!/usr/bin/env node
/**
 * How fast a policy change made through one gateway is in force on another: two gateway
 * processes share a real redis-server; the benchmark writes the canary percentage through A's admin
 * API and times the arrival of that revision on B's event stream (B emits it once the new snapshot
 * is swapped in). Reports p50/p90/p99/max over many writes and writes bench-results/propagation.json.
 *
 *   npm run bench:propagation [-- --writes 300]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { startRedis, type RedisServer } from './lib/redis-server.js';
import { openEventStream } from './lib/sse-client.js';
import { startSimulator, type SimulatorHandle } from './tfserving-sim/server.js';

const MAIN = fileURLToPath(new URL('../gateway/src/main.js', import.meta.url));
const TOKEN = 'bench-operator-token-0123456789';
const TARGET_P99_MS = 100;

interface Gateway {
  readonly child: ChildProcess;
  readonly rest: string;
  readonly admin: string;
}

async function startGateway(configFile: string): Promise<Gateway> {
  const child = spawn(process.execPath, [MAIN, '--config', configFile], {
    env: { ...process.env, ADMIN_TOKEN: TOKEN, LOG_LEVEL: 'warn', GATEWAY_REST_PORT: '0', GATEWAY_ADMIN_PORT: '0', GATEWAY_REST_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  try {
    for await (const line of createInterface({ input: child.stdout as NodeJS.ReadableStream })) {
      const match = /REST on [\d.]+:(\d+), admin API on [\d.]+:(\d+)/.exec(line);
      if (match) return { child, rest: `http://127.0.0.1:${match[1]}`, admin: `http://127.0.0.1:${match[2]}` };
    }
    throw new Error('a gateway exited before it listened');
  } finally {
    clearTimeout(timer);
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { writes: { type: 'string', default: '300' } } });
  const writes = Number(values.writes);
  if (!Number.isInteger(writes) || writes < 10) throw new Error('--writes must be an integer >= 10');
  const dir = mkdtempSync(join(tmpdir(), 'cg-bench-'));
  let redis: RedisServer | undefined;
  const sims: SimulatorHandle[] = [];
  const gateways: Gateway[] = [];
  try {
    try {
      redis = await startRedis();
    } catch (err) {
      process.stderr.write(`bench: cannot start redis-server (${(err as Error).message}); install it with: apt-get install redis-server\n`);
      return 2;
    }
    sims.push(await startSimulator({ versions: [1] }), await startSimulator({ versions: [2], behaviour: 'half_plus_three' }));
    const configFile = join(dir, 'gateway.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        store: { type: 'redis', url: redis.url, keyPrefix: 'bench:' },
        models: {
          half_plus_two: {
            pools: { '1': { replicas: [sims[0]!.url] }, '2': { replicas: [sims[1]!.url] } },
            policy: { stable: 1, canary: 2, percent: 1 },
          },
        },
      }),
    );
    gateways.push(await startGateway(configFile), await startGateway(configFile));
    const [a, b] = gateways as [Gateway, Gateway];
    const stream = await openEventStream(`${b.admin}/api/events`, TOKEN);
    const latencies: number[] = [];
    const writeTimes: number[] = [];
    try {
      for (let i = 0; i < writes; i++) {
        const started = performance.now();
        const res = await request(`${a.admin}/api/models/half_plus_two/percent`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
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
    const round = (n: number) => Math.round(n * 100) / 100;
    const summary = {
      date: new Date().toISOString(),
      machine: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`,
      writes,
      propagationMs: {
        p50: round(quantile(latencies, 0.5)),
        p90: round(quantile(latencies, 0.9)),
        p99: round(quantile(latencies, 0.99)),
        max: round(latencies[latencies.length - 1] ?? NaN),
      },
      writeResponseMs: { p50: round(quantile(writeTimes, 0.5)), p99: round(quantile(writeTimes, 0.99)) },
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
    await Promise.all(gateways.map((g) => stop(g.child)));
    await Promise.all(sims.map((s) => s.close()));
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
