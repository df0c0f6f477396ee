/**
 * Loaded into a process under test (`node --import alloc-sampler.js ...`, with an IPC channel): on
 * `{alloc: 'start'}` it starts V8's sampling heap profiler, counting every allocation whether or
 * not it was collected since (a plain --heap-prof counts only what is still alive, which says
 * nothing about scavenges); on `{alloc: 'stop'}` it sends back the bytes sampled per allocating
 * site (function, file, line), largest first.
 */
import { Session } from 'node:inspector/promises';

export interface AllocSite {
  readonly site: string;
  readonly bytes: number;
}

export interface AllocReport {
  readonly totalBytes: number;
  readonly sites: readonly AllocSite[];
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

process.on('message', (message: { alloc?: string }) => {
  if (message.alloc === 'start') {
    void session
      .post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
      .then(() => process.send?.({ alloc: 'started' }));
  } else if (message.alloc === 'stop') {
    void session.post('HeapProfiler.stopSampling').then(({ profile }) => {
      const bySite = new Map<string, number>();
      let totalBytes = 0;
      const walk = (node: ProfileNode): void => {
        if (node.selfSize > 0) {
          totalBytes += node.selfSize;
          const site = siteOf(node.callFrame);
          bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
        }
        for (const child of node.children) walk(child);
      };
      walk(profile.head as unknown as ProfileNode);
      const sites = [...bySite].sort((a, b) => b[1] - a[1]).slice(0, SITES).map(([site, bytes]) => ({ site, bytes }));
      const report: AllocReport = { totalBytes, sites };
      process.send?.({ alloc: 'report', report });
    });
  }
});
