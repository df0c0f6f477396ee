/**
 * What TF Serving checks in a predict/classify/regress body BEFORE it looks the model up
 * (tensorflow_serving/util/json_tensor.cc: ParseJson, FillSignature and, for classify/regress, the
 * whole Example list). A replica answers these with 400 even for a model it does not have, so the
 * gateway must run the same checks before answering an unknown model/version with 404.
 */
import { createGunzip, gunzip } from 'node:zlib';
import {
  JsonNumber,
  JsonObject,
  PARSE_ERROR_EN,
  jsonTypeString,
  jsonValueToDebugString,
  parseRapidJson,
  type JsonValue,
} from './rapidjson.js';

export type TfBodyOperation = 'predict' | 'classify' | 'regress';

// net_http ZLib::kMaxUncompressedBytes.
const MAX_INFLATED_BYTES = 100 * 1024 * 1024;

/**
 * The body as TF Serving's handlers see it. net_http's handler options default to
 * auto_uncompress_input: with a Content-Encoding header containing "gzip" (case-sensitive) the
 * body is inflated first, and one that does not inflate reads as empty ("The document is empty").
 * Run it before checkRequestJson on a body that may be compressed. `maxInflatedBytes` lowers TF's
 * cap: beyond it the body reads as empty too, as beyond TF's own.
 */
export function inflateTfBody(
  body: Uint8Array,
  contentEncoding: string | readonly string[] | undefined,
  maxInflatedBytes = MAX_INFLATED_BYTES,
): Promise<Uint8Array> {
  const encoding = Array.isArray(contentEncoding) ? contentEncoding[0] : contentEncoding;
  if (body.length === 0 || typeof encoding !== 'string' || !encoding.includes('gzip')) return Promise.resolve(body);
  return new Promise((resolve) => {
    gunzip(body, { maxOutputLength: Math.min(maxInflatedBytes, MAX_INFLATED_BYTES) }, (error, inflated) => resolve(error === null ? inflated : new Uint8Array(0)));
  });
}

/** Part of a body as TF Serving's handlers would see it: `complete` false when its end is missing. */
export interface BodyHead {
  readonly body: Uint8Array;
  readonly complete: boolean;
}

/**
 * inflateTfBody for a body of which only `head` is known (`complete`: it is the whole body), and
 * only the first `maxBytes` of the inflated body are wanted: the output stops there, so neither a
 * bomb nor a large body costs more than `maxBytes`. A whole body that fails to inflate reads as
 * empty, as in TF; a head that fails is taken as cut short, and what it gave is returned.
 */
export function inflateTfHead(
  head: Uint8Array,
  complete: boolean,
  contentEncoding: string | readonly string[] | undefined,
  maxBytes: number,
): Promise<BodyHead> {
  const encoding = Array.isArray(contentEncoding) ? contentEncoding[0] : contentEncoding;
  if (head.length === 0 || typeof encoding !== 'string' || !encoding.includes('gzip')) {
    return Promise.resolve({ body: head.subarray(0, maxBytes), complete: complete && head.length <= maxBytes });
  }
  return new Promise((resolve) => {
    const out = Buffer.allocUnsafe(maxBytes);
    let size = 0;
    let settled = false;
    const gunzipStream = createGunzip();
    const finish = (result: BodyHead): void => {
      if (settled) return;
      settled = true;
      gunzipStream.destroy();
      resolve(result);
    };
    gunzipStream.on('data', (chunk: Buffer) => {
      size += chunk.copy(out, size, 0, Math.min(chunk.length, maxBytes - size));
      if (size === maxBytes) finish({ body: out.subarray(0, size), complete: false });
    });
    gunzipStream.on('end', () => finish({ body: out.subarray(0, size), complete }));
    gunzipStream.on('error', () => finish(complete ? { body: new Uint8Array(0), complete: true } : { body: out.subarray(0, size), complete: false }));
    gunzipStream.end(head);
  });
}

/**
 * TF's message for a body of which only the beginning is known, or null when the beginning alone
 * cannot tell. A JSON syntax error found well before the end of what is known is the error TF
 * reports (rapidjson reads left to right: what follows cannot change it); errors near the end may
 * be the cut itself, and the checks that read the whole document (its type, signature_name, the
 * examples) need its end.
 */
export function checkRequestJsonHead(head: Uint8Array): string | null {
  if (head.length === 0) return null;
  const parsed = parseRapidJson(head, 1);
  if (parsed.ok || parsed.offset + CUT_MARGIN_BYTES >= head.length) return null;
  return `JSON Parse error: ${PARSE_ERROR_EN[parsed.code]} at offset: ${parsed.offset}`;
}

/** Longer than any token whose error rapidjson reports at its start (a literal, a number's digits). */
const CUT_MARGIN_BYTES = 256;

export interface RequestJson {
  /** The request document (always an object). */
  readonly doc: JsonObject;
  /** `signature_name` as sent; '' when absent (TF then uses serving_default). */
  readonly signatureName: string;
}

export type RequestJsonOutcome = { readonly ok: true; readonly request: RequestJson } | { readonly ok: false; readonly message: string };

/**
 * TF Serving's error message for a body it rejects before the model lookup, or null. For
 * 'classify' and 'regress' the examples are validated too, since TF builds them before the lookup;
 * for 'predict' (the default) only the document and signature_name are, as TF needs the model's
 * signature before it can read `instances`/`inputs`.
 */
export function checkRequestJson(body: Uint8Array, operation: TfBodyOperation = 'predict'): string | null {
  // A predict check reads only the top level; a wide body built whole would cost ~35x its size
  // (13 MiB of instances: 470 MB). Large ones are only scanned below the top level, at the price
  // of leaving the unbuilt members out of the one message that prints the document (a
  // non-string signature_name).
  const depth = operation === 'predict' && body.length > SHALLOW_CHECK_OVER_BYTES ? 1 : CHECK_DEPTH;
  const parsed = parseRequestJson(body, depth);
  if (!parsed.ok) return parsed.message;
  if (operation === 'predict') return null;
  const examples = readExampleInput(parsed.request.doc);
  return examples.ok ? null : examples.message;
}

/**
 * How deep checkRequestJson builds the document: deeper than any tensor (TF's shapes have at most
 * 254 dimensions) and than anything its checks or error messages read.
 */
const CHECK_DEPTH = 1024;
const SHALLOW_CHECK_OVER_BYTES = 1024 * 1024;

/** ParseJson + FillSignature; containers below `maxDepth` are checked, not built (see parseRapidJson). */
export function parseRequestJson(body: Uint8Array, maxDepth = Infinity): RequestJsonOutcome {
  // TF tests the length before parsing, hence no trailing period here (rapidjson's own text has one).
  if (body.length === 0) return failure('JSON Parse error: The document is empty');
  const parsed = parseRapidJson(body, maxDepth);
  if (!parsed.ok) return failure(`JSON Parse error: ${PARSE_ERROR_EN[parsed.code]} at offset: ${parsed.offset}`);
  const doc = parsed.value;
  if (!(doc instanceof JsonObject)) return failure(formatError(doc, 'Is not object'));
  const sig = doc.get('signature_name');
  if (sig !== undefined && typeof sig !== 'string') {
    return failure(`JSON Value: ${jsonValueToDebugString(doc)} not formatted correctly. 'signature_name' key must be a string value.`);
  }
  return { ok: true, request: { doc, signatureName: sig ?? '' } };
}

/** json_tensor.cc FormatError: the offending value, then the reason. */
export function formatError(value: JsonValue, ...parts: string[]): string {
  return `JSON Value: ${jsonValueToDebugString(value)} ${parts.join('')}`;
}

function failure(message: string): { ok: false; message: string } {
  return { ok: false, message };
}

// ---------------------------------------------------------------------------------------------
// Classify / regress examples

/** One tf.train.Feature as TF fills it from JSON; 'none' is a feature with no value (KIND_NOT_SET). */
export type Feature =
  | { readonly kind: 'none' }
  | { readonly kind: 'bytes'; readonly values: Buffer[] }
  | { readonly kind: 'float'; readonly values: number[] }
  | { readonly kind: 'int64'; readonly values: bigint[] };

/** A tf.train.Example's feature map; a repeated name replaces the earlier one (proto map semantics). */
export type ExampleFeatures = Map<string, Feature>;

export interface ExampleInput {
  readonly context: ExampleFeatures | null;
  readonly examples: ExampleFeatures[];
}

export type ExampleInputOutcome = { readonly ok: true; readonly input: ExampleInput } | { readonly ok: false; readonly message: string };

/** FillClassifyRegressRequestFromJson after FillSignature: `context` then `examples`. */
export function readExampleInput(doc: JsonObject): ExampleInputOutcome {
  let context: ExampleFeatures | null = null;
  const ctx = doc.get('context');
  if (ctx !== undefined) {
    const made = makeExample(ctx);
    if (typeof made === 'string') return failure(made);
    context = made;
  }
  const list = doc.get('examples');
  // The text says "classify" for regress requests too: TF shares the code.
  if (list === undefined) return failure(formatError(doc, "When method is classify, key 'examples' is expected and was not found"));
  if (!Array.isArray(list)) return failure(formatError(doc, "Expecting 'examples' value to be an list/array"));
  if (list.length === 0) return failure(formatError(doc, "'examples' value is an empty array"));
  const examples: ExampleFeatures[] = [];
  for (const item of list) {
    const made = makeExample(item);
    if (typeof made === 'string') return failure(made);
    examples.push(made);
  }
  return { ok: true, input: { context, examples } };
}

function makeExample(value: JsonValue): ExampleFeatures | string {
  if (!(value instanceof JsonObject)) return `Example must be JSON object but got JSON ${jsonTypeString(value)}`;
  const features: ExampleFeatures = new Map();
  for (let i = 0; i < value.names.length; i++) {
    const name = value.names[i] as string;
    const content = value.values[i] as JsonValue;
    const builder: FeatureBuilder = { kind: 'none', bytes: [], floats: [], ints: [] };
    if (Array.isArray(content)) {
      for (const v of content) {
        const error = addValueToFeature(v, name, builder);
        if (error !== null) return error;
      }
    } else {
      const error = addValueToFeature(content, name, builder);
      if (error !== null) return error;
    }
    features.set(name, buildFeature(builder));
  }
  return features;
}

interface FeatureBuilder {
  kind: Feature['kind'];
  readonly bytes: Buffer[];
  readonly floats: number[];
  readonly ints: bigint[];
}

function buildFeature(b: FeatureBuilder): Feature {
  switch (b.kind) {
    case 'none':
      return { kind: 'none' };
    case 'bytes':
      return { kind: 'bytes', values: b.bytes };
    case 'float':
      return { kind: 'float', values: b.floats };
    default:
      return { kind: 'int64', values: b.ints };
  }
}

function kindName(kind: Feature['kind']): string {
  return kind === 'none' ? 'UNKNOWN' : kind;
}

function unexpectedType(name: string, v: JsonValue): string {
  return `Feature: ${name} has element with unexpected JSON type: ${jsonTypeString(v)}`;
}

/** json_tensor.cc AddValueToFeature; null, or TF's error text. */
function addValueToFeature(v: JsonValue, name: string, feature: FeatureBuilder): string | null {
  if (v === null || Array.isArray(v)) return unexpectedType(name, v);
  let kind: Feature['kind'];
  if (typeof v === 'boolean' || (v instanceof JsonNumber && !v.isDouble)) kind = 'int64';
  else if (v instanceof JsonNumber) kind = 'float';
  else if (typeof v === 'string') kind = 'bytes';
  else if (isBase64Object(v)) kind = 'bytes';
  else return unexpectedType(name, v);
  // The message names the kind the feature already has, not the one of the new value.
  if (feature.kind !== 'none' && feature.kind !== kind) return `Unexpected element type in feature: ${name} expecting type: ${kindName(feature.kind)}`;
  if (typeof v === 'boolean') {
    feature.ints.push(v ? 1n : 0n);
  } else if (v instanceof JsonNumber) {
    if (v.isDouble) feature.floats.push(v.getFloat());
    else if (!v.isInt64()) return `Feature: ${name} has uint64_t element. Only int64_t is supported.`;
    else feature.ints.push(integerOf(v));
  } else if (typeof v === 'string') {
    feature.bytes.push(Buffer.from(v, 'utf8'));
  } else {
    const decoded = base64Unescape(v.get('b64') as string);
    if (decoded === null) return 'Unable to base64 decode';
    feature.bytes.push(decoded);
  }
  feature.kind = kind;
  return null;
}

function integerOf(n: JsonNumber): bigint {
  return n.big ?? BigInt(n.value);
}

/** json_tensor.cc IsValBase64Object: exactly one member, "b64", holding a string. */
export function isBase64Object(v: JsonValue | undefined): boolean {
  return v instanceof JsonObject && v.size === 1 && typeof v.get('b64') === 'string';
}

const UNBASE64 = (() => {
  const t = new Int8Array(128).fill(-1);
  const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = i;
  return t;
})();

const isAsciiSpace = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d);

/**
 * absl::Base64Unescape: whitespace is ignored anywhere, data stops at the first '=' or '.', after
 * which only padding and whitespace may follow, and the padding must be absent or exactly right.
 */
export function base64Unescape(text: string): Buffer | null {
  const out: number[] = [];
  let acc = 0;
  let state = 0;
  let i = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const d = c < 128 ? (UNBASE64[c] as number) : -1;
    if (d < 0) {
      if (isAsciiSpace(c)) continue;
      if (c === 0x3d || c === 0x2e) break;
      return null;
    }
    acc = (acc << 6) | d;
    if (++state === 4) {
      out.push((acc >> 16) & 0xff, (acc >> 8) & 0xff, acc & 0xff);
      acc = 0;
      state = 0;
    }
  }
  let expectedEquals = 0;
  if (state === 1) return null;
  if (state === 2) {
    out.push((acc >> 4) & 0xff);
    expectedEquals = 2;
  } else if (state === 3) {
    out.push((acc >> 10) & 0xff, (acc >> 2) & 0xff);
    expectedEquals = 1;
  }
  let equals = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x3d || c === 0x2e) equals++;
    else if (!isAsciiSpace(c)) return null;
  }
  return equals === 0 || equals === expectedEquals ? Buffer.from(out) : null;
}
