/**
 * The admin event stream (Server-Sent Events): a `snapshot` of every model (with the last stats
 * ticks of each, for charts) on connect, then `policy`, `health`, `replica` (breakers, ejections),
 * `rollback`, `store` and `versions` events as they happen and a `stats` tick once a second (with every
 * replica's live state); each payload's schema is in api-schemas.ts (StreamEvents), the frames'
 * format in sse.ts. Payloads are built once per event and written to every client; the two large
 * ones (the stats tick, a client's snapshot) are built and serialized model by model in slices
 * (runtime/slices.ts), so ten open pages over a hundred models never stall a request; a client
 * that cannot keep up (over 1 MiB unsent) is disconnected rather than buffered without bound. Clients send the
 * bearer token in the Authorization header (browsers: fetch with a streaming body, not EventSource,
 * so the token never goes in a URL).
 */
import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { StoredPolicy } from '../../policy/stored.js';
import type { HealthChange } from '../health.js';
import type { ReplicaEvent, RollbackEvent, VersionsChange } from '../events.js';
import { ErrorBody, HISTORY_TICKS, type HistorySample, type StatsEvent, type StreamEventMap } from './api-schemas.js';
import type { VersionPool } from '../../dataplane/pool.js';
import type { Replica } from '../../dataplane/replica.js';
import type { CompiledModel } from '../../dataplane/snapshot.js';
import { inSlices, wholeStep } from '../../runtime/slices.js';
import type { AdminContext } from './context.js';
import { FrameBytes } from './frame-bytes.js';
import { StatsHistory } from './history.js';
import { SSE_KEEP_ALIVE, sseDataLine } from './sse.js';
import { modelState, modelViewParts, policyView, replicaView, requestsByProtocol, rolloutView, shadowView, STATS_WINDOW_SECONDS, statsView, versionsView } from './views.js';

const MAX_BUFFERED = 1024 * 1024;
const HEARTBEAT_MS = 15_000;

/**
 * Units per slice of the stream's two passes (the stats tick and a connecting client's snapshot):
 * a replica's view is one unit, a model's own numbers MODEL_UNITS, its two minutes of history in a
 * snapshot HISTORY_UNITS. A pool's replicas are serialized REPLICA_STEP at a time, so a pool of
 * hundreds of replicas spreads over several slices too.
 */
export const STREAM_UNITS_PER_SLICE = 16;
const MODEL_UNITS = 8;
const HISTORY_UNITS = 24;
const REPLICA_STEP = 8;
/** A snapshot's history samples serialized per step: half of a model's HISTORY_TICKS. */
const HISTORY_SAMPLES_PER_STEP = Math.ceil(HISTORY_TICKS / 2);
/** Characters of a snapshot written per event-loop turn (each write converts its text to bytes). */
const WRITE_CHARS_PER_SLICE = 32 * 1024;
/**
 * Bytes of a stats frame written per turn: fewer, since each goes to every client (with ten
 * sessions, 32 KiB a turn held the loop for 4 ms of wall clock at p99 on a 2-core machine; 8 KiB,
 * under 1 ms).
 */
export const FRAME_BYTES_PER_SLICE = 8 * 1024;

/** A piece of a sliced pass: its weight in units and what it does. */
interface Step {
  readonly weight: number;
  readonly run: () => void;
}

/** The JSON texts of a pool's replica views, REPLICA_STEP replicas a step, into `out`. */
function* replicaSteps(replicas: readonly Replica[], out: string[]): Generator<Step> {
  for (let from = 0; from < replicas.length; from += REPLICA_STEP) {
    const to = Math.min(from + REPLICA_STEP, replicas.length);
    yield {
      weight: to - from,
      run: () => {
        for (let k = from; k < to; k++) out.push(JSON.stringify(replicaView(replicas[k] as Replica)));
      },
    };
  }
}

/** A model's part of an event being built: its own fields, and per pool its fields and replicas. */
interface ModelPiece {
  head: string;
  readonly pools: Array<{ json: string; readonly replicas: string[] }>;
}

/** Replica views per fragment of a written snapshot: a pool of hundreds is written over several turns. */
const REPLICAS_PER_FRAGMENT = 16;

/**
 * The models' JSON texts, comma-separated, cut into fragments to be written one by one: each model's and each
 * pool's own fields, and a pool's replicas REPLICAS_PER_FRAGMENT at a time, so no single write
 * holds a model with hundreds of replicas whole.
 */
function* fragments(pieces: readonly ModelPiece[], poolsField: string): Generator<string> {
  for (const [i, m] of pieces.entries()) {
    yield `${i > 0 ? ',' : ''}${opened(m.head, poolsField)}`;
    for (const [j, pool] of m.pools.entries()) {
      yield `${j > 0 ? ',' : ''}${opened(pool.json, 'replicas')}`;
      for (let from = 0; from < pool.replicas.length; from += REPLICAS_PER_FRAGMENT) {
        yield `${from > 0 ? ',' : ''}${pool.replicas.slice(from, from + REPLICAS_PER_FRAGMENT).join(',')}`;
      }
      yield ']}';
    }
    yield ']}';
  }
}

/**
 * The texts joined into pieces of about `chars` characters: fragments are often a few dozen
 * characters, and each write is a chunk (and a system call) for every client.
 */
function* batched(texts: Iterable<string>, chars: number): Generator<string> {
  let parts: string[] = [];
  let length = 0;
  for (const text of texts) {
    parts.push(text);
    length += text.length;
    if (length >= chars) {
      yield parts.join('');
      parts = [];
      length = 0;
    }
  }
  if (parts.length > 0) yield parts.join('');
}

/** An object's JSON text, reopened to take one more field, an array, whose items follow. */
function opened(json: string, field: string): string {
  return `${json.slice(0, -1)}${json === '{}' ? '' : ','}${JSON.stringify(field)}:[`;
}

/*
 * The passes' generators are declared here, at module level, and take what they read and fill as
 * arguments. Declared inside a pass, a generator was a new function object per pass, and V8 kept
 * that pass's context, and all it built, alive through every young collection until the next full
 * one: each stats frame's strings were copied and promoted. (V8 gives such a function its own
 * initial map, in the old generation, pointing back at the function; a function declared inside
 * and called with `new` does the same. docs/performance.md: what a scavenge copies.)
 */

/** What a stats pass reads and fills. */
interface StatsPass {
  readonly ctx: AdminContext;
  readonly history: StatsHistory;
  readonly at: string;
  /** Where the event's frame is written as it is built; undefined: no client reads it, only the history is recorded. */
  readonly frame: FrameBytes | undefined;
}

const COMMA = 0x2c;

/**
 * A stats pass's steps: a model's numbers a step (into the history, and for clients into the
 * frame), then its replicas REPLICA_STEP a step. Each step writes its part of the event's JSON
 * (StatsEvent's shape) to the frame as soon as it is made, in the frame's order.
 */
function* statsSteps(models: Iterable<CompiledModel>, p: StatsPass): Generator<Step> {
  const { ctx, history, at, frame } = p;
  let written = 0;
  for (const m of models) {
    const pools = [...(ctx.pools.pools(m.name)?.values() ?? [])];
    // The pools' own fields, from the model's step, each opened where its replicas begin.
    const poolTexts: string[] = [];
    yield {
      weight: MODEL_UNITS,
      run: () => {
        const versions = pools.map((pool) => ({
          pool,
          role: pool === m.stable ? ('stable' as const) : pool === m.canary ? ('canary' as const) : ('idle' as const),
          stats: statsView(pool.stats.window(STATS_WINDOW_SECONDS)),
        }));
        const shadow = shadowView(m, ctx);
        const results = shadow?.results ?? null;
        history.add(m.name, {
          at,
          versions: versions.map(({ pool, role, stats }) => ({ version: pool.version, role, rps: stats.rps, errorRate: stats.errorRate, p50Ms: stats.p50Ms, p99Ms: stats.p99Ms })),
          ...(results === null ? {} : { shadow: { version: results.version, agreementRate: results.agreementRate } }),
        });
        if (frame === undefined) return;
        const head: Omit<StatsEvent['models'][number], 'versions'> = { name: m.name, revision: m.revision, state: modelState(m), percent: m.policy.percent, shadow };
        if (written++ > 0) frame.ascii(COMMA);
        frame.text(opened(JSON.stringify(head), 'versions'));
        for (const { pool, role, stats } of versions) {
          const version: Omit<StatsEvent['models'][number]['versions'][number], 'replicas'> = {
            version: pool.version,
            role,
            healthyReplicas: pool.healthyCount,
            availableReplicas: pool.availableCount,
            draining: pool.draining,
            ...stats,
            requestsByProtocol: requestsByProtocol(pool.stats),
          };
          poolTexts.push(JSON.stringify(version));
        }
        if (pools.length === 0) frame.text(']}');
      },
    };
    if (frame === undefined) continue;
    for (let i = 0; i < pools.length; i++) yield* frameReplicaSteps((pools[i] as VersionPool).replicas, frame, i, poolTexts, i === pools.length - 1);
  }
}

/**
 * A pool's part of a stats frame: its own fields opened (the `i`-th of its model's, from
 * `poolTexts`), its replicas' views REPLICA_STEP a step, then its close (and its model's, after the last pool).
 */
function* frameReplicaSteps(replicas: readonly Replica[], frame: FrameBytes, i: number, poolTexts: readonly string[], last: boolean): Generator<Step> {
  const open = (): void => {
    if (i > 0) frame.ascii(COMMA);
    frame.text(opened(poolTexts[i] as string, 'replicas'));
  };
  const close = (): void => frame.text(last ? ']}]}' : ']}');
  if (replicas.length === 0) {
    yield {
      weight: 1,
      run: () => {
        open();
        close();
      },
    };
    return;
  }
  for (let from = 0; from < replicas.length; from += REPLICA_STEP) {
    const to = Math.min(from + REPLICA_STEP, replicas.length);
    yield {
      weight: to - from,
      run: () => {
        if (from === 0) open();
        for (let k = from; k < to; k++) {
          if (k > 0) frame.ascii(COMMA);
          frame.text(JSON.stringify(replicaView(replicas[k] as Replica)));
        }
        if (to === replicas.length) close();
      },
    };
  }
}

/** What a client's snapshot reads and fills. */
interface SnapshotBuild {
  readonly ctx: AdminContext;
  readonly history: StatsHistory;
  readonly pieces: ModelPiece[];
  /** Each model's history, as the text of a member of the snapshot's `history` object. */
  readonly histories: string[];
}

/** A snapshot's steps: a model's view a step, its history in halves, its replicas REPLICA_STEP a step. */
function* snapshotSteps(b: SnapshotBuild): Generator<Step> {
  const { ctx, history, pieces, histories } = b;
  for (const m of ctx.snapshots.current.models.values()) {
    const piece: ModelPiece = { head: '', pools: [] };
    let replicas: Array<readonly Replica[]> = [];
    let samples: readonly HistorySample[] = [];
    yield {
      weight: MODEL_UNITS,
      run: () => {
        const parts = modelViewParts(m, ctx.pools, ctx);
        piece.head = JSON.stringify(parts.head);
        for (const { view } of parts.pools) piece.pools.push({ json: JSON.stringify(view), replicas: [] });
        replicas = parts.pools.map(({ pool }) => pool.replicas);
        pieces.push(piece);
        // Taken with the view, so the history ends at the tick the view shows.
        samples = history.of(m.name);
      },
    };
    if (samples.length > 0) {
      // Serialized in halves: two minutes of a model's charts weigh more than a slice.
      const texts: string[] = [];
      for (let from = 0; from < samples.length; from += HISTORY_SAMPLES_PER_STEP) {
        const chunk = samples.slice(from, from + HISTORY_SAMPLES_PER_STEP);
        yield { weight: HISTORY_UNITS / 2, run: () => void texts.push(JSON.stringify(chunk).slice(1, -1)) };
      }
      yield { weight: 1, run: () => void histories.push(`${JSON.stringify(m.name)}:[${texts.join(',')}]`) };
    }
    for (let i = 0; i < replicas.length; i++) yield* replicaSteps(replicas[i] as readonly Replica[], (piece.pools[i] as ModelPiece['pools'][number]).replicas);
  }
}

/** A snapshot's frame (SnapshotEvent), from what its steps built. */
function* snapshotTexts(b: SnapshotBuild): Generator<string> {
  yield `retry: 2000\n${sseDataLine('snapshot', '')}{"models":[`;
  yield* fragments(b.pieces, 'pools');
  yield `],"storeAvailable":${String(b.ctx.store.isAvailable())},"history":{`;
  for (const [i, h] of b.histories.entries()) yield i === 0 ? h : `,${h}`;
  yield '}}\n\n';
}

const runStep = (step: Step): void => step.run();
const stepWeight = (step: Step): number => step.weight;

export const streamRoutes: FastifyPluginAsyncTypebox<{ ctx: AdminContext }> = async (app, { ctx }) => {
  const clients = new Set<ServerResponse>();
  /**
   * Clients whose snapshot is being built, over several event-loop turns: the frames broadcast
   * meanwhile wait here, in order, and follow the snapshot, so a client misses no event.
   */
  const pending = new Map<ServerResponse, { frames: Buffer[]; bytes: number }>();
  let closed = false;

  /**
   * A stats frame being written over several turns: the frames broadcast meanwhile wait in
   * `deferred` and follow it, since a frame's parts must not be split by another's.
   */
  let framing: { readonly deferred: Buffer[]; readonly done: Promise<void> } | undefined;

  /** One frame to every client; encoded once, however many clients there are. */
  const broadcastJson = (event: keyof StreamEventMap, json: string): void => {
    if (clients.size === 0 && pending.size === 0) return;
    // JSON is one line: the frame needs no splitting into data lines (sseFrame's work, over the
    // whole of a stats event of hundreds of kilobytes).
    const frame = Buffer.from(`${sseDataLine(event, '')}${json}\n\n`);
    if (framing !== undefined) framing.deferred.push(frame);
    else send(frame);
  };
  /**
   * A frame, or a part of one, to `to` and into the queues of clients whose snapshot is under way;
   * a client that cannot keep up is dropped.
   */
  const deliver = (chunk: Buffer, to: Iterable<ServerResponse>, queues: Iterable<[ServerResponse, { frames: Buffer[]; bytes: number }]>): void => {
    for (const res of to) {
      if (res.destroyed) continue;
      if (res.writableLength > MAX_BUFFERED) {
        clients.delete(res);
        res.destroy();
      } else {
        res.write(chunk);
      }
    }
    for (const [res, queue] of queues) {
      queue.frames.push(chunk);
      queue.bytes += chunk.length;
      if (queue.bytes > MAX_BUFFERED && pending.delete(res)) res.destroy();
    }
  };
  const send = (frame: Buffer): void => deliver(frame, clients, pending);
  const broadcast = <E extends keyof StreamEventMap>(event: E, data: StreamEventMap[E]): void => {
    if (clients.size === 0 && pending.size === 0) return;
    broadcastJson(event, JSON.stringify(data));
  };

  const onPolicy = (stored: StoredPolicy): void =>
    broadcast('policy', {
      model: stored.model,
      revision: stored.revision,
      reason: stored.reason,
      by: stored.updatedBy,
      at: stored.updatedAt,
      paused: stored.paused,
      rolledBack: stored.rolledBack,
      rollout: rolloutView(stored.rollout, stored.policy),
      note: stored.note,
      policy: policyView(stored.policy),
      versions: versionsView(stored, ctx.discovering.has(stored.model)),
    });
  const onVersions = (change: VersionsChange): void =>
    broadcast('versions', { ...change, added: [...change.added], removed: [...change.removed], at: new Date().toISOString() });
  const onHealth = (change: HealthChange): void => broadcast('health', { ...change, at: new Date().toISOString() });
  const onReplica = (event: ReplicaEvent): void => broadcast('replica', { ...event, at: new Date().toISOString() });
  const onRollback = (event: RollbackEvent): void => broadcast('rollback', { ...event, at: new Date().toISOString() });
  const onStore = (status: { available: boolean; detail: string }): void => broadcast('store', { ...status, at: new Date().toISOString() });
  const history = new StatsHistory(HISTORY_TICKS);
  /** The size of the last stats frame: the next one's buffer starts at about that. */
  let lastFrameBytes = 0;

  /**
   * Every tick is recorded, with or without clients, so a page opened later has its history; the
   * per-replica part is built only for clients, the history keeps the charts' numbers alone. In
   * slices: a model's numbers a step, its replicas REPLICA_STEP a step, each part serialized as it
   * is built and written at once to the frame's bytes, in the event's order (StatsEvent's shape);
   * then the frame goes to the clients.
   */
  const statsPass = async (): Promise<void> => {
    const at = new Date().toISOString();
    const live = clients.size > 0 || pending.size > 0;
    const models = ctx.snapshots.current.models;
    const frame = live ? new FrameBytes(lastFrameBytes + 4096) : undefined;
    frame?.text(`${sseDataLine('stats', '')}{"at":${JSON.stringify(at)},"windowSeconds":${STATS_WINDOW_SECONDS},"models":[`);
    await inSlices({ work: 'event-stream stats', budget: STREAM_UNITS_PER_SLICE, weight: stepWeight, stopped: () => closed }, statsSteps(models.values(), { ctx, history, at, frame }), runStep);
    if (closed) return;
    history.retain(models);
    if (frame === undefined) return;
    frame.text(']}\n\n');
    lastFrameBytes = frame.length;
    await writeFrame(frame.pieces(FRAME_BYTES_PER_SLICE / 2));
  };

  /**
   * One frame to every client, written over several turns as a snapshot is (a stats frame of a
   * hundred models is hundreds of kilobytes, copied once per client). Its recipients are the
   * clients of its first turn; clients whose snapshot is under way get it in their queue. Whatever
   * is broadcast meanwhile follows it.
   */
  const writeFrame = async (pieces: Iterable<Buffer>): Promise<void> => {
    const recipients = [...clients];
    const queued = [...pending];
    if (recipients.length === 0 && queued.length === 0) return;
    let finish = (): void => {};
    const deferred: Buffer[] = [];
    framing = { deferred, done: new Promise<void>((resolve) => (finish = resolve)) };
    try {
      await inSlices({ work: 'event-stream stats frame', budget: FRAME_BYTES_PER_SLICE, weight: (piece: Buffer) => piece.length, stopped: () => closed }, pieces, (piece) => {
        deliver(piece, recipients, queued);
      });
    } finally {
      framing = undefined;
      finish();
      for (const frame of deferred) send(frame);
    }
  };
  let ticking = false;
  const onTick = (): void => {
    // A pass still under way (a slow machine) makes this tick skip rather than run alongside.
    if (ticking) return;
    ticking = true;
    statsPass()
      .catch((err: unknown) => ctx.log.error({ err }, 'event stream stats pass failed'))
      .finally(() => {
        ticking = false;
      });
  };

  /**
   * A new client's snapshot (SnapshotEvent), in slices as the stats tick, then the frames
   * broadcast meanwhile, then the client joins the broadcast.
   */
  const open = async (res: ServerResponse): Promise<void> => {
    pending.set(res, { frames: [], bytes: 0 });
    const build: SnapshotBuild = { ctx, history, pieces: [], histories: [] };
    await inSlices({ work: 'event-stream snapshot', budget: STREAM_UNITS_PER_SLICE, weight: stepWeight, stopped: () => closed || res.destroyed }, snapshotSteps(build), runStep);
    if (closed || res.destroyed) return;
    // Written as it is cut, a few pieces per turn: a snapshot of a hundred models with their
    // history is megabytes, and one write of it would convert it all in one go. Its data is one
    // line of JSON (sseDataLine), so the pieces need no framing of their own.
    // Cut as it is written: building every fragment first would be one long step of its own.
    await inSlices({ work: 'event-stream snapshot write', budget: WRITE_CHARS_PER_SLICE, weight: (t: string) => t.length, stopped: () => closed || res.destroyed }, batched(snapshotTexts(build), WRITE_CHARS_PER_SLICE / 2), (t) => {
      res.write(t);
    });
    // A stats frame under way may already be in this client's queue in part: the rest must follow.
    while (framing !== undefined) await framing.done;
    const queue = pending.get(res);
    pending.delete(res);
    if (closed || res.destroyed || queue === undefined) return;
    wholeStep('event-stream snapshot catch-up', () => {
      for (const frame of queue.frames) res.write(frame);
    });
    clients.add(res);
  };

  ctx.events.on('policy', onPolicy);
  ctx.events.on('health', onHealth);
  ctx.events.on('replica', onReplica);
  ctx.events.on('rollback', onRollback);
  ctx.events.on('versions', onVersions);
  ctx.events.on('store', onStore);
  ctx.events.on('tick', onTick);
  const heartbeat = setInterval(() => {
    for (const res of clients) res.write(SSE_KEEP_ALIVE);
  }, HEARTBEAT_MS);
  heartbeat.unref();

  app.addHook('onClose', async () => {
    closed = true;
    clearInterval(heartbeat);
    ctx.events.off('policy', onPolicy);
    ctx.events.off('health', onHealth);
    ctx.events.off('replica', onReplica);
    ctx.events.off('rollback', onRollback);
    ctx.events.off('versions', onVersions);
    ctx.events.off('store', onStore);
    ctx.events.off('tick', onTick);
    for (const res of clients) res.end();
    for (const res of pending.keys()) res.end();
    clients.clear();
    pending.clear();
  });

  app.get(
    '/api/events',
    {
      schema: {
        summary: 'Server-Sent Events: snapshot, policy, health, replica, rollback, store, versions, stats (1/s)',
        description:
          'The `snapshot` event (first) is a SnapshotEvent: every model and, per model, its last stats ticks. The `stats` event, once a second, is a StatsEvent: per model and version the live numbers, with each replica (health, in flight, last check, breaker, ejection). The data of every event has its schema in components.schemas, named after the event: `policy` is a PolicyEvent, `replica` a ReplicaEvent, and so on.',
        tags: ['events'],
        produces: ['text/event-stream'],
        response: { 401: ErrorBody },
      },
    },
    (request, reply) => {
      const res = reply.raw;
      // Headers set by earlier hooks (CORS) are not written for a hijacked reply: copy them.
      const headers: Record<string, string | number | string[]> = {};
      for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value;
      reply.hijack();
      res.writeHead(200, {
        ...headers,
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      const forget = (): void => {
        clients.delete(res);
        pending.delete(res);
      };
      request.raw.once('close', forget);
      res.once('close', forget);
      open(res).catch((err: unknown) => {
        ctx.log.error({ err }, 'event stream snapshot failed');
        res.destroy();
      });
    },
  );
};
