#!/usr/bin/env node
/**
 * npm run bench: the gateway against what users would otherwise deploy (nginx, a few lines of
 * fastify + reply-from or http-proxy-3), in one run, every part its own process, load from wrk or
 * the open-loop generator in a process of its own, targets alternated over rounds, medians
 * reported. Then latency added at fixed rates next to nginx and a bare Node forwarder (the floor of
 * Node's HTTP stack), gRPC calls/s next to nginx grpc_pass and a grpc-js proxy, and the further
 * figures of issue 5: 2 vs 200 replicas, 1 vs 1,000 header rules, resident memory at 1,000
 * connections. Progress on stderr, the tables on stdout and in bench-results/ (bench.json,
 * bench.md, bench.svg). Exits 0 whether or not the targets are met: it reports, CI does not run it.
 *
 *   npm run bench [-- --rounds 3 --duration 10 --sections throughput,latency,grpc,replicas,rules,memory]
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { spawnNode } from '../lib/processes.js';
import { manyRules, REALISTIC_RULES, type GatewayVariant } from './gateway-config.js';
import { grpcSection } from './grpc-section.js';
import { latencySection } from './latency-section.js';
import { measureWrk, type Target, type WrkMeasurement } from './measure.js';
import { startNginx } from './nginx.js';
import { HELP, readOptions, type Options } from './options.js';
import { fmtInt, fmtMs, fmtRatio, markdown, TARGET_CPU_VS_FLOOR, throughputSvg, type BenchReport, type FixedRateTarget, type MemorySummary, type PairSummary, type TargetCheck, type TargetSummary } from './report.js';
import { controlPlaneMarkdown, controlPlaneSection } from './control-plane.js';
import {
  alternate,
  backendTarget,
  backendUrls,
  checkTarget,
  Children,
  cpuText,
  FOREIGN_CPU_NOTE_PCT,
  progress,
  recordRun,
  script,
  sleep,
  startGateway,
  startNodeProxy,
  stopAll,
  type Running,
  type Runtime,
} from './runtime.js';
import { busiestProcesses, findExecutable, machineBusy, memoryMiB, processTree } from './system.js';
import { PREDICT_BODY, PREDICT_PATH, writeWrkScript } from './wrk.js';

const TARGET_VS_REPLY_FROM = 1.0;
const TARGET_VS_NGINX = 0.5;
const TARGET_ADDED_P99_MS = 1;
/** The latency section's targets, checked at this rate (or the first one measured). */
const TARGET_LATENCY_RATE = 2000;
const TARGET_P99_VS_FLOOR = 1.25;
const TARGET_GRPC_VS_NGINX = 0.5;
const TARGET_GRPC_VS_GRPC_JS = 2;
const TARGET_REPLICAS_RATIO = 0.9;
const TARGET_RULES_RATIO = 0.9;
const TARGET_RSS_MB = 150;

/** Set on Ctrl-C: the signal handler ends the process, errors from killed children are expected. */
let interrupted = false;

async function throughputSection(rt: Runtime): Promise<TargetSummary[]> {
  const running: Running[] = [];
  try {
    const nginxDir = join(rt.dir, 'nginx');
    mkdirSync(nginxDir);
    const nginx = await startNginx(findExecutable('nginx') as string, nginxDir, rt.backendPorts[0] as number, rt.ctx.track);
    running.push({ child: nginx.child, target: { key: 'nginx', label: 'nginx (1 worker)', url: nginx.url, pids: processTree(nginx.child.pid ?? 0), gateway: false } });
    running.push(await startNodeProxy(rt, 'proxy-reply-from', 'reply-from', 'fastify + reply-from'));
    running.push(await startNodeProxy(rt, 'proxy-http-proxy', 'http-proxy', 'http-proxy-3'));
    running.push(await startGateway(rt, 'gateway', 'canary-gateway', { replicas: backendUrls(rt, 2), headerRules: REALISTIC_RULES }));
    progress(`[throughput] ${running.map((r) => `${r.target.label} ${r.target.url}`).join(', ')}`);
    const summaries = await alternate(rt, 'throughput', [backendTarget(rt), ...running.map((r) => r.target)], rt.options.connections);
    const nginxRps = summaries.find((t) => t.key === 'nginx')?.rps ?? NaN;
    const replyFromRps = summaries.find((t) => t.key === 'reply-from')?.rps ?? NaN;
    return summaries.map((t) => ({ ...t, vsNginx: t.rps / nginxRps, vsReplyFrom: t.rps / replyFromRps }));
  } finally {
    await stopAll(rt, running);
  }
}

async function pairSection(rt: Runtime, section: string, what: string, baseline: GatewayVariant, variant: GatewayVariant, labels: readonly [string, string]): Promise<PairSummary> {
  const running: Running[] = [];
  try {
    running.push(await startGateway(rt, `${section}-baseline`, labels[0], baseline));
    running.push(await startGateway(rt, `${section}-variant`, labels[1], variant));
    const [a, b] = (await alternate(rt, section, running.map((r) => r.target), rt.options.connections)) as [TargetSummary, TargetSummary];
    return { what, baseline: a, variant: b, ratio: b.rps / a.rps };
  } finally {
    await stopAll(rt, running);
  }
}

/** RSS MiB as MB (10^6 bytes), one decimal. */
const mb = (mib: number | undefined): number => Math.round(((mib ?? NaN) * 1024 * 1024) / 1e5) / 10;

interface RssRun {
  readonly idleMB: number;
  readonly peakMB: number;
  readonly hwmMB: number;
  readonly run: WrkMeasurement;
}

/** VmRSS of `pid` before and (sampled every 100 ms) during a wrk run of `connections` against `target`. */
async function rssUnderWrk(rt: Runtime, target: Target, pid: number, connections: number): Promise<RssRun> {
  await checkTarget(rt, target);
  await sleep(500);
  const idle = memoryMiB(pid);
  let peak = 0;
  const sampler = setInterval(() => {
    const m = memoryMiB(pid);
    if (m !== undefined) peak = Math.max(peak, m.rss);
  }, 100);
  let run: WrkMeasurement;
  try {
    run = await measureWrk(rt.ctx, target, connections, rt.options.durationS);
  } finally {
    clearInterval(sampler);
  }
  return { idleMB: mb(idle?.rss), peakMB: mb(peak), hwmMB: mb(memoryMiB(pid)?.hwm), run };
}

async function memorySection(rt: Runtime): Promise<MemorySummary> {
  const connections = rt.options.memoryConnections;
  // Every connection served: with the default of 128 connections per replica, 1,000 clients over two
  // replicas are mostly answered 503 at once (load shed by design), and the figure would not be
  // the memory of 1,000 requests in flight.
  const running = await startGateway(rt, 'gateway', 'canary-gateway', { replicas: backendUrls(rt, 2), headerRules: REALISTIC_RULES, connectionsPerReplica: connections });
  let gw: RssRun;
  try {
    gw = await rssUnderWrk(rt, running.target, running.child.pid ?? 0, connections);
  } finally {
    await stopAll(rt, [running]);
  }
  // Like with like: a bare Node forwarder (node:http + undici, no routing) under the same load.
  const floorProxy = await startNodeProxy(rt, 'proxy-node-floor', 'floor', 'Node floor (node:http + undici)');
  let floor: RssRun;
  try {
    floor = await rssUnderWrk(rt, floorProxy.target, floorProxy.child.pid ?? 0, connections);
  } finally {
    await stopAll(rt, [floorProxy]);
  }
  const { run } = gw;
  const errors = run.socketErrors + run.non2xx;
  const summary: MemorySummary = {
    connections,
    idleMB: gw.idleMB,
    peakMB: gw.peakMB,
    hwmMB: gw.hwmMB,
    rps: run.rps,
    p50Ms: run.p50Ms,
    p99Ms: run.p99Ms,
    errors,
    cpu: run.cpu,
    floor: { idleMB: floor.idleMB, peakMB: floor.peakMB, errors: floor.run.socketErrors + floor.run.non2xx },
  };
  progress(
    `[memory] ${connections} connections: peak VmRSS ${summary.peakMB} MB (idle ${summary.idleMB} MB), ${fmtInt(run.rps)} req/s, p99 ${fmtMs(run.p99Ms)} ms${errors > 0 ? `, ${errors} ERRORS` : ''}${cpuText(run.cpu, 'wrk')}; the Node floor: peak ${floor.peakMB} MB (idle ${floor.idleMB} MB)`,
  );
  recordRun(rt, 'memory', run.cpu);
  recordRun(rt, 'memory, Node floor', floor.run.cpu);
  return summary;
}

function checkTargets(report: Omit<BenchReport, 'targets' | 'notes'>): TargetCheck[] {
  const gw = report.throughput?.find((t) => t.key === 'gateway');
  const checks: TargetCheck[] = [];
  const ratioCheck = (target: string, value: number | undefined, limit: number, detail: string): void => {
    checks.push({ target, figure: value === undefined ? '' : `${fmtRatio(value)} (${detail})`, met: value === undefined ? undefined : value >= limit });
  };
  const nginx = report.throughput?.find((t) => t.key === 'nginx');
  const replyFrom = report.throughput?.find((t) => t.key === 'reply-from');
  ratioCheck(`gateway >= ${TARGET_VS_REPLY_FROM.toFixed(1)}x reply-from (throughput)`, gw?.vsReplyFrom, TARGET_VS_REPLY_FROM, `${fmtInt(gw?.rps ?? NaN)} vs ${fmtInt(replyFrom?.rps ?? NaN)} req/s`);
  ratioCheck(`gateway >= ${TARGET_VS_NGINX}x nginx, 1 worker (throughput)`, gw?.vsNginx, TARGET_VS_NGINX, `${fmtInt(gw?.rps ?? NaN)} vs ${fmtInt(nginx?.rps ?? NaN)} req/s`);
  const l = report.latency?.find((x) => x.rate === TARGET_LATENCY_RATE) ?? report.latency?.[0];
  const rate = fmtInt(l?.rate ?? TARGET_LATENCY_RATE);
  const lgw = l?.targets.find((t) => t.key === 'gateway');
  const floor = l?.targets.find((t) => t.key === 'floor');
  const lnginx = l?.targets.find((t) => t.key === 'nginx');
  // A figure is undefined when it is noise: a ratio whose divisor is not above 0, an added p99 below 0.
  const atMost = (target: string, value: number | undefined, limit: number, figure: string): void => {
    checks.push({ target, figure: l === undefined ? '' : figure, met: value === undefined ? undefined : value <= limit });
  };
  atMost(
    `gateway p99 added over direct at ${rate} req/s <= ${TARGET_P99_VS_FLOOR}x the Node floor's`,
    l?.gatewayVsFloorP99,
    TARGET_P99_VS_FLOOR,
    `${fmtRatio(l?.gatewayVsFloorP99) || 'n/a'} (${fmtMs(lgw?.addedP99Ms ?? NaN)} vs ${fmtMs(floor?.addedP99Ms ?? NaN)} ms; nginx ${fmtMs(lnginx?.addedP99Ms ?? NaN)} ms, the gateway's ${fmtRatio(l?.gatewayVsNginxP99) || 'n/a'} of it)`,
  );
  // Below direct's p99 is noise, not a gateway faster than no gateway.
  const addedP99 = lgw?.addedP99Ms !== undefined && lgw.addedP99Ms >= 0 ? lgw.addedP99Ms : undefined;
  atMost(`gateway p99 added over direct at ${rate} req/s <= ${TARGET_ADDED_P99_MS} ms`, addedP99, TARGET_ADDED_P99_MS, `${fmtMs(lgw?.addedP99Ms ?? NaN)} ms (p99 ${fmtMs(lgw?.p99Ms ?? NaN)} vs direct ${fmtMs(l?.targets[0]?.p99Ms ?? NaN)} ms)`);
  atMost(
    `gateway CPU per request at ${rate} req/s <= ${TARGET_CPU_VS_FLOOR}x the Node floor's`,
    l?.gatewayVsFloorCpu,
    TARGET_CPU_VS_FLOOR,
    `${fmtRatio(l?.gatewayVsFloorCpu) || 'n/a'} (${lgw?.cpuUsPerRequest ?? 'n/a'} vs ${floor?.cpuUsPerRequest ?? 'n/a'} µs)`,
  );
  const g = report.grpc?.throughput;
  const ggw = g?.find((t) => t.key === 'gateway');
  const gnginx = g?.find((t) => t.key === 'nginx');
  const gjs = g?.find((t) => t.key === 'grpc-js');
  ratioCheck(`gRPC: gateway >= ${TARGET_GRPC_VS_NGINX}x nginx grpc_pass, 1 worker (calls/s)`, ggw?.vsNginx, TARGET_GRPC_VS_NGINX, `${fmtInt(ggw?.rps ?? NaN)} vs ${fmtInt(gnginx?.rps ?? NaN)} calls/s`);
  ratioCheck(`gRPC: gateway >= ${TARGET_GRPC_VS_GRPC_JS}x the grpc-js proxy (calls/s)`, ggw?.vsGrpcJs, TARGET_GRPC_VS_GRPC_JS, `${fmtInt(ggw?.rps ?? NaN)} vs ${fmtInt(gjs?.rps ?? NaN)} calls/s`);
  const r = report.replicas;
  ratioCheck(`${r?.variant.label ?? '200 replicas'} >= ${TARGET_REPLICAS_RATIO}x ${r?.baseline.label ?? '2'} (throughput)`, r?.ratio, TARGET_REPLICAS_RATIO, `${fmtInt(r?.variant.rps ?? NaN)} vs ${fmtInt(r?.baseline.rps ?? NaN)} req/s`);
  const u = report.rules;
  ratioCheck(`${u?.variant.label ?? '1,000 rules'} >= ${TARGET_RULES_RATIO}x ${u?.baseline.label ?? '1 rule'} (throughput)`, u?.ratio, TARGET_RULES_RATIO, `${fmtInt(u?.variant.rps ?? NaN)} vs ${fmtInt(u?.baseline.rps ?? NaN)} req/s`);
  const m = report.memory;
  checks.push({
    target: `gateway RSS at ${fmtInt(m?.connections ?? 1000)} connections <= ${TARGET_RSS_MB} MB`,
    figure: m === undefined ? '' : `${m.peakMB.toFixed(1)} MB (the Node floor ${m.floor.peakMB.toFixed(1)} MB)`,
    met: m === undefined ? undefined : m.peakMB <= TARGET_RSS_MB,
  });
  return checks;
}

/** What a reader should know before trusting the figures. */
function findingNotes(rt: Runtime, report: Omit<BenchReport, 'targets' | 'notes'>): void {
  const all: TargetSummary[] = [
    ...(report.throughput ?? []),
    ...(report.replicas === undefined ? [] : [report.replicas.baseline, report.replicas.variant]),
    ...(report.replicasSubset === undefined ? [] : [report.replicasSubset.variant]),
    ...(report.rules === undefined ? [] : [report.rules.baseline, report.rules.variant]),
  ];
  for (const t of all) {
    if (t.errors > 0) rt.notes.push(`${t.label}: ${t.errors} errors (non-2xx answers or socket errors) over its rounds.`);
    if (t.spreadPct > 10) rt.notes.push(`${t.label}: req/s varied by ${t.spreadPct.toFixed(0)}% between rounds (${t.rounds.map((r) => fmtInt(r.rps)).join(', ')}).`);
    if (t.key !== 'direct' && t.cpu !== undefined && t.cpu.backend >= 90) rt.notes.push(`${t.label}: the backend used ${t.cpu.backend}% of a core; it may be what limits this target.`);
  }
  const cores = cpus().length;
  for (const t of report.throughput ?? []) {
    const c = t.cpu;
    if (c === undefined) continue;
    // direct: target and backend are one process.
    const used = (t.key === 'direct' ? c.target : c.target + c.backend) + c.load + c.foreign;
    if (t.key === 'direct' && c.target >= 95) {
      rt.notes.push(`${t.label}: the backend is CPU-bound (${c.target}% of a core, wrk ${c.load}%): one Node process answering is this setup's ceiling.`);
    } else if (c.target >= 95) {
      rt.notes.push(`${t.label}: CPU-bound, ${c.target}% of a core (a single-threaded process cannot use more than about 100%; wrk used ${c.load}%, the backend ${c.backend}%).`);
    } else if (used >= cores * 100 * 0.85) {
      rt.notes.push(
        `${t.label}: the machine's ${cores} cores were saturated (${t.key === 'direct' ? `backend ${c.target}%` : `target ${c.target}% + backend ${c.backend}%`} + wrk ${c.load}%${c.foreign > 0 ? ` + other programs ${c.foreign}%` : ''} = ${used}% of ${cores * 100}%), so this figure is the machine's limit rather than the target's.`,
      );
    }
  }
  const disturbed = rt.runs.filter((r) => r.foreign >= FOREIGN_CPU_NOTE_PCT);
  if (disturbed.length > 0) {
    rt.notes.push(
      `other programs used ${FOREIGN_CPU_NOTE_PCT}% of a core or more during ${disturbed.length} of ${rt.runs.length} runs, whose figures are disturbed: ${disturbed.map((r) => `${r.what} (${r.foreign}%)`).join('; ')}.`,
    );
  }
  for (const l of report.latency ?? []) latencyNotes(rt, `latency at ${fmtInt(l.rate)} req/s`, l.targets);
  if (report.grpc !== undefined) {
    latencyNotes(rt, `gRPC latency at ${fmtInt(report.grpc.fixedRate.rate)} calls/s`, report.grpc.fixedRate.targets);
    for (const t of report.grpc.throughput) {
      if (t.failed > 0) rt.notes.push(`gRPC, ${t.label}: ${t.failed} calls failed (HTTP level) over its rounds.`);
      if (t.unanswered > 0) rt.notes.push(`gRPC, ${t.label}: ${t.unanswered} calls h2load counted were not answered OK by the simulator: errors from the target itself, so its calls/s overstates what it forwarded.`);
      if (t.spreadPct > 10) rt.notes.push(`gRPC, ${t.label}: calls/s varied by ${t.spreadPct.toFixed(0)}% between rounds (${t.rounds.map((r) => fmtInt(r.rps)).join(', ')}).`);
      if (t.key !== 'direct' && t.cpu !== undefined && t.cpu.backend >= 90) rt.notes.push(`gRPC, ${t.label}: the simulator used ${t.cpu.backend}% of a core; it may be what limits this target.`);
    }
  }
}

function latencyNotes(rt: Runtime, what: string, targets: readonly FixedRateTarget[]): void {
  const lag = Math.max(...targets.map((t) => t.sendLagP99Ms));
  if (lag > 0.5) rt.notes.push(`${what}: the generator itself was late by up to ${fmtMs(lag)} ms at p99; that lateness is in every target's p99.`);
  for (const t of targets) {
    if (t.addedP99Ms !== undefined && t.addedP99Ms < 0) rt.notes.push(`${what}: ${t.label}'s p99 came out below direct's: within the noise of this machine; run with more --latency-rounds.`);
    if (t.failed > 0) rt.notes.push(`${what}: ${t.failed} ${t.label} requests failed (${Object.entries(t.failures).map(([why, n]) => `${why}: ${n}`).join(', ')}).`);
  }
}

function toolVersion(binary: string, args: readonly string[]): string {
  const out = spawnSync(binary, args, { encoding: 'utf8' });
  return `${out.stdout ?? ''}${out.stderr ?? ''}`.split('\n')[0]?.trim() ?? '';
}

/** Roughly how long the selected sections take, for the first progress line. */
function estimateSeconds(o: Options): number {
  const runs = (targets: number): number => targets * o.warmupS + o.rounds * targets * (o.durationS + 0.35) + 3;
  let total = 2;
  if (o.sections.has('throughput')) total += runs(5) + 2;
  const fixedRun = Math.min(2, Math.max(1, o.warmupS)) + o.latencyDurationS + 0.5;
  if (o.sections.has('latency')) total += 3 * o.warmupS + 3 + o.rates.length * o.latencyRounds * 4 * fixedRun;
  // h2load rounds over 4 targets, the fixed-rate rounds, the large messages (about 0.2 s a call).
  if (o.sections.has('grpc')) total += runs(4) + o.latencyRounds * 4 * fixedRun + o.rounds * 2 * (o.largeCalls + 1) * 0.2 + 4;
  if (o.sections.has('replicas')) total += runs(2);
  if (o.sections.has('replicas')) total += runs(2);
  // Before and after per round, then the GC floor after each sliced run.
  if (o.sections.has('control-plane')) total += o.rounds * 2 * (o.durationS + 3 + 4) + o.rounds * (o.durationS + 1);
  if (o.sections.has('rules')) total += runs(2);
  // The gateway, then the Node floor.
  if (o.sections.has('memory')) total += 2 * (o.durationS + 3);
  return Math.round(total);
}

async function run(options: Options, children: Children, dir: string): Promise<void> {
  const nginxPath = findExecutable('nginx');
  // Only the sections measured with wrk need it (checked in main).
  const wrkPath = findExecutable('wrk') ?? '';
  const startedAt = Date.now();
  const estimate = estimateSeconds(options);
  progress(`sections ${[...options.sections].join(', ')}; about ${Math.floor(estimate / 60)} min ${estimate % 60} s`);
  const busyAtStart = await machineBusy(1000);
  if (busyAtStart > 15) {
    progress(`WARNING: the machine is already ${Math.round(busyAtStart)}% busy (percent of one core) before the bench starts; its figures will be off. Busiest:`);
    for (const line of await busiestProcesses(1000)) progress(`  ${line}`);
  }
  const client = new Agent({ keepAliveTimeout: 1_000 });
  try {
    const ports = options.sections.has('replicas') ? options.replicas : 2;
    const backend = await spawnNode(script('backend'), ['--ports', String(ports)], /listening on \S+ ports ([\d,]+)/, { ipc: true });
    children.track(backend.child);
    const backendPorts = (backend.match[1] as string).split(',').map(Number);
    progress(`backend: ${script('backend')} on ${backendPorts.length} port(s) from ${backendPorts[0]}, pid ${backend.child.pid}`);
    const rt: Runtime = {
      options,
      children,
      dir,
      backendPorts,
      client,
      notes: [],
      runs: [],
      ctx: { wrk: wrkPath, script: writeWrkScript(dir), threads: options.threads, backendPid: backend.child.pid ?? 0, track: children.track },
    };
    const s = options.sections;
    const throughput = s.has('throughput') ? await throughputSection(rt) : undefined;
    const latency = s.has('latency') ? await latencySection(rt) : undefined;
    const grpc = s.has('grpc') ? await grpcSection(rt) : undefined;
    const replicas = s.has('replicas')
      ? await pairSection(
          rt,
          'replicas',
          `gateway with 2 vs ${fmtInt(options.replicas)} replicas per pool`,
          { replicas: backendUrls(rt, 2), headerRules: REALISTIC_RULES },
          { replicas: backendUrls(rt, options.replicas), headerRules: REALISTIC_RULES },
          ['gateway, 2 replicas per pool', `gateway, ${fmtInt(options.replicas)} replicas per pool`],
        )
      : undefined;
    const replicasSubset = s.has('replicas')
      ? await pairSection(
          rt,
          'subset',
          `gateway with ${fmtInt(options.replicas)} replicas per pool, all vs a subset of ${fmtInt(options.subset)}`,
          { replicas: backendUrls(rt, options.replicas), headerRules: REALISTIC_RULES },
          { replicas: backendUrls(rt, options.replicas), headerRules: REALISTIC_RULES, subsetSize: options.subset },
          [`gateway, ${fmtInt(options.replicas)} replicas per pool`, `gateway, ${fmtInt(options.replicas)} replicas, subset ${fmtInt(options.subset)}`],
        )
      : undefined;
    const rules = s.has('rules')
      ? await pairSection(
          rt,
          'rules',
          `gateway with 1 vs ${fmtInt(options.rules)} header rules (none matching)`,
          { replicas: backendUrls(rt, 2), headerRules: manyRules(1) },
          { replicas: backendUrls(rt, 2), headerRules: manyRules(options.rules) },
          ['gateway, 1 header rule', `gateway, ${fmtInt(options.rules)} header rules`],
        )
      : undefined;
    const memory = s.has('memory') ? await memorySection(rt) : undefined;
    const controlPlane = s.has('control-plane')
      ? await controlPlaneSection({
          models: 100,
          replicas: options.replicas,
          sessions: 10,
          durationS: options.durationS,
          warmupS: Math.max(3, options.warmupS),
          rounds: options.rounds,
          progress,
          track: children.track,
        })
      : undefined;
    const cluster = 'skipped: the gateway has no cluster mode yet (one process, one core), so there is nothing to compare with nginx at 2 workers';
    progress(`(e) node:cluster ${cluster}`);
    const cpu = cpus();
    const base = {
      date: new Date().toISOString(),
      machine: `${cpu.length} x ${cpu[0]?.model ?? 'cpu'}, Linux, node ${process.version}`,
      software: [
        nginxPath === undefined ? '' : toolVersion(nginxPath, ['-v']),
        wrkPath === '' ? '' : toolVersion(wrkPath, ['--version']).replace(/ Copyright.*/, ''),
        options.sections.has('grpc') ? toolVersion(findExecutable('h2load') as string, ['--version']) : '',
      ]
        .filter(Boolean)
        .join(', '),
      command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      settings: {
        path: PREDICT_PATH,
        body: PREDICT_BODY,
        connections: options.connections,
        wrkThreads: options.threads,
        rounds: options.rounds,
        durationS: options.durationS,
        warmupS: options.warmupS,
        rates: options.rates.join(','),
        grpcClients: options.grpcClients,
        grpcStreams: options.grpcStreams,
        grpcRate: options.grpcRate,
        largeCalls: options.largeCalls,
        latencyDurationS: options.latencyDurationS,
        latencyRounds: options.latencyRounds,
        memoryConnections: options.memoryConnections,
        gatewayPolicy: '10% canary; rules: x-canary switch, user-agent regex ^beta-app/ (not matching); sticky header x-user-id (absent); 2 replicas per pool; memory store',
      },
      busyAtStartPct: Math.round(busyAtStart),
      throughput,
      latency,
      grpc,
      replicas,
      replicasSubset,
      rules,
      memory,
      cluster,
    };
    findingNotes(rt, base);
    const report: BenchReport = { ...base, targets: checkTargets(base), notes: rt.notes };
    const md = markdown(report) + (controlPlane === undefined ? '' : `\n${controlPlaneMarkdown(controlPlane)}`);
    mkdirSync(options.out, { recursive: true });
    if (controlPlane !== undefined) writeFileSync(join(options.out, 'control-plane.json'), JSON.stringify(controlPlane, null, 2) + '\n');
    writeFileSync(join(options.out, 'bench.json'), JSON.stringify(report, null, 2) + '\n');
    writeFileSync(join(options.out, 'bench.md'), md);
    const written = [join(options.out, 'bench.json'), join(options.out, 'bench.md')];
    if (throughput !== undefined) {
      writeFileSync(join(options.out, 'bench.svg'), throughputSvg(throughput, `median of ${options.rounds} rounds x ${options.durationS} s, wrk -c${options.connections}; ${base.machine}`));
      written.push(join(options.out, 'bench.svg'));
    }
    progress(`done in ${Math.round((Date.now() - startedAt) / 1000)} s; wrote ${written.join(', ')}`);
    process.stdout.write(md);
  } finally {
    await client.close().catch(() => undefined);
    await children.stopAll();
  }
}

async function main(): Promise<number> {
  let options: Options | 'help';
  try {
    options = readOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const wrkSections = ['throughput', 'replicas', 'rules', 'memory'] as const;
  const tools = ['nginx', ...(wrkSections.some((name) => options.sections.has(name)) ? ['wrk'] : []), ...(options.sections.has('grpc') ? ['h2load'] : [])];
  const missing = tools.filter((name) => findExecutable(name) === undefined);
  if (missing.length > 0) {
    process.stderr.write(`bench: needs ${tools.join(', ')}; not found: ${missing.join(', ')}. Install them with: apt-get install nginx wrk nghttp2-client\n`);
    return 2;
  }
  const children = new Children();
  const dir = mkdtempSync(join(tmpdir(), 'canary-bench-'));
  // nginx's worker runs as nobody when the bench runs as root, and its temp directories are in here.
  chmodSync(dir, 0o755);
  const onSignal = (signal: NodeJS.Signals, code: number): void => {
    if (interrupted) return;
    interrupted = true;
    progress(`${signal}: stopping every process the bench started`);
    void children.stopAll().finally(() => {
      rmSync(dir, { recursive: true, force: true });
      process.exit(code);
    });
  };
  process.on('SIGINT', () => onSignal('SIGINT', 130));
  process.on('SIGTERM', () => onSignal('SIGTERM', 143));
  process.on('SIGHUP', () => onSignal('SIGHUP', 129));
  try {
    await run(options, children, dir);
  } finally {
    if (!interrupted) rmSync(dir, { recursive: true, force: true });
  }
  return 0;
}

main().then(
  (code) => {
    if (!interrupted) process.exit(code);
  },
  (err: unknown) => {
    if (interrupted) return;
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
