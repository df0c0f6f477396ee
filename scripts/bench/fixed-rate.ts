/**
 * Open-loop runs at one fixed rate over several targets, alternated over rounds (each round starts
 * one target further along), and what each target adds over direct: per round, the target's
 * percentile minus direct's in the same round, then the median of those, so a round disturbed for
 * everyone shifts both sides of its difference.
 */
import { measureLoadgen, type LoadgenMeasurement, type LoadgenRun, type MeasureContext, type Target } from './measure.js';
import { fmtInt, fmtMs, type FixedRateSummary, type FixedRateTarget } from './report.js';
import { cpuText, progress, recordRun, sleep, type Runtime } from './runtime.js';
import { median, round3, type SlowBursts } from './stats.js';

export interface FixedRatePlan {
  readonly section: string;
  /** The first is direct, the reference of the added figures. */
  readonly targets: readonly Target[];
  readonly rate: number;
  readonly rounds: number;
  readonly run: Omit<LoadgenRun, 'rate'>;
  /** The context whose backend is the one behind these targets. */
  readonly ctx: MeasureContext;
  /** "req/s" or "calls/s", for the progress lines. */
  readonly unit: string;
}

const added = (runs: readonly LoadgenMeasurement[], direct: readonly LoadgenMeasurement[], pick: (r: LoadgenMeasurement) => number): number =>
  round3(median(runs.map((r, i) => pick(r) - pick(direct[i] as LoadgenMeasurement))));

/** Where the slowest 1% were: one stall, or spread over the run. */
function burstText(slowest: SlowBursts): string {
  const top = slowest.bursts[0];
  if (top === undefined) return 'no slow requests';
  return `slowest 1%: ${top.count === slowest.count ? 'all' : `${top.count} of ${slowest.count}`} due within ${fmtMs(top.spanMs)} ms at ${top.atS.toFixed(1)} s, up to ${fmtMs(top.maxMs)} ms`;
}

export async function fixedRateRounds(rt: Runtime, plan: FixedRatePlan): Promise<FixedRateSummary> {
  const { section, targets, rate, rounds, unit } = plan;
  const runs = new Map<string, LoadgenMeasurement[]>(targets.map((t) => [t.key, []]));
  for (let round = 0; round < rounds; round++) {
    // Within a round every target runs once; the list is kept in round order for the pairing.
    const results = new Map<string, LoadgenMeasurement>();
    for (let k = 0; k < targets.length; k++) {
      const target = targets[(round + k) % targets.length] as Target;
      await sleep(250);
      const run = await measureLoadgen(plan.ctx, target, { ...plan.run, rate });
      progress(
        `[${section}] round ${round + 1}/${rounds} ${target.label} at ${fmtInt(rate)} ${unit}: p50 ${fmtMs(run.latencyMs.p50)}, p99 ${fmtMs(run.latencyMs.p99)}, p99.9 ${fmtMs(run.latencyMs.p999)} ms from the due time (generator late by p99 ${fmtMs(run.sendLagMs.p99)} ms; ${burstText(run.slowest)})${run.targetCpuUsPerRequest === undefined || target.key === 'direct' ? '' : `, ${run.targetCpuUsPerRequest} µs CPU per call (main thread ${run.targetMainThreadCpuUsPerRequest ?? 'n/a'})`}${run.failed > 0 ? `, ${run.failed} FAILED (${Object.entries(run.failures).map(([what, n]) => `${what}: ${n}`).join(', ')})` : ''}${cpuText(run.cpu, 'generator')}`,
      );
      recordRun(rt, `${section} at ${fmtInt(rate)} ${unit}, round ${round + 1}, ${target.label}`, run.cpu);
      if (run.achievedRate < rate * 0.98) rt.notes.push(`${section}, ${target.label}: only ${fmtInt(run.achievedRate)} of ${fmtInt(rate)} ${unit} completed; the target (or the generator) fell behind.`);
      results.set(target.key, run);
    }
    for (const target of targets) runs.get(target.key)?.push(results.get(target.key) as LoadgenMeasurement);
  }
  const direct = runs.get(targets[0]?.key ?? 'direct') ?? [];
  const figures = targets.map((target, index): FixedRateTarget => {
    const list = runs.get(target.key) ?? [];
    const isDirect = index === 0;
    const cpuOf = (pick: (r: LoadgenMeasurement) => number | undefined): number | undefined => {
      const cpu = list.map(pick).filter((c): c is number => c !== undefined);
      return isDirect || cpu.length === 0 ? undefined : Math.round(median(cpu) * 10) / 10;
    };
    return {
      key: target.key,
      label: target.label,
      p50Ms: round3(median(list.map((r) => r.latencyMs.p50))),
      p99Ms: round3(median(list.map((r) => r.latencyMs.p99))),
      p999Ms: round3(median(list.map((r) => r.latencyMs.p999))),
      addedP50Ms: isDirect ? undefined : added(list, direct, (r) => r.latencyMs.p50),
      addedP99Ms: isDirect ? undefined : added(list, direct, (r) => r.latencyMs.p99),
      addedP999Ms: isDirect ? undefined : added(list, direct, (r) => r.latencyMs.p999),
      cpuUsPerRequest: cpuOf((r) => r.targetCpuUsPerRequest),
      mainThreadCpuUsPerRequest: cpuOf((r) => r.targetMainThreadCpuUsPerRequest),
      serviceP99Ms: round3(median(list.map((r) => r.serviceMs.p99))),
      sendLagP99Ms: round3(median(list.map((r) => r.sendLagMs.p99))),
      achievedRate: median(list.map((r) => r.achievedRate)),
      failed: list.reduce((n, r) => n + r.failed, 0),
      failures: list.reduce<Record<string, number>>((all, r) => {
        for (const [what, n] of Object.entries(r.failures)) all[what] = (all[what] ?? 0) + n;
        return all;
      }, {}),
      runs: list,
    };
  });
  return { rate, connections: plan.run.connections, rounds, targets: figures };
}
