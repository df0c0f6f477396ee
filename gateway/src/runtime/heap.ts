/**
 * V8 heap settings suited to a proxy.
 *
 * Under many concurrent connections a request stays in flight across young-generation
 * collections, so its short-lived objects get promoted, and V8 lets the old generation grow to
 * as much as 4x the live set before a full collection. At 1,000 connections that was 250 MB
 * resident for 40 MB of live objects. A smaller young generation and a growth factor of 1.3 keep
 * it near 167 MB (a bare Node forwarder: 152–163 MB) at no throughput cost measurable at 50
 * connections (`npm run bench`, docs/performance.md).
 */
import { createHook } from 'node:async_hooks';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Start-up flags every launcher of the gateway passes to node (npm start, the bin, the Docker
 * image, the benchmark): V8 sizes the young generation only when the process starts. Allocation-
 * site pretenuring is off: V8 tenures a literal site whose objects all survived a young collection,
 * which at start-up (schemas compiled, first passes run) is dozens of sites that go on to make the
 * control plane's short-lived objects. Made straight in the old generation, those die there, and
 * until the next full collection they keep every young object they point to alive through each
 * scavenge (docs/performance.md: about 2x the bytes promoted and half again the pause). The young
 * generation is held at its full 8 MiB: left to V8, it shrinks to 1 MiB a semi-space whenever the
 * gateway idles, and when traffic comes back there are twice the scavenges over the first ten
 * seconds (one every 20 ms instead of 75 at first), each promoting the requests in flight, so the
 * next full collection comes sooner and stalls the loop 10-20 ms at 5,000 req/s (README,
 * Performance: *After an idle spell*).
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8', '--min-semi-space-size=8', '--no-allocation-site-pretenuring'];

const GROWTH_FLAG = '--heap-growing-percent';

/** `runtime.heapGrowthPercent` when the configuration leaves it out. */
export const DEFAULT_HEAP_GROWTH_PERCENT = 30;

/**
 * The V8 flag to set for `percent` (0 is V8's own default, its dynamic factor), or undefined when
 * the operator gave the flag to node already (on the command line: node refuses it in NODE_OPTIONS).
 */
export function heapGrowthFlag(percent: number, execArgv: readonly string[]): string | undefined {
  return execArgv.some((a) => a.startsWith(GROWTH_FLAG)) ? undefined : `${GROWTH_FLAG}=${percent}`;
}

/** Applies the growth factor; V8 reads it at every full collection, so it takes effect at run time. */
export function applyHeapGrowth(percent: number): void {
  const flag = heapGrowthFlag(percent, process.execArgv);
  if (flag !== undefined) v8.setFlagsFromString(flag);
}

/**
 * One full collection, once every module is loaded and before the gateway starts. The modules
 * compile their schemas with Ajv on import, and Ajv's code generator builds thousands of
 * short-lived `{}` whose first key is a generated name (`err147`, `data38`): each leaves a
 * transition on the root map of `{}` until a full collection, and at V8's limit (1,536) every
 * object built from `{}` or from a literal with computed keys gets a map of its own. Code that runs
 * then keeps megamorphic feedback for good: Node's process.nextTick (its TickObject is such a
 * literal, made about 9 times per request) went to V8's runtime on every call (README,
 * Performance: 1.4% of the process's samples in V8's runtime, 4% more CPU per request). Young
 * collections do not clear transitions, and under steady load a full one may not come for minutes.
 * The same literal's maps are then held (keepTickObjectMap), as a later full collection would free
 * them. Every entry point calls this (the gateway's and the demo's), right after its imports.
 *
 * The default growth factor is set first: a full collection sets the old generation's next limit
 * by the factor in force, and V8's own (4x the live objects at start-up) let the heap grow to 194 MB
 * of RSS at 1,000 connections where 30% keeps it near 165 MB (docs/performance.md). The
 * configuration, read later, sets its own factor for every collection after this one.
 */
export function collectStartupGarbage(): void {
  applyHeapGrowth(DEFAULT_HEAP_GROWTH_PERCENT);
  v8.setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  // Later contexts need no gc of their own, unless the operator asked for it.
  if (!process.execArgv.includes('--expose-gc')) v8.setFlagsFromString('--no-expose-gc');
  gc();
  // Only now: a TickObject made while the root map is full has a map of its own, which holding
  // would keep nothing that later ones share.
  keepTickObjectMap();
}

/** The one TickObject held for the life of the process (keepTickObjectMap). */
let keptTickObject: object | undefined;

/**
 * Holds one of process.nextTick's TickObjects for good, so that the maps of its literal (two
 * symbol keys, then `callback` and `args`) stay alive. Nothing else holds them: a TickObject lives
 * for one turn and V8's feedback refers to maps weakly, so a full collection that finds none alive
 * frees them and the next nextTicks build new ones. Once the feedback has seen enough of those it is
 * megamorphic for good, and each of a request's ~9 TickObjects goes to V8's runtime
 * (DefineKeyedOwnPropertyInLiteral, MigrateToMap). In the gateway one full collection, which its
 * 30% heap growth brings within a second of serving, was enough: monomorphic before load,
 * megamorphic after 2 s of it with no collection in between (docs/performance.md). The TickObject
 * is caught as async_hooks hands it to `init`, the one public way to reach it; the hook is off
 * again before this returns.
 */
export function keepTickObjectMap(): void {
  if (keptTickObject !== undefined) return;
  const hook = createHook({
    init(_asyncId, type, _triggerAsyncId, resource) {
      if (type === 'TickObject' && keptTickObject === undefined) keptTickObject = resource;
    },
  }).enable();
  try {
    process.nextTick(() => undefined);
  } finally {
    hook.disable();
  }
}
