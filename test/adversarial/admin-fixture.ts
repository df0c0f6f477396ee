/**
 * The target of the admin API attacks: a gateway (memory or Redis store) in front of one simulated
 * replica per version, and what "nothing was written" means for it: the model's view (revision,
 * policy, flags, pools), the audit trail through the API, and the store itself read directly
 * (the store object in memory; the Redis hash and audit stream with a client of our own).
 */
import { isDeepStrictEqual } from 'node:util';
import { Redis } from 'ioredis';
import { createLogger } from '../../gateway/src/observability/logger.js';
import { startSimulator, type SimulatorHandle } from '../../simulator/src/server.js';
import { startTestGateway, TEST_TOKEN, VIEWER_TOKEN, type TestGateway } from '../helpers/gateway.js';
import { TestClient, type Reply } from '../helpers/http.js';
import { MODEL } from '../helpers/stack.js';

export { MODEL };

/** The state every case starts from: a canary at 10% with rules and a sticky key, no plan. */
export const BASELINE = {
  stable: 1,
  canary: 2,
  percent: 10,
  headerRules: [{ header: 'x-canary' }, { header: 'x-tier', equals: 'internal', to: 'stable' }],
  cookieRules: [{ cookie: 'canary' }],
  sticky: { header: 'x-user-id' },
  salt: 'fuzz',
};

export const OPERATOR = `Bearer ${TEST_TOKEN}`;
export const VIEWER = `Bearer ${VIEWER_TOKEN}`;

export interface WriteRequest {
  readonly method: string;
  /** Under /api/models/{model}. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

interface ModelView {
  revision: number;
  state: string;
  paused: boolean;
  rolledBack: boolean;
  rollout: unknown;
  updatedAt: string;
  policy: unknown;
  pools: Array<{ version: number; replicas: Array<{ url: string }> }>;
}

export interface Observed {
  readonly view: Omit<ModelView, 'pools'>;
  readonly pools: Record<string, string[]>;
  readonly auditIds: string[];
  /** What the store returns for the model, read directly. */
  readonly stored: string;
  /** Redis only: the model's hash and the audit stream's length, read with our own client. */
  readonly raw?: { revision: string | null; doc: string | null; auditLength: number };
}

export interface AdminTarget {
  readonly gw: TestGateway;
  readonly client: TestClient;
  readonly storeKind: 'memory' | 'redis';
  /** A request under /api/models/{model}; `headers` are sent as given (add the token yourself). */
  send(request: WriteRequest): Promise<Reply>;
  observe(): Promise<Observed>;
  /** Puts back the baseline policy, flags and pools after a write that should not have happened. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

export type StoreChoice = { readonly type: 'memory' } | { readonly type: 'redis'; readonly url: string };

export async function startAdminTarget(store: StoreChoice): Promise<AdminTarget> {
  const sims: SimulatorHandle[] = [];
  const client = new TestClient(4);
  let gw: TestGateway | undefined;
  let redis: Redis | undefined;
  const close = async (): Promise<void> => {
    await client.close();
    await gw?.close();
    redis?.disconnect();
    await Promise.all(sims.map((s) => s.close()));
  };
  try {
    sims.push(await startSimulator({ model: MODEL, versions: [1], behaviour: 'half_plus_two' }));
    sims.push(await startSimulator({ model: MODEL, versions: [2], behaviour: 'half_plus_three' }));
    const pools = { '1': [sims[0]!.url], '2': [sims[1]!.url] };
    const keyPrefix = `admin-api-${process.pid}:`;
    gw = await startTestGateway({
      models: {
        [MODEL]: {
          pools: { '1': { replicas: pools['1'] }, '2': { replicas: pools['2'] } },
          policy: BASELINE,
          healthCheck: { intervalMs: 1000, timeoutMs: 500 },
        },
      },
      ...(store.type === 'redis' ? { store: { type: 'redis', url: store.url, keyPrefix } } : {}),
    }, createLogger(process.env['TEST_LOG_LEVEL'] ?? 'error')); // writes let through point pools at dead ports: no warnings for those
    const started = gw;
    if (store.type === 'redis') redis = new Redis(store.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis?.connect();
    const base = `${started.admin}/api/models/${MODEL}`;
    const send = (r: WriteRequest): Promise<Reply> => client.send(r.method, `${base}${r.path}`, r.body, { ...r.headers });
    const read = async <T>(path: string): Promise<T> => {
      const reply = await client.get(`${started.admin}${path}`, { authorization: VIEWER });
      if (reply.status !== 200) throw new Error(`GET ${path}: ${reply.status} ${reply.text}`);
      return reply.json<T>();
    };
    const rawState = async (): Promise<Observed['raw']> => {
      if (redis === undefined) return undefined;
      const [[, hash], [, length]] = (await redis
        .multi()
        .hmget(`${keyPrefix}{policies}:model:${MODEL}`, 'revision', 'doc')
        .xlen(`${keyPrefix}{policies}:audit`)
        .exec()) as [[Error | null, [string | null, string | null]], [Error | null, number]];
      return { revision: hash[0], doc: hash[1], auditLength: length };
    };
    const observe = async (): Promise<Observed> => {
      const { pools: poolViews, ...view } = await read<ModelView>(`/api/models/${MODEL}`);
      const audit = await read<{ entries: Array<{ id: string }> }>(`/api/audit?model=${MODEL}&limit=1000`);
      const raw = await rawState();
      return {
        view,
        pools: Object.fromEntries(poolViews.map((p) => [String(p.version), p.replicas.map((r) => r.url).sort()])),
        auditIds: audit.entries.map((e) => e.id),
        stored: JSON.stringify(await started.gateway.store.load([MODEL])),
        ...(raw === undefined ? {} : { raw }),
      };
    };
    const operator = { authorization: OPERATOR, 'content-type': 'application/json' };
    const restore = async (): Promise<void> => {
      const now = await observe();
      for (const version of Object.keys(now.pools)) {
        const wanted = pools[version as '1' | '2'] ?? [];
        if (isDeepStrictEqual(now.pools[version], wanted)) continue;
        const reply = await send({ method: 'PUT', path: `/pools/${version}/replicas`, headers: operator, body: JSON.stringify({ replicas: wanted }) });
        if (reply.status !== 200) throw new Error(`restoring pool ${version}: ${reply.status} ${reply.text}`);
      }
      const policy = await send({ method: 'PUT', path: '/policy', headers: operator, body: JSON.stringify(BASELINE) });
      if (policy.status !== 200) throw new Error(`restoring the policy: ${policy.status} ${policy.text}`);
      await send({ method: 'POST', path: '/resume', headers: operator });
    };
    return { gw: started, client, storeKind: store.type, send, observe, restore, close };
  } catch (err) {
    await close();
    throw err;
  }
}
