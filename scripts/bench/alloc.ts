#!/usr/bin/env node
/**
 * What one proxied REST request allocates, in the gateway and in the Node floor (a bare node:http
 * + undici forwarder, proxy-node-floor.ts), both in front of the bench's backend: the same closed
 * loop of predict requests through each, with V8's sampling heap profiler counting every
 * allocation in the process meanwhile (alloc-sampler.ts). Allocations are what feeds the scavenges
 * that make up the tail; the table says where they come from, per request. With --grpc, per
 * unary Predict call, against the gRPC Node floor (proxy-grpc-floor.ts), in front of the
 * simulator's gRPC port, each connection one HTTP/2 session with one call at a time.
 *
 *   npm run bench:alloc [-- --seconds 8 --connections 8 --grpc]
 */
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import { Agent, request } from 'undici';
import { spawnNode, stopChild } from '../lib/processes.js';
import { GATEWAY_NODE_FLAGS } from '../../gateway/src/runtime/heap.js';
import type { AllocReport } from './alloc-sampler.js';
import { gatewayConfig, REALISTIC_RULES } from './gateway-config.js';
import { PREDICT_BODY, PREDICT_PATH, USER_AGENT } from './wrk.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GATEWAY_MAIN, script, SIMULATOR } from './runtime.js';
import { closeSession, connect, grpcCall } from './grpc-call.js';
import { PREDICT_METHOD, smallPredict } from './grpc-messages.js';

/** Requests (or calls) through `url` from `connections` clients for `seconds`; returns how many completed. */
type Load = (url: string, connections: number, seconds: number) => Promise<number>;

const restLoad: Load = async (url, connections, seconds) => {
  const agent = new Agent({ connections });
  const until = performance.now() + seconds * 1000;
  let done = 0;
  const client = async (): Promise<void> => {
    while (performance.now() < until) {
      const res = await request(url + PREDICT_PATH, { method: 'POST', body: PREDICT_BODY, headers: { 'content-type': 'application/json', 'user-agent': USER_AGENT }, dispatcher: agent });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode} from ${url}`);
      done++;
    }
  };
  await Promise.all(Array.from({ length: connections }, client));
  await agent.close();
  return done;
};

const SMALL_PREDICT = smallPredict();

const grpcLoad: Load = async (url, connections, seconds) => {
  const until = performance.now() + seconds * 1000;
  let done = 0;
  const client = async (): Promise<void> => {
    const session = await connect(url);
    try {
      while (performance.now() < until) {
        const answer = await grpcCall(session, PREDICT_METHOD, SMALL_PREDICT, 10_000);
        if (answer.status !== '0') throw new Error(`grpc-status ${String(answer.status)} from ${url}: ${answer.message ?? ''}`);
        done++;
      }
    } finally {
      await closeSession(session);
    }
  };
  await Promise.all(Array.from({ length: connections }, client));
  return done;
};

async function ask(child: ChildProcess, alloc: 'start' | 'stop'): Promise<AllocReport | undefined> {
  const reply = new Promise<{ alloc: string; report?: AllocReport }>((resolve) => {
    const on = (m: { alloc?: string; report?: AllocReport }): void => {
      if (m.alloc === (alloc === 'start' ? 'started' : 'report')) {
        child.off('message', on);
        resolve(m as { alloc: string; report?: AllocReport });
      }
    };
    child.on('message', on);
  });
  child.send({ alloc });
  return (await reply).report;
}

interface Measured {
  readonly requests: number;
  readonly report: AllocReport;
}

async function measure(child: ChildProcess, url: string, load: Load, connections: number, seconds: number): Promise<Measured> {
  await load(url, connections, 2);
  await ask(child, 'start');
  const requests = await load(url, connections, seconds);
  const report = (await ask(child, 'stop')) as AllocReport;
  return { requests, report };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '8' }, connections: { type: 'string', default: '8' }, grpc: { type: 'boolean', default: false } } });
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);
  const grpc = values.grpc === true;
  const load = grpc ? grpcLoad : restLoad;
  const dir = mkdtempSync(join(tmpdir(), 'bench-alloc-'));
  const children: ChildProcess[] = [];
  try {
    // REST: the bench's backend; gRPC: the simulator's gRPC port (as bench:instructions --grpc).
    const backend = grpc
      ? await spawnNode(SIMULATOR, ['--port', '0', '--grpc-port', '0', '--versions', '1,2'], /listening on (http:\/\/\S+) grpc:\/\/\S*:(\d+)/, { ipc: true })
      : await spawnNode(script('backend'), ['--ports', '1'], /listening on \S+ ports (\d+)/, { ipc: true });
    children.push(backend.child);
    const upstream = grpc ? `127.0.0.1:${backend.match[2] as string}` : `http://127.0.0.1:${backend.match[1] as string}`;
    const replica = grpc ? { url: backend.match[1] as string, grpcPort: Number(backend.match[2]) } : upstream;
    const nodeArgs = [...GATEWAY_NODE_FLAGS, '--import', script('alloc-sampler')];

    const config = join(dir, 'gateway.json');
    writeFileSync(config, JSON.stringify(gatewayConfig({ replicas: [replica], headerRules: REALISTIC_RULES })));
    const env = { ...process.env, LOG_LEVEL: 'warn', GATEWAY_STORE: 'memory', ADMIN_TOKEN: 'bench-alloc-token-0123456789' };
    const listening = grpc ? /gRPC on ([\d.]+:\d+)/ : /REST on ([\d.]+:\d+)/;
    const gateway = await spawnNode(GATEWAY_MAIN, ['--config', config], listening, { env, ipc: true, nodeArgs, timeoutMs: 60_000 });
    children.push(gateway.child);
    const floor = await spawnNode(script(grpc ? 'proxy-grpc-floor' : 'proxy-node-floor'), ['--upstream', upstream], /listening on (\S+)/, { ipc: true, nodeArgs });
    children.push(floor.child);

    const results: Array<[string, Measured]> = [];
    for (const [name, child, url] of [
      ['gateway', gateway.child, `http://${gateway.match[1] as string}`],
      ['Node floor', floor.child, floor.match[1] as string],
    ] as const) {
      results.push([name, await measure(child, url, load, connections, seconds)]);
    }
    const perRequest = (m: Measured, bytes: number): number => Math.round(bytes / m.requests);
    const lines = [
      `### Allocations per proxied ${grpc ? 'gRPC Predict call' : 'REST request'} (${connections} connections, ${seconds} s each, V8 sampling heap profiler at 512 B)`,
      '',
      `| process | ${grpc ? 'calls' : 'requests'} | allocated per ${grpc ? 'call' : 'request'} |`,
      '|---|---:|---:|',
      ...results.map(([name, m]) => `| ${name} | ${m.requests.toLocaleString('en-US')} | ${(perRequest(m, m.report.totalBytes) / 1024).toFixed(1)} KiB |`),
      '',
    ];
    for (const [name, m] of results) {
      lines.push(`${name}, the sites allocating most (bytes per ${grpc ? 'call' : 'request'}):`, '', '| bytes | site |', '|---:|---|');
      for (const s of m.report.sites.slice(0, 20)) lines.push(`| ${perRequest(m, s.bytes)} | \`${s.site}\` |`);
      lines.push('');
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await Promise.all(children.map((c) => stopChild(c)));
    rmSync(dir, { recursive: true, force: true });
  }
  await once(process, 'beforeExit');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:alloc: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
