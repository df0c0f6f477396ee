#!/usr/bin/env node
/**
 * The control-plane section alone (it needs neither nginx nor wrk): event-loop blocking of a
 * gateway with many models, a large pool and open event streams, before and after slicing. Writes
 * bench-results/control-plane.{json,md} and prints the table.
 *
 *   npm run bench:control-plane [-- --models 100 --replicas 200 --sessions 10 --duration 10 --warmup 3 --rounds 1 --semi-space MiB --survivors 0]
 *
 * `--survivors N` adds one more sliced run that measures, over N one-second windows, what a scavenge
 * would copy, by allocating site (alloc-sampler.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { controlPlaneMarkdown, controlPlaneSection } from './control-plane.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      models: { type: 'string', default: '100' },
      replicas: { type: 'string', default: '200' },
      sessions: { type: 'string', default: '10' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      rounds: { type: 'string', default: '1' },
      'semi-space': { type: 'string' },
      survivors: { type: 'string', default: '0' },
      out: { type: 'string', default: 'bench-results' },
    },
  });
  const int = (name: string, raw: string, min: number, max: number): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}`);
    return n;
  };
  const summary = await controlPlaneSection({
    models: int('models', values.models, 1, 10_000),
    replicas: int('replicas', values.replicas, 2, 5000),
    sessions: int('sessions', values.sessions, 0, 1000),
    durationS: int('duration', values.duration, 1, 3600),
    warmupS: int('warmup', values.warmup, 0, 600),
    rounds: int('rounds', values.rounds, 1, 100),
    survivorWindows: int('survivors', values.survivors, 0, 1000),
    ...(values['semi-space'] === undefined ? {} : { semiSpaceMiB: int('semi-space', values['semi-space'], 1, 1024) }),
    progress: (line) => void process.stderr.write(`bench: ${line}\n`),
  });
  const cpu = cpus();
  const machine = `${cpu.length} x ${cpu[0]?.model ?? 'cpu'}, node ${process.version}`;
  const md = `${controlPlaneMarkdown(summary)}\n${new Date().toISOString()}, ${machine}\n`;
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, 'control-plane.json'), JSON.stringify({ date: new Date().toISOString(), machine, ...summary }, null, 2) + '\n');
  writeFileSync(join(values.out, 'control-plane.md'), md);
  process.stdout.write(md);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
