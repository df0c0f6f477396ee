/**
 * The REST listener's request function: TF Serving's URL grammar, the routing decision, then either
 * a local answer in TF Serving's words or an Exchange with a replica. Local answers to inference
 * requests read and check the JSON body first, because TF Serving parses it before it looks the
 * model up (bad JSON to an unknown model is a 400, not a 404).
 */
// The module's binding, not the global `performance`: that one is a lazy getter, called on every use.
import { performance } from 'node:perf_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessLogSettings, ProxySettings } from '../../config/load.js';
import type { Logger } from 'pino';
import { createAccessLog, elapsedMs } from '../../observability/access-log.js';
import {
  noSuchVersion,
  noVersionsOfModel,
  servableNotFoundLatest,
  servableNotFoundSpecific,
  unrecognizedLabel,
} from '../../tfserving/errors.js';
import { checkRequestJson, checkRequestJsonHead, inflateTfHead } from '../../tfserving/json-body.js';
import { ALLOWED_METHODS, libeventPathAndQuery } from '../../tfserving/libevent.js';
import { isV1Path, parseTfPath, type TfTarget } from '../../tfserving/path.js';
import { decide, decideUnpinned } from '../../dataplane/decide.js';
import { Exchange, SERVED_VERSION, tooLargeMessage, type ServedResponse } from './exchange.js';
import { replyEmpty, replyError, replyPage } from './local-reply.js';
import { fullMessage, type Admission, type Hold } from '../../dataplane/admission.js';
import { readBody, readBodyPrefix, type BodyOutcome } from './request-body.js';
import { RequestIds } from '../../dataplane/request-id.js';
import type { Shadows } from '../../dataplane/shadow.js';
import type { SnapshotHolder } from '../../dataplane/snapshot.js';
import { sendRestShadow } from './shadow.js';
import type { ClientResponse } from './client-response.js';

export type RestHandler = (req: IncomingMessage, res: ClientResponse) => void;

interface LocalError {
  readonly status: number;
  readonly message: string;
}

const ORIGIN_RE = /https?:\/\//;

export interface RestHandlerOptions {
  readonly snapshots: SnapshotHolder;
  /** The gateway's limits on requests in flight and body bytes in memory, shared with every listener. */
  readonly admission: Admission;
  /** Copies of requests to a model's shadow version, shared with every listener. */
  readonly shadows: Shadows;
  readonly settings: ProxySettings;
  /** Set during a graceful shutdown: every answer then closes its connection. */
  readonly lifecycle: { readonly draining: boolean };
  readonly accessLog: AccessLogSettings;
  readonly log: Logger;
  /** A bug that cost one request: logged with the request's id, which its 500 answer carries. */
  readonly onBug: (err: unknown, req: IncomingMessage, requestId: string) => void;
}

export function createRestHandler(options: RestHandlerOptions): RestHandler {
  const { snapshots, settings, lifecycle, onBug, admission, shadows } = options;
  const ids = new RequestIds();
  const access = accessLogger(options.accessLog, options.log);

  return function guarded(req, res) {
    const requestId = ids.from(req.headers['x-request-id']);
    try {
      handle(req, res, requestId);
    } catch (err) {
      // A bug must cost one request, never the process.
      onBug(err, req, requestId);
      replyError(res, 500, 'Internal error in the gateway', requestId);
    }
  };

  function handle(req: IncomingMessage, res: ClientResponse, requestId: string): void {
    const arrivedAt = performance.now();
    // Draining: the client reconnects, and its next request goes to another instance.
    if (lifecycle.draining) res.shouldKeepAlive = false;
    const logged = access !== undefined && access(req, res, requestId);
    const hold = admission.enter();
    if (hold === undefined) {
      replyError(res, 503, fullMessage(admission), requestId, true);
      return;
    }
    res.holdUntilClose(hold);
    const method = req.method ?? 'GET';
    // What libevent does before TF Serving's code sees the request: method filter, strict URI parse.
    if (!ALLOWED_METHODS.has(method)) {
      replyPage(res, 501, requestId);
      return;
    }
    const url = libeventPathAndQuery(req.url ?? '/');
    if (url === null) {
      replyPage(res, 400, requestId);
      return;
    }
    if (!isV1Path(url)) {
      replyPage(res, 404, requestId);
      return;
    }
    if (method === 'OPTIONS') {
      // TF Serving answers a CORS preflight itself: 200 with an Origin, 400 without, both empty.
      const origin = req.headers.origin;
      replyEmpty(res, origin !== undefined && ORIGIN_RE.test(origin) ? 200 : 400, requestId);
      return;
    }
    const parsed = parseTfPath(method, url);
    if (!parsed.ok) {
      replyError(res, parsed.error.status, parsed.error.message, requestId);
      return;
    }
    const target = parsed.target;
    const model = snapshots.current.models.get(target.model);
    if (model === undefined) {
      answerLocally(req, res, hold, target, unknownModelError(target), requestId, settings, onBug);
      return;
    }
    let resolution = decide(model, target, req.headers);
    let clientPath: string | undefined;
    if (target.operation === 'status' && target.version === undefined) {
      // TF Serving does not resolve labels on status requests and lists every version it has: the
      // request goes to a replica as the client wrote it, an unknown label included.
      if (resolution === 'unknown-label') resolution = decideUnpinned(model, req.headers);
      clientPath = url;
    }
    if (resolution === 'unknown-version') {
      const version = target.version ?? '';
      const message =
        target.operation === 'status' ? noSuchVersion(target.model, version) : servableNotFoundSpecific(target.model, version);
      answerLocally(req, res, hold, target, { status: 404, message }, requestId, settings, onBug);
      return;
    }
    if (resolution === 'unknown-label') {
      answerLocally(req, res, hold, target, { status: 400, message: unrecognizedLabel(target.label ?? '') }, requestId, settings, onBug);
      return;
    }
    if (resolution.reason === 'fallback' && model.canary !== null && model.canary.degraded) {
      // The canary should have served this one and is failing: the rollback analysis counts it.
      model.canary.stats.recordDiverted();
    }
    const exchange = new Exchange({
      req,
      res,
      model,
      decision: resolution,
      operation: target.operation,
      clientPath,
      requestId,
      settings,
      arrivedAt,
      keepVersion: logged,
    });
    res.exchange = exchange;
    const operation = target.operation;
    // Only inference is copied; a model without a shadow costs this one check.
    const shadowed = model.shadow !== null && operation !== 'status' && operation !== 'metadata' ? operation : undefined;
    readBody(req, hold, settings.maxBodyBytes, settings.retryBufferBytes, (outcome) => {
      try {
        if (outcome.kind === 'none') exchange.start(null, undefined);
        else if (outcome.kind === 'buffer') {
          const pair = shadowed === undefined ? undefined : shadows.begin(model, resolution, 'rest', shadowed, requestId, outcome.body.length);
          if (pair !== undefined) exchange.shadowWith(pair);
          try {
            exchange.start(outcome.body, undefined);
          } finally {
            // After the live attempt is on its way: the copy never goes ahead of it. Sent even if
            // start() failed (a bug): the copy's answer is what gives its budget back.
            if (pair !== undefined) sendRestShadow(pair, req, outcome.body, settings.deadlineMs);
          }
        } else if (outcome.kind === 'stream') {
          // Counted as dropped: a streamed body is not kept, so there is nothing to copy.
          if (shadowed !== undefined) shadows.begin(model, resolution, 'rest', shadowed, requestId, null);
          exchange.start(outcome.body, outcome.length);
        } else replyBodyProblem(res, outcome, requestId, admission);
      } catch (err) {
        onBug(err, req, requestId);
        replyError(res, 500, 'Internal error in the gateway', requestId);
      }
    });
  }
}

function unknownModelError(target: TfTarget): LocalError {
  if (target.operation === 'status') {
    return {
      status: 404,
      message: target.version === undefined ? noVersionsOfModel(target.model) : noSuchVersion(target.model, target.version),
    };
  }
  if (target.label !== undefined) return { status: 400, message: unrecognizedLabel(target.label) };
  return {
    status: 404,
    message: target.version === undefined ? servableNotFoundLatest(target.model) : servableNotFoundSpecific(target.model, target.version),
  };
}

function answerLocally(
  req: IncomingMessage,
  res: ServerResponse,
  hold: Hold,
  target: TfTarget,
  error: LocalError,
  requestId: string,
  settings: ProxySettings,
  onBug: RestHandlerOptions['onBug'],
): void {
  const operation = target.operation;
  if (operation === 'status' || operation === 'metadata') {
    replyError(res, error.status, error.message, requestId);
    return;
  }
  // TF Serving inflates and parses the whole body before it looks the model up. The gateway checks
  // at most the first LOCAL_CHECK_BYTES of it (inflated): a whole check of a 32 MiB body would hold
  // the event loop for seconds. A bigger body gets TF's answer for a syntax error in that head,
  // else the lookup's answer (README: where the contract leaves room).
  readBodyPrefix(req, hold, settings.maxBodyBytes, LOCAL_CHECK_BYTES, (outcome) => {
    if (outcome.kind === 'too-large' || outcome.kind === 'over-budget') {
      replyBodyProblem(res, outcome, requestId, hold.admission);
      return;
    }
    const head = outcome.kind === 'none' ? EMPTY : outcome.head;
    inflateTfHead(head, outcome.kind === 'none' || outcome.complete, req.headers['content-encoding'], LOCAL_CHECK_BYTES)
      .then((inflated) => (inflated.complete ? checkRequestJson(inflated.body, operation) : checkRequestJsonHead(inflated.body)))
      .catch((err: unknown) => {
        onBug(err, req, requestId);
        return null;
      })
      .then((jsonError) => replyError(res, jsonError === null ? error.status : 400, jsonError ?? error.message, requestId));
  });
}

/** How much of a body the gateway reads to answer as TF Serving would: a few milliseconds of parsing at most. */
export const LOCAL_CHECK_BYTES = 64 * 1024;
const EMPTY = new Uint8Array(0);

function replyBodyProblem(res: ServerResponse, outcome: Extract<BodyOutcome, { kind: 'too-large' | 'over-budget' }>, requestId: string, admission: Admission): void {
  if (outcome.kind === 'too-large') replyError(res, 413, tooLargeMessage(outcome.limit), requestId, true);
  else replyError(res, 503, fullMessage(admission), requestId, true);
}

/** The REST side of the access log: a line when the response closes, for the requests it follows (true). */
function accessLogger(settings: AccessLogSettings, log: Logger): ((req: IncomingMessage, res: ServerResponse, requestId: string) => boolean) | undefined {
  const access = createAccessLog(settings, log);
  if (access === undefined) return undefined;
  return (req, res, requestId) => {
    if (!access.follow()) return false;
    const started = performance.now();
    res.once('close', () => {
      const status = res.headersSent ? res.statusCode : 0;
      const line = {
        requestId,
        protocol: 'rest' as const,
        method: req.method,
        url: req.url,
        status,
        version: (res as ServedResponse)[SERVED_VERSION],
        ms: elapsedMs(started),
        complete: res.writableFinished,
      };
      access.write(line, status >= 500 || !res.writableFinished);
    });
    return true;
  };
}
