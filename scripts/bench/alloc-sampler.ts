/**
 * Loaded into a process under test (`node --import alloc-sampler.js ...`, with an IPC channel), V8's
 * sampling heap profiler in two modes:
 * - on `{alloc: 'start'}` it counts every allocation whether or not it was collected since (a plain
 *   --heap-prof counts only what is still alive, which says nothing about scavenges); on
 *   `{alloc: 'stop'}` it sends back the bytes sampled per allocating site (function, file, line),
 *   largest first;
 * - on `{alloc: 'survivors', windows, windowMs}` (the process needs --expose-gc) it measures what a
 *   scavenge at a random moment would copy: per window, it samples for `windowMs`, forces one young
 *   collection and keeps only the samples that survived it (objects made in the window and still
 *   alive). It answers `{alloc: 'survivors', survivors}`: the mean bytes per window, by site.
 */
import { Session } from 'node:inspector/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface AllocSite {
  readonly site: string;
  readonly bytes: number;
}

export interface AllocReport {
  readonly totalBytes: number;
  readonly sites: readonly AllocSite[];
}

/** What young collections forced at random moments kept of the objects made just before: means per window. */
export interface SurvivorReport extends AllocReport {
  readonly windows: number;
  readonly windowMs: number;
}

interface ProfileNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly selfSize: number;
  readonly children: readonly ProfileNode[];
}

const SITES = 40;
const session = new Session();
session.connect();

/** A site's name: the function, and its file relative to the checkout (or node's own module). */
function siteOf(frame: ProfileNode['callFrame']): string {
  const file = frame.url.replace(/^(?:file:\/\/)?.*?\/(dist|node_modules)\//, '$1/');
  return `${frame.functionName === '' ? '(anonymous)' : frame.functionName} ${file === '' ? '(native)' : `${file}:${frame.lineNumber + 1}`}`;
}

/** Adds a profile's bytes per site into `bySite`; returns the profile's total. */
function addSites(head: ProfileNode, bySite: Map<string, number>): number {
  let total = 0;
  const walk = (node: ProfileNode): void => {
    if (node.selfSize > 0) {
      total += node.selfSize;
      const site = siteOf(node.callFrame);
      bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child);
  };
  walk(head);
  return total;
}

/** The sites, largest first, each divided by `divisor` (1, or the windows a mean is over). */
function report(bySite: Map<string, number>, totalBytes: number, divisor: number): AllocReport {
  const sites = [...bySite].sort((a, b) => b[1] - a[1]).slice(0, SITES).map(([site, bytes]) => ({ site, bytes: Math.round(bytes / divisor) }));
  return { totalBytes: Math.round(totalBytes / divisor), sites };
}

async function survivors(windows: number, windowMs: number): Promise<SurvivorReport> {
  const gc = (globalThis as { gc?: (options: { type: 'minor' }) => void }).gc;
  if (gc === undefined) throw new Error('the survivors mode needs node --expose-gc');
  const bySite = new Map<string, number>();
  let total = 0;
  for (let w = 0; w < windows; w++) {
    // Not in step with the once-a-second passes: each window starts at a random point of the second.
    await sleep(200 + Math.random() * 800);
    await session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: false, includeObjectsCollectedByMinorGC: false });
    await sleep(windowMs);
    gc({ type: 'minor' });
    const { profile } = await session.post('HeapProfiler.stopSampling');
    total += addSites(profile.head as unknown as ProfileNode, bySite);
  }
  return { ...report(bySite, total, windows), windows, windowMs };
}

process.on('message', (message: { alloc?: string; windows?: number; windowMs?: number }) => {
  if (message.alloc === 'start') {
    void session
      .post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
      .then(() => process.send?.({ alloc: 'started' }));
  } else if (message.alloc === 'stop') {
    void session.post('HeapProfiler.stopSampling').then(({ profile }) => {
      const bySite = new Map<string, number>();
      const totalBytes = addSites(profile.head as unknown as ProfileNode, bySite);
      process.send?.({ alloc: 'report', report: report(bySite, totalBytes, 1) });
    });
  } else if (message.alloc === 'survivors') {
    survivors(message.windows ?? 10, message.windowMs ?? 1000).then(
      (result) => process.send?.({ alloc: 'survivors', survivors: result }),
      (err: unknown) => process.send?.({ alloc: 'survivors', error: err instanceof Error ? err.message : String(err) }),
    );
  }
});
