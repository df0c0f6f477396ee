/**
 * The admin API as the UI calls it. Every type is the gateway's own (its TypeBox schemas in
 * gateway/src/controlplane/admin/api-schemas.ts, which also give GET /api/openapi.json): imported as
 * types only, so nothing of the gateway reaches the bundle, and a change of the API that the UI
 * does not follow fails the UI's type-check.
 */
import type {
  ActionBody,
  AuditList,
  ErrorBody,
  Issue,
  ModelView,
  PercentBody,
  RulesBody,
  Session,
  ShadowBody,
} from '../../gateway/src/controlplane/admin/api-schemas.js';

export type {
  AuditEntry,
  CookieRule,
  HeaderRule,
  HistorySample,
  Issue,
  ModelState,
  ModelView,
  PolicyView as Policy,
  PoolRole,
  PoolView as Pool,
  ReplicaView as Replica,
  RollbackEvent,
  RulesBody,
  Session,
  StatsEvent,
  StreamMessage,
  TargetSide,
} from '../../gateway/src/controlplane/admin/api-schemas.js';

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

/** The model actions that take no more than a note. */
export type Action = 'rollback' | 'promote' | 'pause' | 'resume';

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
    // Not every failure comes from the API (a proxy's 502 has no such body).
    const error = json as Partial<ErrorBody> | undefined;
    throw new ApiError(res.status, error?.error ?? `HTTP ${res.status}`, error?.details ?? []);
  }

  session = () => this.request<Session>('GET', '/api/session');
  model = (name: string) => this.request<ModelView>('GET', `/api/models/${encodeURIComponent(name)}`);
  audit = (model: string, limit = 20) => this.request<AuditList>('GET', `/api/audit?model=${encodeURIComponent(model)}&limit=${limit}`);
  // Writes: `ifMatch` makes one apply only to the revision the operator was looking at.
  setPercent = (model: string, body: PercentBody, ifMatch?: number) => this.request<ModelView>('PUT', actionPath(model, 'percent'), body, ifMatch);
  setRules = (model: string, body: RulesBody, ifMatch?: number) => this.request<ModelView>('PUT', actionPath(model, 'rules'), body, ifMatch);
  setShadow = (model: string, body: ShadowBody, ifMatch?: number) => this.request<ModelView>('PUT', actionPath(model, 'shadow'), body, ifMatch);
  act = (model: string, action: Action, body: ActionBody = {}, ifMatch?: number) =>
    this.request<ModelView>('POST', actionPath(model, action), body, ifMatch);
  clearRejected = (model: string, version: number, ifMatch?: number) =>
    this.request<ModelView>('DELETE', actionPath(model, `rejected/${version}`), {}, ifMatch);
}

function actionPath(model: string, action: string): string {
  return `/api/models/${encodeURIComponent(model)}/${action}`;
}
