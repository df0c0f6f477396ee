/**
 * The gRPC section: unary Predict through the gateway, nginx grpc_pass (1 worker, h2c both sides),
 * a @grpc/grpc-js pass-through proxy, the gRPC Node floor (proxy-grpc-floor.ts) and direct, all in front of one simulator's gRPC port.
 * Calls/s with h2load, targets alternated over rounds, medians; then the latency each adds over
 * direct at a fixed rate (the open-loop generator over node:http2); then an 8 MiB Predict's round
 * trip through the gateway and direct.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnNode } from '../lib/processes.js';
import { fixedRateRounds } from './fixed-rate.js';
import { gatewayConfig, REALISTIC_RULES } from './gateway-config.js';
import { closeSession, connect, grpcCall } from './grpc-call.js';
import { largePredict, outputCount, PREDICT_METHOD, smallPredict, writeBody } from './grpc-messages.js';
import { measureH2load, type MeasureContext, type Target } from './measure.js';
import { startNginx } from './nginx.js';
import { fmtInt, fmtMs, GRPC_FLOOR_KEY, type GrpcRound, type GrpcSummary, type GrpcThroughputTarget, type LargeMessageTarget } from './report.js';
import { cpuText, medianCpu, progress, recordRun, sleep, startGateway, startGatewayWith, startNodeProxy, SIMULATOR, stopAll, type Running, type Runtime } from './runtime.js';
import { median, round3, spreadPct } from './stats.js';
import { findExecutable, processTree } from './system.js';
import { request } from 'undici';

const LARGE_BYTES = 8 * 1024 * 1024;
const SMALL_OUTPUTS = 3;

/** One checked call before measuring: h2load would count a gRPC error (HTTP 200) as a success. */
async function checkGrpcTarget(target: Target, body: Buffer): Promise<void> {
  const session = await connect(target.url);
  try {
    // A fresh gateway routes once its first health checks have passed: give it up to 10 s.
    for (let attempt = 0; ; attempt++) {
      const answer = await grpcCall(session, PREDICT_METHOD, body, 10_000);
      if (answer.status === '0' && answer.payload !== undefined && outputCount(answer.payload) === SMALL_OUTPUTS) {
        if (target.gateway && answer.headers['x-model-version'] === undefined) throw new Error(`${target.label} answered without x-model-version`);
        return;
      }
      if (attempt >= 40 || answer.status !== '14') throw new Error(`${target.label} answered grpc-status ${String(answer.status)} to Predict: ${answer.message ?? ''}`);
      await sleep(250);
    }
  } finally {
    await closeSession(session);
  }
}

/** Predict calls the simulator has answered with OK so far (its counters, over REST). */
async function backendOk(rt: Runtime, simUrl: string): Promise<number> {
  const res = await request(`${simUrl}/_sim/counters`, { dispatcher: rt.client });
  const counters = (await res.body.json()) as { byGrpcStatus?: Record<string, number> };
  return counters.byGrpcStatus?.['OK'] ?? 0;
}

async function throughputRounds(rt: Runtime, ctx: MeasureContext, h2load: string, targets: readonly Target[], bodyFile: string, simUrl: string): Promise<GrpcThroughputTarget[]> {
  const o = rt.options;
  const run = { path: PREDICT_METHOD, bodyFile, clients: o.grpcClients, streams: o.grpcStreams, threads: o.threads };
  if (o.warmupS > 0) {
    for (const target of targets) {
      progress(`[grpc] warm-up ${target.label}, ${o.warmupS} s`);
      await measureH2load(ctx, h2load, target, { ...run, durationS: o.warmupS });
    }
  }
  const runs = new Map<string, GrpcRound[]>(targets.map((t) => [t.key, []]));
  for (let round = 0; round < o.rounds; round++) {
    for (let k = 0; k < targets.length; k++) {
      const target = targets[(round + k) % targets.length] as Target;
      await sleep(250);
      const before = await backendOk(rt, simUrl);
      const m = await measureH2load(ctx, h2load, target, { ...run, durationS: o.durationS });
      // h2load counts a gRPC error as a success (HTTP 200): calls it counted that the simulator did
      // not answer OK were answered by the target itself. Calls in flight at the end may be counted
      // by one side only, hence the allowance.
      const unanswered = Math.max(0, m.requests - (m.failed) - (await backendOk(rt, simUrl) - before) - o.grpcClients * o.grpcStreams);
      const bad = m.failed + unanswered;
      progress(
        `[grpc] round ${round + 1}/${o.rounds} ${target.label}: ${fmtInt(m.rps)} calls/s, mean ${fmtMs(m.meanMs)} ms${bad > 0 ? `, ${m.failed} FAILED, ${unanswered} NOT ANSWERED BY THE SIMULATOR` : ''}${cpuText(m.cpu, 'h2load')}`,
      );
      recordRun(rt, `grpc, round ${round + 1}, ${target.label}`, m.cpu);
      runs.get(target.key)?.push({ rps: m.rps, meanMs: m.meanMs, failed: m.failed, unanswered, cpu: m.cpu });
    }
  }
  const summaries = targets.map((target) => {
    const list = runs.get(target.key) ?? [];
    const rps = median(list.map((r) => r.rps));
    return {
      key: target.key,
      label: target.label,
      rps,
      meanMs: round3(median(list.map((r) => r.meanMs))),
      spreadPct: spreadPct(list.map((r) => r.rps), rps),
      failed: list.reduce((n, r) => n + r.failed, 0),
      unanswered: list.reduce((n, r) => n + r.unanswered, 0),
      cpu: medianCpu(list.map((r) => r.cpu)),
      rounds: list,
    };
  });
  const nginx = summaries.find((t) => t.key === 'nginx')?.rps ?? NaN;
  const grpcJs = summaries.find((t) => t.key === 'grpc-js')?.rps ?? NaN;
  const floor = summaries.find((t) => t.key === GRPC_FLOOR_KEY)?.rps ?? NaN;
  return summaries.map((t) => ({ ...t, vsNginx: t.rps / nginx, vsGrpcJs: t.rps / grpcJs, vsFloor: t.rps / floor }));
}

/** `calls` round trips of the large message, one at a time on one connection, after one untimed. */
async function largeCalls(target: Target, body: Buffer, calls: number): Promise<number[]> {
  const session = await connect(target.url);
  const elements = Math.floor(LARGE_BYTES / 4);
  try {
    const times: number[] = [];
    for (let i = 0; i <= calls; i++) {
      const answer = await grpcCall(session, PREDICT_METHOD, body, 60_000);
      if (answer.status !== '0' || answer.payload === undefined || outputCount(answer.payload) !== elements) {
        throw new Error(`${target.label}: the ${(LARGE_BYTES / 2 ** 20).toFixed(0)} MiB Predict answered grpc-status ${String(answer.status)} ${answer.message ?? ''}`);
      }
      if (i > 0) times.push(round3(answer.ms));
    }
    return times;
  } finally {
    await closeSession(session);
  }
}

async function largeMessage(rt: Runtime, direct: Target, gateway: Target): Promise<GrpcSummary['large']> {
  const body = largePredict(LARGE_BYTES);
  // The answer's size, for the table: one call direct, outside the timing.
  const probe = await connect(direct.url);
  let responseBytes = 0;
  try {
    responseBytes = ((await grpcCall(probe, PREDICT_METHOD, body, 60_000)).payload?.length ?? 0) + 5;
  } finally {
    await closeSession(probe);
  }
  const samples = new Map<string, number[]>([
    [direct.key, []],
    [gateway.key, []],
  ]);
  const pair = [direct, gateway];
  for (let round = 0; round < rt.options.rounds; round++) {
    for (let k = 0; k < pair.length; k++) {
      const target = pair[(round + k) % pair.length] as Target;
      const times = await largeCalls(target, body, rt.options.largeCalls);
      progress(`[grpc] round ${round + 1}/${rt.options.rounds} ${target.label}, ${(LARGE_BYTES / 2 ** 20).toFixed(0)} MiB Predict: ${times.map(fmtMs).join(', ')} ms`);
      samples.get(target.key)?.push(...times);
    }
  }
  const figures = (target: Target): LargeMessageTarget => {
    const list = samples.get(target.key) ?? [];
    return { key: target.key, label: target.label, samplesMs: list, medianMs: round3(median(list)), maxMs: Math.max(...list) };
  };
  const d = figures(direct);
  const g = figures(gateway);
  return { requestBytes: body.length, responseBytes, direct: d, gateway: g, addedMs: round3(g.medianMs - d.medianMs) };
}

export async function grpcSection(rt: Runtime): Promise<GrpcSummary> {
  const o = rt.options;
  const h2load = findExecutable('h2load') as string;
  const running: Running[] = [];
  let simRunning: Running | undefined;
  try {
    const sim = await spawnNode(SIMULATOR, ['--port', '0', '--grpc-port', '0', '--versions', '1,2'], /listening on (http:\/\/\S+) grpc:\/\/\S*:(\d+)/, { ipc: true });
    rt.children.track(sim.child);
    // Stopped with the section's other processes, last (it is in front of none of them).
    simRunning = { child: sim.child, target: { key: 'simulator', label: 'simulator', url: sim.match[1] as string, pids: [sim.child.pid ?? 0], gateway: false } };
    const simPid = sim.child.pid ?? 0;
    const grpcPort = Number(sim.match[2]);
    const direct: Target = { key: 'direct', label: 'direct (simulator, the limit)', url: `http://127.0.0.1:${grpcPort}`, pids: [simPid], gateway: false };
    progress(`[grpc] simulator ${sim.match[1]}, gRPC port ${grpcPort}, pid ${simPid}`);
    const nginxDir = join(rt.dir, 'nginx-grpc');
    mkdirSync(nginxDir);
    const nginx = await startNginx(findExecutable('nginx') as string, nginxDir, grpcPort, rt.ctx.track, 'grpc');
    running.push({ child: nginx.child, target: { key: 'nginx', label: 'nginx grpc_pass (1 worker)', url: nginx.url, pids: processTree(nginx.child.pid ?? 0), gateway: false } });
    running.push(await startNodeProxy(rt, 'proxy-grpc-js', 'grpc-js', '@grpc/grpc-js proxy', `127.0.0.1:${grpcPort}`));
    running.push(await startNodeProxy(rt, 'proxy-grpc-floor', GRPC_FLOOR_KEY, 'Node floor (node:http2, no routing)', `127.0.0.1:${grpcPort}`));
    const variant = { replicas: [{ url: sim.match[1] as string, grpcPort }], headerRules: REALISTIC_RULES };
    const gw = await startGateway(rt, 'gateway-grpc', 'canary-gateway', variant);
    const gateway: Target = { ...gw.target, key: 'gateway', url: `http://127.0.0.1:${gw.grpcPort}` };
    running.push({ child: gw.child, target: gateway });
    // Another build beside this one (--baseline): before/after figures from the same rounds.
    const baselineMain = o.baselineMain;
    if (baselineMain !== undefined) {
      const b = await startGatewayWith(rt, 'baseline-grpc', 'canary-gateway, baseline build', gatewayConfig(variant), baselineMain);
      running.push({ child: b.child, target: { ...b.target, key: 'baseline', url: `http://127.0.0.1:${b.grpcPort}` } });
    }

    const small = smallPredict();
    const bodyFile = writeBody(rt.dir, 'predict.grpc', small);
    const targets: Target[] = [direct, ...running.map((r) => r.target)];
    progress(`[grpc] ${targets.map((t) => `${t.label} ${t.url}`).join(', ')}`);
    for (const target of targets) await checkGrpcTarget(target, small);
    const ctx: MeasureContext = { ...rt.ctx, backendPid: simPid };

    const throughput = await throughputRounds(rt, ctx, h2load, targets, bodyFile, sim.match[1] as string);
    const fixedRate = await fixedRateRounds(rt, {
      section: 'grpc',
      targets,
      rate: o.grpcRate,
      rounds: o.latencyRounds,
      run: { durationS: o.latencyDurationS, warmupS: Math.min(2, Math.max(1, o.warmupS)), connections: o.grpcClients, grpcBody: bodyFile, path: PREDICT_METHOD },
      ctx,
      unit: 'calls/s',
    });
    // An overloaded fixed-rate run can leave replicas marked down (health checks timed out behind
    // the backlog): wait for the gateway to route again, as the check before measuring does.
    await checkGrpcTarget(gateway, small);
    const large = await largeMessage(rt, direct, gateway);
    return { method: PREDICT_METHOD, requestBytes: small.length, clients: o.grpcClients, streams: o.grpcStreams, throughput, fixedRate, large };
  } finally {
    await stopAll(rt, running);
    if (simRunning !== undefined) await stopAll(rt, [simRunning]);
  }
}
