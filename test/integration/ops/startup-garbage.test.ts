/**
 * The gateway starts with its schema compiler's garbage collected (runtime/heap.ts,
 * collectStartupGarbage): Node's process.nextTick, called about 9 times per request, must not
 * come out of start-up with megamorphic feedback on its TickObject literal, which sends every
 * call to V8's runtime. Read from V8 itself (%DebugPrint of the function's feedback vector, with
 * --allow-natives-syntax) once the gateway is running and has served requests.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startSimulator } from '../../../simulator/src/server.js';
import { stopChild } from '../../../scripts/lib/processes.js';
import { GATEWAY_NODE_FLAGS } from '../../../gateway/src/runtime/heap.js';
import { TestClient } from '../../helpers/http.js';

const MAIN = fileURLToPath(new URL('../../../gateway/src/main.js', import.meta.url));
const DONE = 'FEEDBACK-PRINTED';

/** Prints process.nextTick's feedback on SIGUSR2 (V8 writes %DebugPrint to stdout). */
const PRELOAD = `process.on('SIGUSR2', () => { %DebugPrint(process.nextTick); process.stdout.write('\\n${DONE}\\n'); });\n`;

/** Resolves with all of `text()` once `pattern` appears in it (bounded). */
async function until(text: () => string, pattern: RegExp, timeoutMs: number): Promise<string> {
  const end = Date.now() + timeoutMs;
  while (!pattern.test(text())) {
    if (Date.now() > end) throw new Error(`no ${String(pattern)} within ${timeoutMs} ms; output:\n${text().slice(-2_000)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return text();
}

test("process.nextTick's TickObject literal keeps monomorphic feedback through start-up and traffic", async () => {
  const sim = await startSimulator({ versions: [1] });
  const dir = mkdtempSync(join(tmpdir(), 'cg-startup-gc-'));
  const client = new TestClient(4);
  const preload = join(dir, 'print-feedback.cjs');
  writeFileSync(preload, PRELOAD);
  const file = join(dir, 'gateway.json');
  writeFileSync(
    file,
    JSON.stringify({
      listeners: { rest: { host: '127.0.0.1', port: 0 }, grpc: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
      models: { half_plus_two: { pools: { '1': { replicas: [sim.url] } }, policy: { stable: 1 } } },
    }),
  );
  const child = spawn(process.execPath, [...GATEWAY_NODE_FLAGS, '--allow-natives-syntax', '--require', preload, MAIN, '--config', file], {
    env: { PATH: process.env['PATH'], LOG_LEVEL: 'warn', GATEWAY_STORE: 'memory', ADMIN_TOKEN: 'startup-gc-token-0123456789' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  try {
    const started = await until(() => out, /REST on [\d.]+:(\d+)/, 20_000);
    const port = /REST on [\d.]+:(\d+)/.exec(started)?.[1];
    // Traffic first: the feedback that matters is the one requests leave.
    for (let i = 0; i < 200; i++) {
      const res = await client.post(`http://127.0.0.1:${port}/v1/models/half_plus_two:predict`, '{"instances": [1.0, 2.0]}');
      assert.equal(res.status, 200);
    }
    child.kill('SIGUSR2');
    const printed = await until(() => out, new RegExp(DONE), 10_000);
    const slots = printed.split('\n').filter((line) => line.includes('DefineKeyedOwnPropertyInLiteral'));
    assert.ok(slots.length >= 2, `V8 printed no DefineKeyedOwnPropertyInLiteral slot for nextTick:\n${printed.slice(-3_000)}`);
    for (const slot of slots) assert.match(slot, /MONOMORPHIC/, `nextTick's TickObject literal: ${slot.trim()}`);
  } finally {
    await stopChild(child, 3_000);
    await client.close();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
