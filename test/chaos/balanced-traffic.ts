/**
 * Steady client traffic through a load balancer in front of the gateways, as Kubernetes or an L7
 * balancer does it: a gateway takes new requests only while its /readyz answers 200 (polled every
 * 100 ms). Six kinds of request run side by side: over REST keyless, keyed (sticky cohort), and
 * pinned to each version; over gRPC (grpc-js, one channel per gateway, balanced per call as an L7
 * balancer does) keyless Predict and Predict pinned to version 2. Every outcome lands in the tally
 * of the scenario running when it completes.
 */
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import { tfServingClient, type TfServingClient } from '../helpers/grpc-client.js';
import type { TestClient } from '../helpers/http.js';
import { MODEL, versionOfPrediction } from '../helpers/stack.js';
import { STICKY_HEADER, type GatewayProcess } from './chaos-stack.js';

export type Kind = 'keyless' | 'keyed' | 'pinned to version 1' | 'pinned to version 2' | 'gRPC keyless' | 'gRPC pinned to version 2';
export const KINDS: readonly Kind[] = ['keyless', 'keyed', 'pinned to version 1', 'pinned to version 2', 'gRPC keyless', 'gRPC pinned to version 2'];
const GRPC_KINDS: ReadonlySet<Kind> = new Set(['gRPC keyless', 'gRPC pinned to version 2']);

export interface Tally {
  requests: number;
  /** Of the requests, the gRPC calls. */
  grpcRequests: number;
  failures: number;
  excused: number;
  readonly reasons: Map<string, number>;
  readonly startedAt: number;
  /** Keyed requests answered by another version than the same user's earlier ones in this scenario. */
  cohortSwitches: number;
  readonly versionOfUser: Map<string, 1 | 2>;
}

const newTally = (): Tally => ({
  requests: 0,
  grpcRequests: 0,
  failures: 0,
  excused: 0,
  reasons: new Map(),
  startedAt: performance.now(),
  cohortSwitches: 0,
  versionOfUser: new Map(),
});
const PREDICT_BODY = '{"instances": [1.0]}';
const POLL_MS = 100;

export class BalancedTraffic {
  readonly #gateways: readonly GatewayProcess[];
  readonly #client: TestClient;
  readonly #ready = new Set<GatewayProcess>();
  #tally = newTally();
  #running = false;
  #next = 0;
  #workers: Promise<void>[] = [];
  #poller: Promise<void> | undefined;
  /**
   * A gRPC channel per gateway, replaced whenever the gateway becomes ready again: a restarted
   * gateway is on the same port, but the old channel may still be backing off from the refused
   * reconnects while it was down, and would fail a call the balancer sends it at once.
   */
  readonly #grpc = new Map<GatewayProcess, TfServingClient>();
  /** Kinds whose failures the target allows right now (pinned to a version that is down). */
  readonly excused = new Set<Kind>();

  constructor(gateways: readonly GatewayProcess[], client: TestClient) {
    this.#gateways = gateways;
    this.#client = client;
  }

  /**
   * Starts polling readiness and `perKind` workers of each REST kind, half as many (at least one)
   * of each gRPC kind, so the machine's load stays near what it was with REST alone; resolves once
   * a gateway is ready.
   */
  async start(perKind: number): Promise<void> {
    this.#running = true;
    this.#poller = this.#poll();
    const deadline = Date.now() + 10_000;
    while (this.#ready.size < this.#gateways.length) {
      if (Date.now() > deadline) throw new Error('the gateways did not become ready within 10 s');
      await sleep(POLL_MS);
    }
    let user = 0;
    for (const kind of KINDS) {
      const workers = GRPC_KINDS.has(kind) ? Math.max(1, Math.floor(perKind / 2)) : perKind;
      for (let i = 0; i < workers; i++) this.#workers.push(this.#work(kind, () => `user-${user++ % 500}`));
    }
  }

  /** Ends the running scenario's tally and starts the next one. */
  cut(): Tally {
    const done = this.#tally;
    this.#tally = newTally();
    return done;
  }

  /** Clients running (one request at a time each). */
  workerCount(): number {
    return this.#workers.length;
  }

  readyCount(): number {
    return this.#ready.size;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#workers);
    await this.#poller;
    for (const channel of this.#grpc.values()) channel.close();
    this.#grpc.clear();
  }

  async #poll(): Promise<void> {
    while (this.#running) {
      await Promise.all(
        this.#gateways.map(async (gateway) => {
          if (await isReady(gateway, this.#client)) {
            if (!this.#ready.has(gateway)) {
              this.#grpc.get(gateway)?.close();
              this.#grpc.set(gateway, tfServingClient(gateway.grpc));
            }
            this.#ready.add(gateway);
          } else this.#ready.delete(gateway);
        }),
      );
      await sleep(POLL_MS);
    }
  }

  #pick(): GatewayProcess | undefined {
    const ready = [...this.#ready];
    if (ready.length === 0) return undefined;
    return ready[this.#next++ % ready.length];
  }

  async #work(kind: Kind, nextUser: () => string): Promise<void> {
    while (this.#running) {
      const gateway = this.#pick();
      if (gateway === undefined) {
        // What a balancer with no ready backend answers.
        this.#count(kind, 'no gateway ready', false);
        await sleep(20);
        continue;
      }
      const excusedAtStart = this.excused.has(kind);
      if (GRPC_KINDS.has(kind)) {
        const problem = await this.#grpcCall(gateway, kind);
        this.#count(kind, problem, excusedAtStart || this.excused.has(kind));
        continue;
      }
      const { path, headers } = requestFor(kind, nextUser);
      let problem: string | undefined;
      try {
        const reply = await this.#client.post(`${gateway.rest}${path}`, PREDICT_BODY, headers);
        const verdict = judge(kind, reply.status, reply.text);
        problem = verdict.problem;
        const user = headers[STICKY_HEADER];
        if (user !== undefined && verdict.version !== undefined) this.#sticky(user, verdict.version);
      } catch (err) {
        problem = `${gateway.name}: ${(err as Error).message}`;
        await sleep(5);
      }
      this.#count(kind, problem, excusedAtStart || this.excused.has(kind));
    }
  }

  /** One gRPC Predict of x = 1 through `gateway`: what was wrong with its answer, if anything. */
  async #grpcCall(gateway: GatewayProcess, kind: Kind): Promise<string | undefined> {
    const channel = this.#grpc.get(gateway);
    if (channel === undefined) return `${gateway.name}: no gRPC channel`;
    const pinned = kind === 'gRPC pinned to version 2';
    const request = {
      model_spec: { name: MODEL, ...(pinned ? { version: { value: '2' } } : {}) },
      inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: '1' }] }, float_val: [1] } },
    };
    try {
      // A little longer than the gateway's deadline (5 s), so that its DEADLINE_EXCEEDED is what shows.
      const reply = await channel.call<{ outputs?: { y?: { float_val?: number[] } } }>('PredictionService', 'Predict', request, { deadlineMs: 6_000 });
      const y = reply.outputs?.y?.float_val?.[0];
      if (y !== 2.5 && y !== 3.5) return `OK with an unexpected answer ${JSON.stringify(reply).slice(0, 120)}`;
      if (pinned && y !== 3.5) return 'answered by version 1';
      return undefined;
    } catch (err) {
      const e = err as grpc.ServiceError;
      await sleep(5);
      return `${grpc.status[e.code] ?? String(e.code)} ${String(e.details).replace(/\s+/g, ' ').slice(0, 160)}`;
    }
  }

  #sticky(user: string, version: 1 | 2): void {
    const seen = this.#tally.versionOfUser.get(user);
    if (seen === undefined) this.#tally.versionOfUser.set(user, version);
    else if (seen !== version) {
      this.#tally.cohortSwitches++;
      this.#tally.versionOfUser.set(user, version);
    }
  }

  #count(kind: Kind, problem: string | undefined, excused: boolean): void {
    const tally = this.#tally;
    tally.requests++;
    if (GRPC_KINDS.has(kind)) tally.grpcRequests++;
    if (problem === undefined) return;
    const reason = `${kind}: ${problem}`;
    if (excused) tally.excused++;
    else tally.failures++;
    tally.reasons.set(reason, (tally.reasons.get(reason) ?? 0) + 1);
  }
}

function requestFor(kind: Kind, nextUser: () => string): { path: string; headers: Record<string, string> } {
  switch (kind) {
    case 'keyless':
      return { path: `/v1/models/${MODEL}:predict`, headers: {} };
    case 'keyed':
      return { path: `/v1/models/${MODEL}:predict`, headers: { [STICKY_HEADER]: nextUser() } };
    case 'pinned to version 1':
      return { path: `/v1/models/${MODEL}/versions/1:predict`, headers: {} };
    case 'pinned to version 2':
      return { path: `/v1/models/${MODEL}/versions/2:predict`, headers: {} };
    default:
      throw new Error(`${kind} is not a REST kind`);
  }
}

/** The version that answered, and what was wrong with the reply for its kind, if anything. */
function judge(kind: Kind, status: number, text: string): { problem?: string; version?: 1 | 2 } {
  if (status !== 200) return { problem: `${status} ${errorText(text)}` };
  let version: 1 | 2;
  try {
    version = versionOfPrediction(text);
  } catch {
    return { problem: `200 with an unexpected body ${text.slice(0, 120)}` };
  }
  if (kind === 'pinned to version 1' && version !== 1) return { problem: `answered by version ${version}`, version };
  if (kind === 'pinned to version 2' && version !== 2) return { problem: `answered by version ${version}`, version };
  return { version };
}

/** TF Serving's error message, on one line, for the tally's reasons. */
function errorText(text: string): string {
  let message = text;
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === 'string') message = parsed.error;
  } catch {
    // Not JSON: keep the text as it came.
  }
  return message.replace(/\s+/g, ' ').trim().slice(0, 160);
}

async function isReady(gateway: GatewayProcess, client: TestClient): Promise<boolean> {
  try {
    const res = await request(`${gateway.admin}/readyz`, { dispatcher: client.agent, headersTimeout: 500, bodyTimeout: 500 });
    await res.body.dump();
    return res.statusCode === 200;
  } catch {
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
