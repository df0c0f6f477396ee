/**
 * A real Prometheus (Debian's /usr/bin/prometheus, or PROMETHEUS_PATH) for tests and the docs
 * tools: a temp dir for its TSDB and config, a free 127.0.0.1 port, the repository's rule files,
 * and the HTTP API calls they need. Killed with this process if a caller forgets to stop it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { freePort } from './redis-server.js';

export const PROMETHEUS_PATH = process.env['PROMETHEUS_PATH'] ?? '/usr/bin/prometheus';
export const PROMTOOL_PATH = process.env['PROMTOOL_PATH'] ?? '/usr/bin/promtool';
/** deploy/prometheus of this repository (this file runs from dist/scripts/lib/). */
export const PROMETHEUS_DEPLOY_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../deploy/prometheus');
/** The scrape job the rules and the compose stack's prometheus.yml name the gateways by. */
export const GATEWAY_JOB = 'canary-gateway';

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export interface PrometheusOptions {
  /** host:port of each gateway admin port to scrape (job canary-gateway, path /metrics). */
  readonly targets: readonly string[];
  /** Rule files to load (absolute paths or globs). Default: the repository's rules. */
  readonly ruleFiles?: readonly string[];
  /** Scrape and evaluation interval in seconds. Default 1. */
  readonly intervalSeconds?: number;
  /** How long to wait for /-/ready. Default 30 s. */
  readonly startTimeoutMs?: number;
}

export interface Sample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

export interface RangeSeries {
  readonly metric: Record<string, string>;
  readonly values: Array<[number, string]>;
}

export interface ActiveAlert {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly state: 'pending' | 'firing';
  readonly activeAt: string;
  readonly value: string;
}

/** A query Prometheus refused (status error), with its own words. */
export class PrometheusQueryError extends Error {}

export interface PrometheusServer {
  readonly url: string;
  /** Instant query; rejects with PrometheusQueryError if it does not parse or evaluate. */
  query(expr: string, time?: number): Promise<Sample[]>;
  /** Range query (times in seconds since the epoch). */
  queryRange(expr: string, start: number, end: number, stepSeconds: number): Promise<RangeSeries[]>;
  /** Values of a label across the series matching `match`. */
  labelValues(label: string, match: string): Promise<string[]>;
  alerts(): Promise<ActiveAlert[]>;
  /** What Prometheus wrote to stderr so far (its log). */
  log(): string;
  stop(): Promise<void>;
}

export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  const interval = `${options.intervalSeconds ?? 1}s`;
  const dir = mkdtempSync(join(tmpdir(), 'cg-prometheus-'));
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: options.ruleFiles ?? [join(PROMETHEUS_DEPLOY_DIR, 'rules', '*.yml')],
    scrape_configs: [{ job_name: GATEWAY_JOB, metrics_path: '/metrics', static_configs: [{ targets: options.targets }] }],
  };
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  const port = await freePort();
  const child = spawn(
    PROMETHEUS_PATH,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  live.add(child);
  let log = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (log += d));
  let spawnError: Error | undefined;
  // `once` rejects on 'error' (e.g. ENOENT: Prometheus not installed): remembered, not thrown.
  const exited = once(child, 'exit').then(
    () => live.delete(child),
    (err: Error) => {
      spawnError = err;
      live.delete(child);
    },
  );
  const url = `http://127.0.0.1:${port}`;

  const stop = async (): Promise<void> => {
    if (spawnError === undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const api = async <T>(path: string, params: Record<string, string>): Promise<T> => {
    const reply = await fetch(`${url}${path}?${new URLSearchParams(params)}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await reply.json()) as { status: string; data: T; error?: string; errorType?: string };
    if (body.status !== 'success') throw new PrometheusQueryError(`${body.errorType ?? reply.status}: ${body.error ?? ''} (${params['query'] ?? path})`);
    return body.data;
  };

  try {
    const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
    for (;;) {
      if (spawnError !== undefined) throw new Error(`cannot run ${PROMETHEUS_PATH} (install Debian's prometheus package): ${spawnError.message}`);
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`prometheus exited early: ${log.trim()}`);
      const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false);
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`prometheus not ready within ${options.startTimeoutMs ?? 30_000} ms: ${log.trim()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    url,
    query: async (expr, time) => {
      const data = await api<{ resultType: string; result: Sample[] }>('/api/v1/query', { query: expr, ...(time === undefined ? {} : { time: String(time) }) });
      return data.resultType === 'vector' ? data.result : [];
    },
    queryRange: async (expr, start, end, step) =>
      (await api<{ result: RangeSeries[] }>('/api/v1/query_range', { query: expr, start: String(start), end: String(end), step: String(step) })).result,
    labelValues: (label, match) => api<string[]>(`/api/v1/label/${encodeURIComponent(label)}/values`, { 'match[]': match }),
    alerts: async () => (await api<{ alerts: ActiveAlert[] }>('/api/v1/alerts', {})).alerts,
    log: () => log,
    stop,
  };
}
