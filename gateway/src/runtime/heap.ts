/**
 * V8 heap settings suited to a proxy.
 *
 * Under many concurrent connections a request stays in flight across young-generation
 * collections, so its short-lived objects get promoted, and V8 lets the old generation grow to
 * as much as 4x the live set before a full collection. At 1,000 connections that was 250 MB
 * resident for 40 MB of live objects. A smaller young generation and a growth factor of 1.3 keep
 * it under 150 MB at no throughput cost measurable at 50 connections (`npm run bench`, README
 * "Performance").
 */
import v8 from 'node:v8';

/**
 * Start-up flags every launcher of the gateway passes to node (npm start, the bin, the Docker
 * image, the benchmark): V8 sizes the young generation only when the process starts.
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8'];

const GROWTH_FLAG = '--heap-growing-percent';

/**
 * The V8 flag to set for `percent`, or undefined when V8's default stays or the operator gave the
 * flag to node already (on the command line: node refuses it in NODE_OPTIONS).
 */
export function heapGrowthFlag(percent: number, execArgv: readonly string[]): string | undefined {
  if (percent === 0) return undefined;
  return execArgv.some((a) => a.startsWith(GROWTH_FLAG)) ? undefined : `${GROWTH_FLAG}=${percent}`;
}

/** Applies the growth factor; V8 reads it at every full collection, so it takes effect at run time. */
export function applyHeapGrowth(percent: number): void {
  const flag = heapGrowthFlag(percent, process.execArgv);
  if (flag !== undefined) v8.setFlagsFromString(flag);
}
