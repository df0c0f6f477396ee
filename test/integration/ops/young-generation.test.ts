/**
 * The gateway's young generation stays at its full size when the gateway idles (runtime/heap.ts):
 * left to V8, it shrinks to 1 MiB a semi-space after some seconds without traffic, and traffic
 * after an idle spell then pays several times the scavenges, each promoting the requests in
 * flight, and an early full collection (docs/performance.md: *After an idle spell*). Two real
 * gateway processes, read through /metrics (prom-client's heap-space gauge of the new space): one
 * with the gateway's flags, one with the minimum put back to V8's own, which must shrink (so the
 * wait saw an idle reduction happen) while the gateway's does not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { spawnGateway, type GatewayProcess } from '../../helpers/gateway-process.js';
import { startReplica } from '../../helpers/simulator.js';

const MODEL = 'half_plus_two';
const MIB = 1024 * 1024;

async function newSpaceBytes(gateway: GatewayProcess): Promise<number> {
  const res = await request(`${gateway.admin}/metrics`);
  const text = await res.body.text();
  assert.equal(res.statusCode, 200);
  const line = /^nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)$/m.exec(text);
  assert.ok(line !== null, 'the new space is among the heap-space gauges');
  return Number(line[1]);
}

test("an idle gateway keeps its young generation at 8 MiB a semi-space (V8's own minimum is 1 MiB)", async () => {
  const replica = await startReplica({ model: MODEL, versions: [1] });
  const document = { models: { [MODEL]: { pools: { '1': { replicas: [replica.url] } }, policy: { stable: 1 } } } };
  const gateways: GatewayProcess[] = [];
  try {
    const held = await spawnGateway(document);
    gateways.push(held);
    const free = await spawnGateway(document, ['--min-semi-space-size=1']);
    gateways.push(free);
    // V8's memory reducer shrinks an idle process's young generation after about 8-16 s here.
    const deadline = Date.now() + 45_000;
    let freeBytes = await newSpaceBytes(free);
    while (freeBytes >= 4 * MIB && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      freeBytes = await newSpaceBytes(free);
    }
    assert.ok(freeBytes < 4 * MIB, `the control's new space shrank (${freeBytes} bytes after 45 s idle)`);
    const heldBytes = await newSpaceBytes(held);
    assert.ok(heldBytes >= 8 * MIB, `the gateway's new space stayed at 8 MiB a semi-space: ${heldBytes} bytes`);
  } finally {
    await Promise.all(gateways.map((g) => g.stop()));
    await replica.close();
  }
});
