/**
 * The shared store: every gateway of a deployment reads and writes the same policies in Redis
 * (standalone, Sentinel or Cluster). Same contract as MemoryStore; see types.ts.
 *
 * Layout, for a key prefix P (all keys of one prefix share the hash tag `{policies}`, so both
 * scripts touch a single Cluster slot):
 *   P{policies}:model:<model>  hash   revision = integer, doc = JSON {policy, paused, rolledBack, rollout, updatedAt, updatedBy, reason, note, provisional},
 *                                     provisional = the revision, while the doc is a provisional seed (for the seed script)
 *   P{policies}:audit          stream one entry per accepted write, all models, capped
 *   Pchanges                   channel one message per accepted write: {"model": m, "revision": r}
 *
 * A write is one Lua script (compare revision, write, XADD, PUBLISH), so no write exists without
 * its audit entry and its message. A message is only a hint that a model has a newer revision:
 * the gateway reads the hash before it applies anything, so whoever can PUBLISH on the channel
 * (but not run the audited script) changes nothing; such a message is logged and ignored. JSON is only ever built and parsed here, never in Lua (cjson
 * would turn `[]` into `{}`); the scripts only compare revisions and concatenate strings.
 */
import { EventEmitter } from 'node:events';
import { Cluster, type ChainableCommander, type Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { PolicyDocument } from '../../policy/schema.js';
import { controlOf, NO_VERSIONS, type ControlState, type VersionsState } from '../../policy/stored.js';
import { createClient, planClient, type RedisConnectionOptions } from './redis-client.js';
import {
  CHANGE_REASONS,
  RevisionConflictError,
  StoreUnavailableError,
  seedAuditNote,
  type AuditEntry,
  type AuditQuery,
  type ChangeReason,
  type PolicyStore,
  type PolicyWrite,
  type SeedEntry,
  type SeedSource,
  type StoreEvents,
  type StoredPolicy,
} from './types.js';

/** Exactly one of url, sentinels or cluster; credentials and TLS as redis-client.ts maps them. */
export interface RedisStoreOptions extends RedisConnectionOptions {
  /** Every key and the channel start with it, so several environments can share one Redis. */
  readonly keyPrefix: string;
  /** The audit trail keeps about this many entries and never shows more. */
  readonly auditMaxEntries: number;
  /** start() gives up after this; also the TCP connect timeout of each attempt. */
  readonly connectTimeoutMs: number;
  /** No command waits longer. */
  readonly commandTimeoutMs: number;
  readonly logger: Logger;
}

/** Reconnect delays double from 50 ms up to this. */
const MAX_BACKOFF_MS = 2_000;
/** How often idle connections are pinged: a silently dead link (no RST) is otherwise seen only by TCP keepalive, minutes later. */
const HEARTBEAT_MS = 5_000;
/** A socket that does not close gracefully is destroyed after this (ioredis' default, 2 s, would hold the process on close()). */
const DISCONNECT_GRACE_MS = 250;
/** Our own deadline sits just past ioredis' commandTimeout, so its (more precise) error normally wins. */
const GUARD_SLACK_MS = 50;
const AUDIT_BATCH = 200;

/*
 * KEYS[1] the model's hash, KEYS[2] the audit stream.
 * ARGV: expected revision ('' = unconditional), doc, model, at, actor, reason, note, audit cap,
 *       channel, message head, message tail (message = head .. revision .. tail).
 * Returns {1, revision} when written, {0, current revision, current doc} on a conflict.
 */
const PUT_LUA = `
local current = redis.call('HMGET', KEYS[1], 'revision', 'doc')
local revision = tonumber(current[1]) or 0
if ARGV[1] ~= '' and revision ~= tonumber(ARGV[1]) then
  return {0, tostring(current[1] or '0'), current[2] or ''}
end
local rev = string.format('%d', revision + 1)
redis.call('HSET', KEYS[1], 'revision', rev, 'doc', ARGV[2])
redis.call('HDEL', KEYS[1], 'provisional')
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], '*',
  'model', ARGV[3], 'revision', rev, 'at', ARGV[4], 'actor', ARGV[5], 'reason', ARGV[6],
  'note', ARGV[7], 'before', current[2] or '', 'after', ARGV[2])
redis.call('PUBLISH', ARGV[9], ARGV[10] .. rev .. ARGV[11])
return {1, rev}
`;

/*
 * KEYS as above. ARGV: revision, doc, model, at, actor, audit cap, channel, message head, message
 * tail, provisional ('1' or '0'), audit note.
 * The seed rule of types.ts (seededRevision), in one step so racing gateways cannot interleave:
 * nothing stored -> store; a provisional seed never replaces; a restore replaces a provisional
 * policy (one revision above it at least) or a lower revision. The hash's `provisional` field
 * mirrors the doc's flag for this script, which never parses JSON; it holds the revision it was
 * set at, so a write by a gateway that predates it (and leaves it) does not count as provisional.
 * Returns {1|0, revision, doc}: what is stored after the call (1 when this call stored it).
 */
const SEED_LUA = `
local current = redis.call('HMGET', KEYS[1], 'revision', 'doc', 'provisional')
local seed = tonumber(ARGV[1])
local rev = nil
if redis.call('EXISTS', KEYS[1]) == 0 then
  rev = seed
elseif ARGV[10] ~= '1' then
  local stored = tonumber(current[1]) or 0
  if current[3] ~= false and current[3] == current[1] then
    rev = math.max(seed, stored + 1)
  elseif seed > stored then
    rev = seed
  end
end
if rev == nil then
  return {0, current[1] or '', current[2] or ''}
end
local text = string.format('%d', rev)
redis.call('HSET', KEYS[1], 'revision', text, 'doc', ARGV[2])
if ARGV[10] == '1' then
  redis.call('HSET', KEYS[1], 'provisional', text)
else
  redis.call('HDEL', KEYS[1], 'provisional')
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*',
  'model', ARGV[3], 'revision', text, 'at', ARGV[4], 'actor', ARGV[5], 'reason', 'config',
  'note', ARGV[11], 'before', current[2] or '', 'after', ARGV[2])
redis.call('PUBLISH', ARGV[7], ARGV[8] .. text .. ARGV[9])
return {1, text, ARGV[2]}
`;

const SCRIPTS = {
  policyPut: { numberOfKeys: 2, lua: PUT_LUA },
  policySeed: { numberOfKeys: 2, lua: SEED_LUA },
} as const;

/** The commands `SCRIPTS` adds; ioredis defines them at run time, so TypeScript is told here. */
interface ScriptCommands {
  policyPut(...args: string[]): Promise<unknown>;
  policySeed(...args: string[]): Promise<unknown>;
}
type ScriptPipeline = ChainableCommander & { policySeed(...args: string[]): ScriptPipeline };

type Client = Redis | Cluster;
type Role = 'commands' | 'changes';
type Phase = 'new' | 'starting' | 'running' | 'closed';

/** What the hash's `doc` holds: a StoredPolicy without model and revision. */
interface StoredBody extends ControlState {
  readonly policy: PolicyDocument;
  readonly updatedAt: string;
  readonly updatedBy: string;
  readonly reason: ChangeReason;
  readonly note: string;
  readonly provisional: boolean;
}

export class RedisStore extends EventEmitter<StoreEvents> implements PolicyStore {
  readonly kind = 'redis';
  readonly #options: RedisStoreOptions;
  readonly #log: Logger;
  readonly #auditKey: string;
  readonly #channel: string;
  readonly #modelKeyPrefix: string;
  #commands: Client | undefined;
  #changes: Client | undefined;
  #seed: SeedSource | undefined;
  #phase: Phase = 'new';
  /** Both connections ready, subscribed and re-seeded; only then do operations go to Redis. */
  #available = false;
  #subscribed = false;
  /** Bumped on every connection loss: a re-seed begun before it proves nothing. */
  #epoch = 0;
  /** Bumped on every loss of the subscriber: a SUBSCRIBE answered on an older socket proves nothing. */
  #changesEpoch = 0;
  #resyncing = false;
  #resyncFailures = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  /** Cluster only: false from a failed command or a lost node until a probe reaches our slot again. */
  #slotReachable = true;
  #probeTimer: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #settleStart: ((stored: StoredPolicy[] | undefined) => void) | undefined;
  readonly #lastError: Record<Role, string> = { commands: 'not connected yet', changes: 'not connected yet' };
  /** Change hints not yet read, per model: the highest revision announced. */
  readonly #hinted = new Map<string, number>();
  /** Models whose hash is being read after a hint: one read at a time per model. */
  readonly #reading = new Set<string>();
  #ignoredHints = 0;
  #ignoredLoggedAt = 0;

  constructor(options: RedisStoreOptions) {
    super();
    checkOptions(options);
    this.#options = options;
    this.#log = options.logger.child({ component: 'policy-store', store: 'redis' });
    this.#modelKeyPrefix = `${options.keyPrefix}{policies}:model:`;
    this.#auditKey = `${options.keyPrefix}{policies}:audit`;
    this.#channel = `${options.keyPrefix}changes`;
  }

  async start(seed: SeedSource): Promise<StoredPolicy[]> {
    if (this.#phase !== 'new') throw new Error('RedisStore.start() may be called only once');
    this.#phase = 'starting';
    this.#seed = seed;
    const commands = this.#client('commands');
    const changes = this.#client('changes');
    this.#commands = commands;
    this.#changes = changes;
    changes.on('message', (channel: string, message: string) => this.#onMessage(channel, message));
    this.#heartbeat = setInterval(() => this.#beat(), HEARTBEAT_MS);
    this.#heartbeat.unref();

    const first = new Promise<StoredPolicy[] | undefined>((resolve) => {
      this.#settleStart = resolve;
    });
    // Settled synchronously (phase included) so a re-seed finishing right after the deadline
    // sees 'running' and emits `available` instead of resolving a start() that already gave up.
    const deadline = setTimeout(() => this.#endStart(undefined), this.#options.connectTimeoutMs);
    commands.connect().catch(() => undefined);
    changes.connect().catch(() => undefined);
    const stored = await first;
    clearTimeout(deadline);
    if (stored !== undefined) return stored;
    if ((this.#phase as Phase) === 'closed') throw new StoreUnavailableError('the store was closed while starting');
    throw new StoreUnavailableError(
      `not ready within ${this.#options.connectTimeoutMs} ms: ${this.#whyUnavailable()}; still trying in the background`,
    );
  }

  async load(models: readonly string[]): Promise<StoredPolicy[]> {
    const client = this.#ready('load');
    if (models.length === 0) return [];
    const replies = await this.#run('load', 'commands', async () => {
      const pipeline = client.pipeline();
      for (const model of models) pipeline.hmget(this.#modelKey(model), 'revision', 'doc');
      return pipelineResults(await pipeline.exec());
    });
    const out: StoredPolicy[] = [];
    models.forEach((model, i) => {
      const reply = replies[i];
      if (!Array.isArray(reply) || reply[0] === null || reply[0] === undefined) return;
      const stored = decodeStored(model, reply[0], reply[1]);
      if (stored === undefined) this.#log.error({ model }, 'the stored policy is malformed; ignoring it');
      else out.push(stored);
    });
    return out;
  }

  async put(write: PolicyWrite): Promise<StoredPolicy> {
    const expected = write.expectedRevision;
    if (expected !== undefined && !(Number.isSafeInteger(expected) && expected >= 0)) {
      throw new RangeError(`expectedRevision must be a non-negative integer, not ${expected}`);
    }
    const client = this.#ready('put') as unknown as ScriptCommands;
    const body: StoredBody = {
      policy: write.policy,
      ...controlOf(write),
      updatedAt: new Date().toISOString(),
      updatedBy: write.actor,
      reason: write.reason,
      note: write.note ?? '',
      provisional: false,
    };
    const doc = JSON.stringify(body);
    const [head, tail] = messageAround(write.model);
    const reply = await this.#run('put', 'commands', () =>
      client.policyPut(
        this.#modelKey(write.model),
        this.#auditKey,
        expected === undefined ? '' : String(expected),
        doc,
        write.model,
        body.updatedAt,
        write.actor,
        write.reason,
        write.note ?? '',
        String(this.#options.auditMaxEntries),
        this.#channel,
        head,
        tail,
      ),
    );
    if (!Array.isArray(reply) || (reply[0] !== 0 && reply[0] !== 1)) {
      throw new StoreUnavailableError(`put: unexpected reply from Redis: ${JSON.stringify(reply)}`);
    }
    if (reply[0] === 0) {
      const current = reply[2] === '' ? undefined : decodeStored(write.model, reply[1], reply[2]);
      throw new RevisionConflictError(write.model, expected ?? 0, current);
    }
    return { model: write.model, revision: Number(reply[1]), ...body };
  }

  async audit(query: AuditQuery): Promise<AuditEntry[]> {
    const client = this.#ready('audit');
    // The stream is trimmed approximately (whole radix-tree nodes); never looking past the newest
    // auditMaxEntries makes the visible trail exactly as long as MemoryStore's.
    const cap = this.#options.auditMaxEntries;
    const limit = Math.min(Math.floor(query.limit), cap);
    if (!(limit > 0)) return [];
    const out: AuditEntry[] = [];
    let end = '+';
    let scanned = 0;
    while (out.length < limit && scanned < cap) {
      const count = query.model === undefined ? Math.min(limit - out.length, cap - scanned) : Math.min(AUDIT_BATCH, cap - scanned);
      const rows = await this.#run('audit', 'commands', () => client.xrevrange(this.#auditKey, end, '-', 'COUNT', count));
      for (const [id, fields] of rows) {
        const entry = decodeAudit(id, fields);
        if (entry === undefined) {
          this.#log.warn({ id }, 'ignoring a malformed audit entry');
          continue;
        }
        if (query.model === undefined || entry.model === query.model) out.push(entry);
        if (out.length === limit) break;
      }
      scanned += rows.length;
      const last = rows[rows.length - 1];
      if (rows.length < count || last === undefined) break;
      const before = previousStreamId(last[0]);
      if (before === undefined) break;
      end = before;
    }
    return out;
  }

  isAvailable(): boolean {
    return this.#available && this.#bothReady();
  }

  async close(): Promise<void> {
    if (this.#phase === 'closed') return;
    this.#phase = 'closed';
    this.#available = false;
    this.#settleStart?.(undefined);
    this.#settleStart = undefined;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    clearTimeout(this.#probeTimer);
    this.#probeTimer = undefined;
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    await Promise.all([this.#shutdown(this.#commands, true), this.#shutdown(this.#changes, false)]);
    this.removeAllListeners();
  }

  #modelKey(model: string): string {
    return this.#modelKeyPrefix + model;
  }

  /** The command connection, or StoreUnavailableError at once: nothing is queued for later. */
  #ready(op: string): Client {
    const client = this.#commands;
    if (this.#phase === 'closed') throw new StoreUnavailableError(`${op}: the store is closed`);
    if (client === undefined) throw new StoreUnavailableError(`${op}: the store is not started`);
    // Also refused while re-seeding: a write landing first on a Redis that lost its data would be
    // stored at a revision the restore then replaces, and the writer told it succeeded.
    if (!this.isAvailable()) throw new StoreUnavailableError(`${op}: ${this.#whyUnavailable()}`);
    return client;
  }

  #whyUnavailable(): string {
    if (this.#bothReady()) return 'connected to Redis, seeding';
    const down = (['commands', 'changes'] as const).filter((role) => this.#lastError[role] !== '');
    const why = down.map((role) => `${role}: ${this.#lastError[role]}`).join('; ') || 'connecting';
    return `no connection to Redis (${why})`;
  }

  /**
   * Runs a Redis call under a hard deadline; any failure means "unavailable". A failure that is
   * not a refusal makes the connection suspect: on a connection ioredis still calls ready (a
   * timeout: Redis hung, or a link dead without a RST), or a Cluster (whose status says nothing
   * about the one node owning our slot), the store goes unavailable and proves Redis healthy again
   * before it is available.
   */
  async #run<T>(op: string, role: Role, call: () => Promise<T>): Promise<T> {
    try {
      return await this.#bounded(call());
    } catch (error) {
      const detail = errorText(error);
      if (isRefusal(error)) {
        this.#log.error({ op, err: detail }, 'Redis refused a policy store command');
      } else {
        this.#log.debug({ op, err: detail }, 'policy store command failed');
        this.#suspect(role, `${op}: ${detail}`);
      }
      // Refused, or never sent: not executed. Anything else happened after the command was sent.
      throw new StoreUnavailableError(`${op}: ${detail}`, !isRefusal(error) && !neverSent(error));
    }
  }

  async #bounded<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const limit = this.#options.commandTimeoutMs + GUARD_SLACK_MS;
    const guard = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${limit} ms`)), limit);
    });
    try {
      return await Promise.race([work, guard]);
    } finally {
      clearTimeout(timer);
    }
  }

  #suspect(role: Role, detail: string): void {
    if (this.#phase === 'closed') return;
    const client = role === 'commands' ? this.#commands : this.#changes;
    this.#lastError[role] = detail;
    if (client instanceof Cluster) {
      this.#clusterLost(role, detail);
    } else if (client?.status === 'ready') {
      // ioredis does not drop a connection on a timeout; a new one settles whether Redis is there.
      this.#log.warn({ connection: role, err: detail }, 'Redis did not answer in time; reconnecting');
      client.disconnect(true);
      // Its `close` may wait for the disconnect grace: the store is unavailable from now.
      this.#onLost(role);
    }
  }

  /** The Cluster client stays ready while one node is gone: track our slot's reachability ourselves. */
  #clusterLost(role: Role, detail: string): void {
    if (this.#phase === 'closed') return;
    this.#lastError[role] = detail;
    this.#slotReachable = false;
    this.#onLost(role);
    if (this.#probeTimer === undefined) this.#scheduleProbe(1);
  }

  #scheduleProbe(attempt: number): void {
    this.#probeTimer = setTimeout(() => {
      const commands = this.#commands;
      if (this.#phase === 'closed' || commands === undefined) return;
      // Any command on a key of ours reaches the node that owns the slot.
      this.#bounded(commands.exists(this.#auditKey)).then(
        () => {
          this.#probeTimer = undefined;
          if (this.#phase === 'closed') return;
          this.#slotReachable = true;
          if (!this.#subscribed) this.#subscribe();
          this.#maybeResync();
        },
        (error: unknown) => {
          this.#lastError.commands = errorText(error);
          if (this.#phase !== 'closed') this.#scheduleProbe(attempt + 1);
        },
      );
    }, backoff(attempt));
  }

  #client(role: Role): Client {
    const o = this.#options;
    const common: RedisOptions = {
      lazyConnect: true,
      // Commands fail at once while disconnected instead of waiting to be sent to whatever Redis
      // comes back (maybe an empty one, maybe after the caller gave up).
      enableOfflineQueue: false,
      // A command in flight when the connection drops is failed (flushed on every close), never resent.
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // We subscribe ourselves on every `ready` to know when the subscription is confirmed.
      autoResubscribe: false,
      enableReadyCheck: true,
      connectTimeout: o.connectTimeoutMs,
      commandTimeout: o.commandTimeoutMs,
      disconnectTimeout: DISCONNECT_GRACE_MS,
      keepAlive: 10_000,
      connectionName: `canary-gateway-${role}`,
      retryStrategy: backoff,
      // After a Sentinel failover the old master answers writes with READONLY: go find the new one.
      reconnectOnError: (error) => error.message.includes('READONLY'),
    };
    const client = createClient(planClient(o, common, SCRIPTS));
    client.on('error', (error: Error) => {
      this.#lastError[role] = errorText(error);
      this.#log.debug({ connection: role, err: this.#lastError[role] }, 'Redis connection error');
    });
    client.on('ready', () => this.#onReady(role));
    client.on('close', () => this.#onLost(role));
    client.on('end', () => this.#onLost(role));
    // Spurious ones (a topology change) only cost a reload; a missed one could leave a node that
    // came back empty unseeded.
    if (client instanceof Cluster) client.on('-node', () => this.#clusterLost(role, 'a Redis Cluster node went away'));
    return client;
  }

  #onReady(role: Role): void {
    if (this.#phase === 'closed') return;
    this.#lastError[role] = '';
    if (this.#commands instanceof Cluster && role === 'commands') this.#slotReachable = true;
    this.#log.debug({ connection: role }, 'Redis connection ready');
    if (role === 'changes') this.#subscribe();
    else this.#maybeResync();
  }

  #onLost(role: Role): void {
    if (this.#phase === 'closed') return;
    if (this.#lastError[role] === '') this.#lastError[role] = 'connection closed';
    this.#epoch++;
    if (role === 'changes') {
      this.#changesEpoch++;
      this.#subscribed = false;
    }
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (!this.#available) return;
    this.#available = false;
    const detail = `connection to Redis lost (${role}: ${this.#lastError[role]})`;
    this.#log.warn({ connection: role }, `policy store unavailable: ${detail}`);
    this.#emitSafely('unavailable', detail);
  }

  #subscribe(): void {
    const changes = this.#changes;
    if (changes === undefined) return;
    const epoch = this.#changesEpoch;
    this.#run('subscribe', 'changes', () => changes.subscribe(this.#channel)).then(
      () => {
        if (epoch !== this.#changesEpoch || this.#phase === 'closed') return;
        this.#subscribed = true;
        this.#maybeResync();
      },
      // #run made the connection suspect: the reconnection (or the Cluster probe) subscribes again.
      (error: unknown) => {
        if (epoch !== this.#changesEpoch || this.#phase === 'closed') return;
        this.#log.warn({ err: errorText(error) }, 'could not subscribe to policy changes');
      },
    );
  }

  #bothReady(): boolean {
    return this.#commands?.status === 'ready' && this.#changes?.status === 'ready' && this.#subscribed && this.#slotReachable;
  }

  #maybeResync(): void {
    if (this.#phase === 'closed' || this.#available || this.#resyncing || this.#retryTimer !== undefined) return;
    if (!this.#bothReady()) return;
    void this.#resync();
  }

  /** Seeds (Redis may have come back empty), then declares the store available. */
  async #resync(): Promise<void> {
    const epoch = this.#epoch;
    this.#resyncing = true;
    let stored: StoredPolicy[] | undefined;
    let failure: unknown;
    try {
      stored = await this.#seedAll();
    } catch (error) {
      failure = error;
    }
    this.#resyncing = false;
    if (this.#phase === 'closed') return;
    if (epoch !== this.#epoch || !this.#bothReady()) {
      // A connection dropped meanwhile; its `ready` may already have come and been skipped.
      this.#maybeResync();
      return;
    }
    if (stored === undefined) {
      const delay = backoff(++this.#resyncFailures);
      this.#log.warn({ err: errorText(failure), retryInMs: delay }, 'could not seed the policy store; retrying');
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        this.#maybeResync();
      }, delay);
      return;
    }
    this.#resyncFailures = 0;
    this.#available = true;
    this.#log.info({ models: stored.length }, 'policy store available');
    if (this.#phase === 'starting') this.#endStart(stored);
    else this.#emitSafely('available');
    // Hints that came while the store was not available yet (the seed's own, say): read them now.
    for (const model of this.#hinted.keys()) if (!this.#reading.has(model)) void this.#readHinted(model);
  }

  #endStart(stored: StoredPolicy[] | undefined): void {
    if (this.#phase === 'starting') this.#phase = 'running';
    const settle = this.#settleStart;
    this.#settleStart = undefined;
    settle?.(stored);
  }

  async seed(entries: ReadonlyMap<string, SeedEntry>): Promise<StoredPolicy[]> {
    return this.#seedEntries(this.#ready('seed'), [...entries]);
  }

  /** At every (re)connection, before the store is available: puts back what Redis may have lost. */
  async #seedAll(): Promise<StoredPolicy[]> {
    return this.#seedEntries(this.#commands as Client, [...(this.#seed as SeedSource)()]);
  }

  /** The seed script for every entry, in one round trip; returns what is stored for them after. */
  async #seedEntries(client: Client, entries: Array<[string, SeedEntry]>): Promise<StoredPolicy[]> {
    for (const [model, entry] of entries) checkSeedEntry(model, entry);
    if (entries.length === 0) return [];
    const at = new Date().toISOString();
    const replies = await this.#run('seed', 'commands', async () => {
      const pipeline = client.pipeline() as ScriptPipeline;
      for (const [model, entry] of entries) {
        const body: StoredBody = {
          policy: entry.policy,
          ...controlOf(entry),
          updatedAt: entry.updatedAt ?? at,
          updatedBy: entry.actor,
          reason: entry.reason ?? 'config',
          note: entry.note ?? '',
          provisional: entry.provisional,
        };
        const doc = JSON.stringify(body);
        const [head, tail] = messageAround(model);
        pipeline.policySeed(
          this.#modelKey(model),
          this.#auditKey,
          String(entry.revision),
          doc,
          model,
          at,
          entry.actor,
          String(this.#options.auditMaxEntries),
          this.#channel,
          head,
          tail,
          entry.provisional ? '1' : '0',
          seedAuditNote(entry),
        );
      }
      return pipelineResults(await pipeline.exec());
    });
    const out: StoredPolicy[] = [];
    entries.forEach(([model, entry], i) => {
      const reply = replies[i];
      const stored = Array.isArray(reply) ? decodeStored(model, reply[1], reply[2]) : undefined;
      if (stored === undefined) {
        this.#log.error({ model }, 'the stored policy is malformed; ignoring it');
        return;
      }
      if (Array.isArray(reply) && reply[0] === 1) {
        if (entry.provisional) this.#log.info({ model, revision: stored.revision }, 'stored the configuration file\'s policy (provisional: a gateway that has read the store replaces it)');
        else this.#log.warn({ model, revision: stored.revision, was: entry.revision }, 'the policy store had lost this policy, or held an older one: restored the one in force here');
      }
      out.push(stored);
    });
    return out;
  }

  #onMessage(channel: string, message: string): void {
    if (channel !== this.#channel || this.#phase === 'closed') return;
    const hint = decodeHint(message);
    if (hint === undefined) {
      this.#ignoreHint({ message: message.slice(0, 200) }, 'ignoring a malformed policy change message');
      return;
    }
    // Only models this gateway serves: a flood of made-up names costs no Redis read.
    if (this.#seed?.().has(hint.model) !== true) return;
    if (hint.revision > (this.#hinted.get(hint.model) ?? 0)) this.#hinted.set(hint.model, hint.revision);
    if (!this.#reading.has(hint.model)) void this.#readHinted(hint.model);
  }

  /** Reads the model's hash until no newer hint is pending, and announces what the store holds. */
  async #readHinted(model: string): Promise<void> {
    this.#reading.add(model);
    try {
      for (let hinted = this.#hinted.get(model); hinted !== undefined && this.#phase !== 'closed'; hinted = this.#hinted.get(model)) {
        this.#hinted.delete(model);
        let stored: StoredPolicy | undefined;
        try {
          [stored] = await this.load([model]);
        } catch (error) {
          if (error instanceof StoreUnavailableError) {
            // Kept, and read again once the store is available (the seed is over).
            if (hinted > (this.#hinted.get(model) ?? 0)) this.#hinted.set(model, hinted);
            return;
          }
          this.#log.warn({ model, err: errorText(error) }, 'could not read a policy after its change message');
          continue;
        }
        // What the store holds is announced whatever the hint said (the watcher takes only newer
        // revisions): a forged hint with a high revision must not hide a real write read with it.
        if (stored !== undefined) this.#emitSafely('change', stored);
        if (stored === undefined || stored.revision < hinted) {
          this.#ignoreHint(
            { model, announced: hinted, stored: stored?.revision ?? null },
            'a change message announced a revision the store does not hold: ignored (policies change only through the audited write)',
          );
        }
      }
    } finally {
      this.#reading.delete(model);
    }
  }

  /** Logs an ignored message; under a flood, one line per 10 s with the count. */
  #ignoreHint(fields: Record<string, unknown>, text: string): void {
    this.#ignoredHints++;
    const now = Date.now();
    if (now - this.#ignoredLoggedAt < 10_000) return;
    this.#ignoredLoggedAt = now;
    this.#log.warn({ ...fields, ignoredSinceLastLine: this.#ignoredHints, channel: this.#channel }, text);
    this.#ignoredHints = 0;
  }

  /** A listener's exception must not unwind into ioredis' reply parser. */
  #emitSafely<K extends keyof StoreEvents>(event: K, ...args: StoreEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: StoreEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.#log.error({ event, err: errorText(error) }, 'a policy store listener threw');
    }
  }

  /** Idle connections are checked too: an unanswered check makes the connection suspect (see #run). */
  #beat(): void {
    const commands = this.#commands;
    if (commands instanceof Cluster) {
      if (this.#available) this.#run('heartbeat', 'commands', () => commands.exists(this.#auditKey)).catch(() => undefined);
      return;
    }
    for (const [role, client] of [['commands', commands], ['changes', this.#changes]] as const) {
      if (client?.status === 'ready') this.#run('heartbeat', role, () => client.ping()).catch(() => undefined);
    }
  }

  async #shutdown(client: Client | undefined, graceful: boolean): Promise<void> {
    if (client === undefined) return;
    if (graceful && client.status === 'ready') {
      // QUIT is answered after the commands already sent, so writes in flight complete.
      try {
        await this.#bounded(client.quit());
      } catch {
        // disconnect() below ends it anyway
      }
    }
    // Also cancels a pending reconnection; skipped once ended, where it would only arm a timer.
    if (client.status !== 'end') client.disconnect();
  }
}

function checkOptions(o: RedisStoreOptions): void {
  const given = [o.url !== undefined && 'url', o.sentinels !== undefined && 'sentinels', o.cluster !== undefined && 'cluster'].filter(Boolean);
  if (given.length !== 1) {
    throw new Error(
      `Redis store: give exactly one of url, sentinels or cluster (${given.length === 0 ? 'none given' : `got ${given.join(' and ')}`})`,
    );
  }
  if (o.url !== undefined && !/^rediss?:\/\//i.test(o.url)) throw new Error(`Redis store: url must start with redis:// or rediss://, not ${JSON.stringify(o.url.slice(0, 12))}`);
  if (o.sentinels !== undefined && o.sentinels.length === 0) throw new Error('Redis store: sentinels is empty');
  if (o.cluster !== undefined && o.cluster.length === 0) throw new Error('Redis store: cluster is empty');
  if (o.sentinels !== undefined && !o.sentinelName) throw new Error('Redis store: sentinels need sentinelName (the master name)');
  if (o.sentinels === undefined) {
    for (const name of ['sentinelName', 'sentinelUsername', 'sentinelPassword', 'sentinelTls'] as const) {
      if (o[name] !== undefined) throw new Error(`Redis store: ${name} is only used with sentinels`);
    }
  }
  if (o.cluster !== undefined && o.db !== undefined && o.db !== 0) throw new Error('Redis store: Redis Cluster has only database 0');
  if (o.db !== undefined && !(Number.isSafeInteger(o.db) && o.db >= 0)) throw new Error(`Redis store: db must be a non-negative integer, not ${o.db}`);
  for (const name of ['username', 'password', 'sentinelUsername', 'sentinelPassword'] as const) {
    const value = o[name];
    if (value !== undefined && (typeof value !== 'string' || value === '')) throw new Error(`Redis store: ${name} must be a non-empty string`);
  }
  if (typeof o.keyPrefix !== 'string') throw new Error('Redis store: keyPrefix must be a string');
  for (const name of ['auditMaxEntries', 'connectTimeoutMs', 'commandTimeoutMs'] as const) {
    if (!Number.isSafeInteger(o[name]) || o[name] < 1) throw new Error(`Redis store: ${name} must be a positive integer, not ${o[name]}`);
  }
}

function checkSeedEntry(model: string, entry: SeedEntry): void {
  if (!Number.isSafeInteger(entry.revision) || entry.revision < 1) {
    throw new RangeError(`seed entry of ${model}: revision must be an integer >= 1, not ${entry.revision}`);
  }
  if (typeof entry.provisional !== 'boolean') throw new TypeError(`seed entry of ${model}: provisional must be a boolean`);
}

function backoff(attempt: number): number {
  const base = 50 * 2 ** Math.min(Math.max(attempt, 1) - 1, 10);
  // Jitter keeps a fleet of gateways from reconnecting in lockstep after a Redis restart.
  return Math.min(MAX_BACKOFF_MS, Math.round(base * (0.8 + Math.random() * 0.4)));
}

/** The change message, around the revision only Lua knows: head + revision + tail. */
function messageAround(model: string): [string, string] {
  return [`{"model":${JSON.stringify(model)},"revision":`, '}'];
}

function pipelineResults(results: Array<[Error | null, unknown]> | null): unknown[] {
  if (results === null) throw new Error('the pipeline was discarded');
  return results.map(([error, reply]) => {
    if (error !== null) throw error;
    return reply;
  });
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Redis answered, but no: wrong type, no permission, out of memory... (not a connection problem). */
function isRefusal(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError' && !/^(LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN)/.test(error.message);
}

/** ioredis refuses a command at once when the connection is not writable and nothing may queue. */
function neverSent(error: unknown): boolean {
  return error instanceof Error && /Stream isn't writeable/.test(error.message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isReason(value: unknown): value is ChangeReason {
  return typeof value === 'string' && (CHANGE_REASONS as readonly string[]).includes(value);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function asRevision(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}

/** Shape checks only: the watcher validates the policy itself against the model's pools. */
function asBody(value: unknown): StoredBody | undefined {
  if (!isObject(value)) return undefined;
  const { policy, paused, updatedAt, updatedBy, reason } = value;
  // Absent in documents written before these fields existed: not rolled back, no rollout.
  const rolledBack = value.rolledBack ?? false;
  const rollout = value.rollout ?? null;
  if (!isObject(policy) || typeof paused !== 'boolean' || typeof rolledBack !== 'boolean') return undefined;
  if (rollout !== null && !(isObject(rollout) && typeof rollout.step === 'number' && typeof rollout.since === 'string')) return undefined;
  if (typeof updatedAt !== 'string' || typeof updatedBy !== 'string' || !isReason(reason)) return undefined;
  // Absent in documents written before discovery existed.
  const versions = value.versions === undefined ? NO_VERSIONS : asVersions(value.versions);
  if (versions === undefined) return undefined;
  return {
    policy: policy as unknown as PolicyDocument,
    paused,
    rolledBack,
    rollout: rollout === null ? null : { step: rollout.step as number, since: rollout.since as string },
    versions,
    updatedAt,
    updatedBy,
    reason,
    note: typeof value.note === 'string' ? value.note : '',
    // Absent in documents written before seeds could be provisional.
    provisional: value.provisional === true,
  };
}

const isVersion = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function asVersions(value: unknown): VersionsState | undefined {
  if (!isObject(value)) return undefined;
  const { discovered, candidate, rejected } = value;
  if (!Array.isArray(discovered) || !discovered.every(isVersion) || !(candidate === null || isVersion(candidate)) || !Array.isArray(rejected)) return undefined;
  const entries = rejected.filter((r): r is Record<string, unknown> => isObject(r) && isVersion(r.version) && typeof r.at === 'string' && typeof r.note === 'string');
  if (entries.length !== rejected.length) return undefined;
  return { discovered, candidate, rejected: entries.map((r) => ({ version: r.version as number, at: r.at as string, note: r.note as string })) };
}

function decodeStored(model: string, revision: unknown, doc: unknown): StoredPolicy | undefined {
  const rev = asRevision(revision);
  const body = typeof doc === 'string' ? asBody(parseJson(doc)) : undefined;
  return rev === undefined || body === undefined ? undefined : { model, revision: rev, ...body };
}

/**
 * The model and revision a change message announces, read from its head only, so a message of any
 * size costs the same (gateways before hints published the whole document after these two fields).
 */
const HINT = /^\{"model":("(?:[^"\\]|\\.){1,600}"),"revision":([1-9][0-9]{0,15})[,}]/;

function decodeHint(message: string): { model: string; revision: number } | undefined {
  const match = HINT.exec(message.length > 1024 ? message.slice(0, 1024) : message);
  if (match === null) return undefined;
  const model = parseJson(match[1] as string);
  const revision = asRevision(match[2]);
  return typeof model === 'string' && model !== '' && revision !== undefined ? { model, revision } : undefined;
}

function decodeAudit(id: string, fields: string[]): AuditEntry | undefined {
  const f = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i] as string, fields[i + 1] as string);
  const model = f.get('model');
  const revision = asRevision(f.get('revision'));
  const at = f.get('at');
  const actor = f.get('actor');
  const reason = f.get('reason');
  const beforeText = f.get('before');
  const afterText = f.get('after');
  if (model === undefined || revision === undefined || at === undefined || actor === undefined || !isReason(reason)) return undefined;
  if (beforeText === undefined || afterText === undefined) return undefined;
  const after = asBody(parseJson(afterText));
  const before = beforeText === '' ? null : asBody(parseJson(beforeText));
  if (after === undefined || before === undefined) return undefined;
  return {
    id,
    model,
    revision,
    at,
    actor,
    reason,
    note: f.get('note') ?? '',
    before: before === null ? null : { policy: before.policy, ...controlOf(before) },
    after: { policy: after.policy, ...controlOf(after) },
  };
}

/** The greatest stream id below `id` (XREVRANGE's exclusive `(` needs Redis 6.2). */
function previousStreamId(id: string): string | undefined {
  const match = /^([0-9]+)-([0-9]+)$/.exec(id);
  if (match === null) return undefined;
  const ms = BigInt(match[1] as string);
  const seq = BigInt(match[2] as string);
  if (seq > 0n) return `${ms}-${seq - 1n}`;
  if (ms > 0n) return `${ms - 1n}-18446744073709551615`;
  return undefined;
}
