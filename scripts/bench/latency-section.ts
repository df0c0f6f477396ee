/**
 * The latency section: at each fixed rate (open loop, the same generator for all), direct, nginx
 * (1 worker), the Node floor (node:http + undici, no routing) and the gateway, alternated over
 * rounds. Like is compared with like: the gateway's added p99 is set against what the floor adds
 * (the cost of Node's HTTP stack alone) and what nginx adds, and its CPU per request against the
 * floor's.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fixedRateRounds } from './fixed-rate.js';
import { gatewayConfig, REALISTIC_RULES } from './gateway-config.js';
import { measureLoadgen, type Target } from './measure.js';
import { startNginx } from './nginx.js';
import type { FixedRateSummary, LatencyAtRate } from './report.js';
import { backendTarget, backendUrls, checkTarget, progress, startGateway, startGatewayWith, startNodeProxy, stopAll, type Running, type Runtime } from './runtime.js';
import { findExecutable, processTree } from './system.js';

/** a / b when b is a positive figure; a ratio to a non-positive difference means nothing. */
const ratio = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined || !(b > 0) ? undefined : Math.round((a / b) * 100) / 100);

export function latencyRatios(f: FixedRateSummary): LatencyAtRate {
  const by = (key: string) => f.targets.find((t) => t.key === key);
  const gw = by('gateway');
  return {
    ...f,
    gatewayVsFloorP99: ratio(gw?.addedP99Ms, by('floor')?.addedP99Ms),
    gatewayVsNginxP99: ratio(gw?.addedP99Ms, by('nginx')?.addedP99Ms),
    gatewayVsFloorCpu: ratio(gw?.cpuUsPerRequest, by('floor')?.cpuUsPerRequest),
    gatewayVsBaselineP99: ratio(gw?.addedP99Ms, by('baseline')?.addedP99Ms),
    gatewayVsBaselineCpu: ratio(gw?.cpuUsPerRequest, by('baseline')?.cpuUsPerRequest),
  };
}

export async function latencySection(rt: Runtime): Promise<LatencyAtRate[]> {
  const { rates, latencyDurationS, latencyRounds, warmupS, connections } = rt.options;
  const running: Running[] = [];
  try {
    const nginxDir = join(rt.dir, 'nginx-latency');
    mkdirSync(nginxDir);
    const nginx = await startNginx(findExecutable('nginx') as string, nginxDir, rt.backendPorts[0] as number, rt.ctx.track);
    running.push({ child: nginx.child, target: { key: 'nginx', label: 'nginx (1 worker)', url: nginx.url, pids: processTree(nginx.child.pid ?? 0), gateway: false } });
    running.push(await startNodeProxy(rt, 'proxy-node-floor', 'floor', 'Node floor (node:http + undici)'));
    // Key 'gateway': the ratios above look it up by that name.
    const variant = { replicas: backendUrls(rt, 2), headerRules: REALISTIC_RULES };
    running.push(await startGateway(rt, 'gateway', 'canary-gateway', variant));
    // Another build beside this one (--baseline): before/after figures from the same rounds.
    const baseline = rt.options.baselineMain;
    if (baseline !== undefined) running.push(await startGatewayWith(rt, 'baseline', 'canary-gateway, baseline build', gatewayConfig(variant), baseline));
    const targets: Target[] = [backendTarget(rt), ...running.map((r) => r.target)];
    for (const target of targets) await checkTarget(rt, target);
    // Fresh processes: a warm-up at the highest rate first, so the JIT has compiled the hot path
    // before the first measured run. Each generator run has its own warm-up as well.
    if (warmupS > 0) {
      for (const r of running) {
        progress(`[latency] warm-up ${r.target.label}, ${warmupS} s`);
        await measureLoadgen(rt.ctx, r.target, { rate: Math.max(...rates), durationS: warmupS, warmupS: 0, connections });
      }
    }
    const out: LatencyAtRate[] = [];
    for (const rate of rates) {
      const summary = await fixedRateRounds(rt, {
        section: 'latency',
        targets,
        rate,
        rounds: latencyRounds,
        run: { durationS: latencyDurationS, warmupS: Math.min(2, Math.max(1, warmupS)), connections },
        ctx: rt.ctx,
        unit: 'req/s',
      });
      out.push(latencyRatios(summary));
    }
    return out;
  } finally {
    await stopAll(rt, running);
  }
}
