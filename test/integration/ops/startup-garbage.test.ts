/**
 * collectStartupGarbage (runtime/heap.ts), which both entry points call after their imports: the
 * gateway's modules compile their schemas with Ajv on import, which fills the transitions of the
 * `{}` root map to V8's limit, so that every literal with a computed key (Node's TickObject, made
 * about 9 times per request) gets a map of its own and the code that builds it turns megamorphic.
 * Read from V8 itself (%HaveSameMap, with --allow-natives-syntax) in a child process that imports
 * the gateway as the entry points do: the precondition (the imports leave the root map full) and
 * the cure (after the collection two such literals share their map again). And that collection
 * sets the old generation's limit by the gateway's default growth factor, not V8's own (4x): read
 * from V8's --trace-gc-verbose in a real gateway process, as it starts. And it holds one of
 * process.nextTick's TickObjects, without which full collections between bursts of nextTick leave
 * its literal's feedback megamorphic: read from V8's own print of nextTick's feedback. And the
 * gateway runs with V8's allocation-site pretenuring off: read from V8's pretenuring trace.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DEFAULT_HEAP_GROWTH_PERCENT, GATEWAY_NODE_FLAGS } from '../../../gateway/src/runtime/heap.js';
import { startReplica } from '../../helpers/simulator.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const APP = new URL('../../../gateway/src/app.js', import.meta.url).href;
const HEAP = new URL('../../../gateway/src/runtime/heap.js', import.meta.url).href;

const PROBE = `
await import(${JSON.stringify(APP)});
const key = Symbol('probe');
const literal = () => ({ [key]: 1 });
const full = !%HaveSameMap(literal(), literal());
const { collectStartupGarbage } = await import(${JSON.stringify(HEAP)});
collectStartupGarbage();
const shared = %HaveSameMap(literal(), literal());
process.stdout.write(JSON.stringify({ full, shared, gcExposed: typeof globalThis.gc === 'function' }));
`;

test("after the gateway's imports the {} root map is full, and collectStartupGarbage empties it", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-startup-gc-'));
  try {
    const probe = join(dir, 'probe.mjs');
    writeFileSync(probe, PROBE);
    const { stdout } = await promisify(execFile)(process.execPath, ['--allow-natives-syntax', probe], { timeout: 30_000 });
    const seen = JSON.parse(stdout) as { full: boolean; shared: boolean; gcExposed: boolean };
    assert.equal(seen.full, true, 'the imports no longer fill the root map: collectStartupGarbage may be unnecessary');
    assert.equal(seen.shared, true, 'two literals with the same computed key still get maps of their own');
    assert.equal(seen.gcExposed, false, 'gc() must not be left on the global object');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The imports fill the root map, as in the entry points; then either collectStartupGarbage or a
// bare full collection; then bursts of nextTick, each followed by a full collection, as a gateway
// under load sees them every few seconds.
const TICKS = `
await import(${JSON.stringify(APP)});
if (process.argv[2] === 'startup') {
  const { collectStartupGarbage } = await import(${JSON.stringify(HEAP)});
  collectStartupGarbage();
} else {
  gc();
}
for (let round = 0; round < 8; round++) {
  for (let i = 0; i < 50; i++) await new Promise((resolve) => process.nextTick(resolve));
  gc();
}
%DebugPrint(process.nextTick);
`;

/** The IC states of nextTick's TickObject literal (its computed keys' slots), from V8's print. */
async function tickLiteralStates(probe: string, mode: 'startup' | 'bare'): Promise<string[]> {
  // V8 sometimes cuts the print short before the feedback slots: asked again, up to three times.
  for (let attempt = 0; attempt < 3; attempt++) {
    const { stdout } = await promisify(execFile)(process.execPath, ['--allow-natives-syntax', '--expose-gc', probe, mode], { timeout: 30_000, maxBuffer: 1 << 24 });
    const states = [...stdout.matchAll(/slot #\d+ DefineKeyedOwnPropertyInLiteral (\w+)/g)].map((m) => m[1] as string);
    if (states.length > 0) return states;
  }
  throw new Error("V8's print of process.nextTick never reached its feedback slots");
}

test("collectStartupGarbage keeps nextTick's TickObject literal monomorphic through full collections", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cg-startup-ticks-'));
  try {
    const probe = join(dir, 'ticks.mjs');
    writeFileSync(probe, TICKS);
    const bare = await tickLiteralStates(probe, 'bare');
    assert.ok(bare.includes('MEGAMORPHIC'), `without it the literal stays ${bare.join(', ')}: Node no longer loses the TickObject's maps, keepTickObjectMap may be unnecessary`);
    const kept = await tickLiteralStates(probe, 'startup');
    assert.deepEqual(
      kept.filter((state) => state !== 'MONOMORPHIC'),
      [],
      `the TickObject literal's slots after collectStartupGarbage: ${kept.join(', ')}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const MAIN = fileURLToPath(new URL('../../../gateway/src/main.js', import.meta.url));

/**
 * V8's trace lines (it prints them on stdout) of a real gateway process started with `flags`: every
 * line up to its announcement, and those of the `afterMs` that follow.
 */
async function gatewayTrace(flags: readonly string[], afterMs = 0): Promise<{ lines: string[]; announced: boolean }> {
  const replica = await startReplica();
  const dir = mkdtempSync(join(tmpdir(), 'cg-startup-trace-'));
  const config = join(dir, 'gateway.json');
  writeFileSync(
    config,
    JSON.stringify({
      listeners: { rest: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
      models: { half_plus_two: { pools: { '1': { replicas: [replica.url] } }, policy: { stable: 1 } } },
      healthCheck: { intervalMs: 100 },
    }),
  );
  const child = spawn(process.execPath, [...flags, MAIN, '--config', config], {
    env: { PATH: process.env['PATH'], LOG_LEVEL: 'warn', GATEWAY_STORE: 'memory' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const lines: string[] = [];
  let announced = false;
  try {
    const input = createInterface({ input: child.stdout });
    let stop: NodeJS.Timeout | undefined;
    for await (const line of input) {
      lines.push(line);
      if (!announced && /canary-gateway: REST on /.test(line)) {
        announced = true;
        if (afterMs === 0) break;
        stop = setTimeout(() => input.close(), afterMs);
      }
    }
    clearTimeout(stop);
    return { lines, announced };
  } finally {
    clearTimeout(kill);
    child.kill('SIGKILL');
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    rmSync(dir, { recursive: true, force: true });
    await replica.close();
  }
}

test("the start-up collection sets the old generation's limit at the gateway's growth factor, not V8's 4x", async () => {
  const { lines, announced } = await gatewayTrace([...GATEWAY_NODE_FLAGS, '--trace-gc-verbose']);
  const factors = lines.flatMap((line) => {
    const limit = /\[HeapController\] Limit: .*\(([\d.]+)\)\s*$/.exec(line);
    return limit === null ? [] : [Number(limit[1])];
  });
  assert.ok(announced, 'the gateway started');
  assert.ok(factors.length > 0, 'V8 traced at least one full collection before the gateway served');
  // The imports' own full collections run at V8's factor; the start-up one, the last before the
  // gateway serves, at the gateway's.
  assert.equal(factors.at(-1), 1 + DEFAULT_HEAP_GROWTH_PERCENT / 100, `growth factors of the collections before serving: ${factors.join(', ')}`);
});

const NO_PRETENURING = '--no-allocation-site-pretenuring';
/** V8's decisions to allocate a literal site's objects straight into the old generation. */
const tenureDecisions = (lines: readonly string[]): string[] => lines.filter((line) => /pretenuring: AllocationSite\(.*=> tenure\s*$/.test(line));

test('the gateway allocates nothing straight into the old generation: V8 tenures no allocation site (Node would)', async () => {
  // A site V8 tenures while start-up objects all live (the schemas, the first passes) keeps
  // putting the control plane's short-lived objects into the old generation, where, dead, they
  // keep what they point to alive through every young collection until the next full one.
  assert.ok(GATEWAY_NODE_FLAGS.includes(NO_PRETENURING));
  const gateway = await gatewayTrace([...GATEWAY_NODE_FLAGS, '--trace-pretenuring-statistics'], 1_500);
  assert.ok(gateway.announced, 'the gateway started');
  assert.deepEqual(tenureDecisions(gateway.lines), []);
  // The same process with Node's default: still needed, V8 tenures sites as the gateway starts.
  const plain = await gatewayTrace([...GATEWAY_NODE_FLAGS.filter((f) => f !== NO_PRETENURING), '--trace-pretenuring-statistics'], 1_500);
  assert.ok(plain.announced, 'the gateway started without the flag');
  assert.ok(tenureDecisions(plain.lines).length > 0, `V8 tenured no site without ${NO_PRETENURING}: is the flag still needed?`);
});
