/**
 * The admin API as the UI sees it (GET /api/openapi.json has the full schemas). Fields marked
 * "newer gateways" may be missing: the UI shows them only when present.
 */

export type Role = 'operator' | 'viewer';
export type Side = 'canary' | 'stable';

export interface Session {
  name: string;
  role: Role;
  storeAvailable: boolean;
  store: string;
}

export interface Rule {
  header?: string;
  cookie?: string;
  equals?: string;
  regex?: string;
  to?: Side;
}

export interface RolloutPlan {
  steps: number[];
  minDwellSeconds: number;
  minRequests: number;
}

export interface Policy {
  stable: number;
  canary: number | null;
  percent: number;
  headerRules: Rule[];
  cookieRules: Rule[];
  sticky: { header?: string; cookie?: string } | null;
  salt: string;
  /** Newer gateways. */
  plan?: RolloutPlan | null;
}

export interface Stats {
  rps: number;
  errorRate: number;
  p50Ms: number | null;
  p99Ms: number | null;
  requests: number;
  errors: number;
}

export interface Replica {
  url: string;
  health: 'unknown' | 'up' | 'down';
  outstanding: number;
  lastCheck: { at: string; ok: boolean; detail: string } | null;
  /** Newer gateways: the replica's circuit breaker. */
  breaker?: 'closed' | 'open' | 'half-open';
  consecutiveFailures?: number;
  /** Newer gateways: set while outlier ejection keeps the replica out. */
  ejectedUntil?: string | null;
  ejections?: number;
}

export interface Pool {
  version: number;
  role: 'stable' | 'canary' | 'idle';
  healthyReplicas: number;
  /** Newer gateways: healthy, breaker not open, not ejected. */
  availableReplicas?: number;
  /** Newer gateways: canary-bound requests go to stable (breakers or error rate). */
  draining?: boolean;
  stats: Stats;
  replicas: Replica[];
}

export interface ModelView {
  name: string;
  revision: number;
  state: string;
  paused: boolean;
  rolledBack: boolean;
  updatedAt: string;
  updatedBy: string;
  reason: string;
  /** Newer gateways: the note of the last change. */
  note?: string;
  policy: Policy;
  pools: Pool[];
  /** Newer gateways: where a progressive rollout stands (index into policy.plan.steps). */
  rollout?: { step: number; since: string } | null;
}

/** One stats tick of a model's chart history (the snapshot's `history`). */
export interface HistorySample {
  at: string;
  versions: Array<{ version: number; role: Pool['role']; rps: number; errorRate: number; p50Ms: number | null; p99Ms: number | null }>;
}

/** The event stream's first event. */
export interface Snapshot {
  models: ModelView[];
  storeAvailable: boolean;
  /** Newer gateways: per model, its last stats ticks, oldest first. */
  history?: Record<string, HistorySample[]>;
}

export interface AuditEntry {
  id: string;
  model: string;
  revision: number;
  at: string;
  actor: string;
  reason: string;
  note: string;
  before: { policy?: Partial<Policy>; [flag: string]: unknown } | null;
  after: { policy?: Partial<Policy>; [flag: string]: unknown };
}

export interface Issue {
  path: string;
  message: string;
}

/** An answer other than 2xx, with the API's `{error, details}` when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: Issue[] = [],
  ) {
    super(message);
  }
}

export const TOKEN_KEY = 'canary-gateway.admin-token';

export class Api {
  constructor(
    readonly token: string,
    /** Called on any 401: the token is no longer accepted (a restarted gateway may have a new one). */
    private readonly onUnauthorized: () => void = () => {},
  ) {}

  get headers(): Record<string, string> {
    return { authorization: `Bearer ${this.token}` };
  }

  async request<T>(method: string, path: string, body?: unknown, ifMatch?: number): Promise<T> {
    const headers: Record<string, string> = { ...this.headers, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (ifMatch !== undefined) headers['if-match'] = String(ifMatch);
    let res: Response;
    try {
      res = await fetch(path, { method, headers, cache: 'no-store', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (err) {
      throw new ApiError(0, `cannot reach the gateway's admin API (${(err as Error).message})`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (res.ok) return json as T;
    if (res.status === 401) this.onUnauthorized();
    const error = json as { error?: string; details?: Issue[] } | undefined;
    throw new ApiError(res.status, error?.error ?? `HTTP ${res.status}`, error?.details ?? []);
  }

  session = () => this.request<Session>('GET', '/api/session');
  model = (name: string) => this.request<ModelView>('GET', `/api/models/${encodeURIComponent(name)}`);
  audit = (model: string, limit = 20) =>
    this.request<{ entries: AuditEntry[] }>('GET', `/api/audit?model=${encodeURIComponent(model)}&limit=${limit}`);
  /** A write; `ifMatch` makes it apply only to the revision the operator was looking at. */
  write = (method: 'PUT' | 'POST', model: string, action: string, body: object = {}, ifMatch?: number) =>
    this.request<ModelView>(method, `/api/models/${encodeURIComponent(model)}/${action}`, body, ifMatch);
}
