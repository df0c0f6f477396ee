/**
 * TF Serving's REST URL grammar, as the model server itself applies it
 * (tensorflow_serving/model_servers/http_rest_api_util.cc). Shared by the gateway, which must
 * answer malformed requests exactly as a replica would, and by the replica simulator.
 *
 * The server matches the path *with* its query string (libevent's uri_path() includes it), so
 * `GET /v1/models/m?x=1` names a model called `m?x=1` and `POST /v1/models/m:predict?x=1` is
 * malformed. We keep that behaviour: a client must not be able to tell the gateway from a replica.
 */
import { malformedRequest, missingModelName, badVersionNumber } from './errors.js';

export type TfOperation = 'status' | 'metadata' | 'predict' | 'classify' | 'regress';

export interface TfTarget {
  /** URL-decoded model name. */
  readonly model: string;
  /** The version as TF Serving's int64 parse sees it (leading zeros dropped), when the URL names one. */
  readonly version: string | undefined;
  /** URL-decoded version label, when the URL names one. */
  readonly label: string | undefined;
  readonly operation: TfOperation;
}

export interface TfPathError {
  readonly status: 400;
  /** TF Serving's error message; the body is built with errorBody(). */
  readonly message: string;
}

export type TfPathResult = { readonly ok: true; readonly target: TfTarget } | { readonly ok: false; readonly error: TfPathError };

// Same expressions as TF Serving's kPredictionApiGegex / kModelStatusApiRegex (RE2 FullMatch, (?i)).
const PREDICTION_RE = /^\/v1\/models\/([^/:]+)(?:(?:\/versions\/(\d+))|(?:\/labels\/([^/:]+)))?:(classify|regress|predict)$/i;
const STATUS_RE = /^\/v1\/models(?:\/([^/:]+))?(?:(?:\/versions\/(\d+))|(?:\/labels\/([^/:]+)))?(?:\/(metadata))?$/i;
const V1_RE = /^\/v1\//i;
const INT64_MAX = 9223372036854775807n;

/** True when TF Serving's REST dispatcher handles the path at all (`(?i)/v1/.*`); other paths get its HTML 404. */
export function isV1Path(path: string): boolean {
  return V1_RE.test(path);
}

/**
 * Parses a GET or POST request path the way TF Serving does. Any other method is malformed
 * (TF Serving answers `Malformed request: PUT /v1/...`), except OPTIONS, which the caller handles.
 */
export function parseTfPath(method: string, path: string): TfPathResult {
  let m: RegExpExecArray | null;
  if (method === 'POST') m = PREDICTION_RE.exec(path);
  else if (method === 'GET') m = STATUS_RE.exec(path);
  else return failure(malformedRequest(method, path));
  if (m === null) return failure(malformedRequest(method, path));
  const model = m[1];
  const versionText = m[2];
  const labelText = m[3];
  // ParseModelInfo converts the version before the handler looks at the verb or at the model
  // name, so an int64 overflow wins over `:PREDICT` and over "Missing model name".
  const version = versionText === undefined ? undefined : parseInt64(versionText);
  if (version === null) return failure(badVersionNumber(versionText ?? ''));
  let operation: TfOperation;
  if (method === 'POST') {
    // The regex is case-insensitive but the dispatch compares the verb exactly: `:PREDICT` is malformed.
    const verb = m[4];
    if (verb !== 'predict' && verb !== 'classify' && verb !== 'regress') return failure(malformedRequest(method, path));
    operation = verb;
  } else {
    // TF Serving compares the captured subresource with "metadata" exactly: `/METADATA` asks for status.
    operation = m[4] === 'metadata' ? 'metadata' : 'status';
    if (model === undefined || model === '') return failure(missingModelName());
  }
  const name = decodeArg(model ?? '');
  const label = labelText === undefined ? undefined : decodeArg(labelText);
  return { ok: true, target: { model: name, version, label, operation } };
}

function failure(message: string): TfPathResult {
  return { ok: false, error: { status: 400, message } };
}

/** absl::SimpleAtoi into int64: leading zeros allowed, overflow rejected. Returns the canonical decimal text. */
export function parseInt64(digits: string): string | null {
  let i = 0;
  while (i < digits.length - 1 && digits.charCodeAt(i) === 48) i++;
  const text = digits.slice(i);
  if (text.length > 19 || (text.length === 19 && BigInt(text) > INT64_MAX)) return null;
  return text;
}

/** The path tail that selects an operation, as a replica expects it after the model part. */
export function operationSuffix(operation: TfOperation): string {
  switch (operation) {
    case 'status':
      return '';
    case 'metadata':
      return '/metadata';
    default:
      return `:${operation}`;
  }
}

/**
 * curl_easy_unescape: %XX sequences become bytes, everything else (including '+' and a '%' that
 * is not followed by two hex digits) stays as it is; the bytes are read as UTF-8.
 */
export function decodeArg(text: string): string {
  if (!text.includes('%')) return text;
  const src = Buffer.from(text, 'utf8');
  const out = Buffer.allocUnsafe(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const b = src[i] as number;
    const hi = i + 2 < src.length ? hexValue(src[i + 1] as number) : -1;
    const lo = hi >= 0 ? hexValue(src[i + 2] as number) : -1;
    if (b === 37 && lo >= 0) {
      out[n++] = hi * 16 + lo;
      i += 2;
    } else {
      out[n++] = b;
    }
  }
  return out.toString('utf8', 0, n);
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}
