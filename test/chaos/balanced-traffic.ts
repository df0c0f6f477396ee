/**
 * Steady client traffic through a load balancer in front of the gateways, as Kubernetes or an L7
 * balancer does it: a gateway takes new requests only while its /readyz answers 200 (polled every
 * 100 ms). Four kinds of request run side by side: keyless, keyed (sticky cohort), and pinned to
 * each version. Every outcome lands in the tally of the scenario running when it completes.
 */
import { request } from 'undici';
import type { TestClient } from '../helpers/http.js';
import { MODEL, versionOfPrediction } from '../helpers/stack.js';
import { STICKY_HEADER, type GatewayProcess } from './chaos-stack.js';

export type Kind = 'keyless' | 'keyed' | 'pinned to version 1' | 'pinned to version 2';
export const KINDS: readonly Kind[] = ['keyless', 'keyed', 'pinned to version 1', 'pinned to version 2'];

export interface Tally {
  requests: number;
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
  /** Kinds whose failures the target allows right now (pinned to a version that is down). */
  readonly excused = new Set<Kind>();

  constructor(gateways: readonly GatewayProcess[], client: TestClient) {
    this.#gateways = gateways;
    this.#client = client;
  }

  /** Starts polling readiness and `perKind` workers of each kind; resolves once a gateway is ready. */
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
      for (let i = 0; i < perKind; i++) this.#workers.push(this.#work(kind, () => `user-${user++ % 500}`));
    }
  }

  /** Ends the running scenario's tally and starts the next one. */
  cut(): Tally {
    const done = this.#tally;
    this.#tally = newTally();
    return done;
  }

  readyCount(): number {
    return this.#ready.size;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#workers);
    await this.#poller;
  }

  async #poll(): Promise<void> {
    while (this.#running) {
      await Promise.all(
        this.#gateways.map(async (gateway) => {
          if (await isReady(gateway, this.#client)) this.#ready.add(gateway);
          else this.#ready.delete(gateway);
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
