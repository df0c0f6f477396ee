/**
 * Whether a shadow's answer agrees with the live one, for TF Serving's REST answers (JSON, read
 * with the same rapidjson grammar TF writes: NaN and Infinity are numbers). Pure functions, run
 * off the client's path (analysis/shadow-analysis.ts) on answers of bounded size.
 *
 *   predict, regress: the documents have the same shape (arrays of the same lengths, objects with
 *     the same names), strings, booleans and nulls are equal, and every number agrees within the
 *     tolerance: |shadow - live| <= abs + rel x |live| (numpy's isclose, the live value as the
 *     reference). NaN agrees with NaN only, an infinity with the same infinity only. Integers are
 *     numbers like any other (an int output that moved by one disagrees at any sane tolerance).
 *   classify: per example the top label (highest score) is the same, the labels are the same set,
 *     and each label's score agrees within the tolerance.
 *
 * A pair whose live answer cannot be read is not compared (a gzip answer, a body that is no JSON):
 * that says nothing about the shadow. A shadow answer that cannot be read disagrees.
 */
import { isJsonNumber, isJsonObject, JsonNumber, parseRapidJson, type JsonValue } from '../tfserving/rapidjson.js';
import type { ShadowTolerance } from '../policy/schema.js';

export interface Comparison {
  readonly comparable: true;
  readonly agree: boolean;
  /** Numbers compared (both finite), and the sum and largest of their absolute differences. */
  readonly elements: number;
  readonly sumAbsDiff: number;
  readonly maxAbsDiff: number;
  /** Where they first disagree, in words (a JSON-pointer-like path); null when they agree. */
  readonly detail: string | null;
}

export interface NotComparable {
  readonly comparable: false;
  readonly reason: string;
}

export type CompareOutcome = Comparison | NotComparable;

export type ComparedOperation = 'predict' | 'classify' | 'regress';

/** Nesting deeper than any TF answer: past it the parser builds nothing, so the walk (recursive) stays bounded. */
const MAX_DEPTH = 64;

/** Running totals of one comparison; the first disagreement stops it. */
export class Tally {
  elements = 0;
  sum = 0;
  max = 0;
  detail: string | null = null;
  readonly tolerance: ShadowTolerance;

  constructor(tolerance: ShadowTolerance) {
    this.tolerance = tolerance;
  }

  differ(path: string, what: string): false {
    this.detail ??= `${path || '/'}: ${what}`;
    return false;
  }

  /** One pair of numbers; false (and the detail noted) when they disagree. */
  numbers(path: string, live: number, shadow: number): boolean {
    if (Number.isNaN(live) || Number.isNaN(shadow)) {
      return Number.isNaN(live) && Number.isNaN(shadow) ? true : this.differ(path, `live ${live}, shadow ${shadow}`);
    }
    if (!Number.isFinite(live) || !Number.isFinite(shadow)) {
      return live === shadow ? true : this.differ(path, `live ${live}, shadow ${shadow}`);
    }
    const diff = Math.abs(shadow - live);
    this.elements++;
    this.sum += diff;
    if (diff > this.max) this.max = diff;
    if (diff <= this.tolerance.abs + this.tolerance.rel * Math.abs(live)) return true;
    return this.differ(path, `live ${live}, shadow ${shadow} (off by ${diff})`);
  }

  result(agree: boolean): Comparison {
    return { comparable: true, agree, elements: this.elements, sumAbsDiff: this.sum, maxAbsDiff: this.max, detail: agree ? null : this.detail };
  }
}

export function compareRestAnswers(operation: ComparedOperation, live: Uint8Array, shadow: Uint8Array, tolerance: ShadowTolerance): CompareOutcome {
  const liveDoc = parseRapidJson(live, MAX_DEPTH);
  if (!liveDoc.ok) return { comparable: false, reason: 'the live answer is not JSON the gateway can read' };
  const tally = new Tally(tolerance);
  const shadowDoc = parseRapidJson(shadow, MAX_DEPTH);
  if (!shadowDoc.ok) return tally.result(tally.differ('', 'the shadow answer is not JSON'));
  if (operation === 'classify') return tally.result(compareClassify(liveDoc.value, shadowDoc.value, tally));
  return tally.result(compareValues(liveDoc.value, shadowDoc.value, '', tally));
}

/** Structural comparison: same shape, equal non-numbers, numbers within the tolerance. */
export function compareValues(live: JsonValue, shadow: JsonValue, path: string, tally: Tally): boolean {
  if (isJsonNumber(live)) {
    if (!isJsonNumber(shadow)) return tally.differ(path, `live a number, shadow ${kind(shadow)}`);
    return tally.numbers(path, numberOf(live), numberOf(shadow));
  }
  if (Array.isArray(live)) {
    if (!Array.isArray(shadow)) return tally.differ(path, `live an array, shadow ${kind(shadow)}`);
    if (live.length !== shadow.length) return tally.differ(path, `shapes differ: live ${live.length} elements, shadow ${shadow.length}`);
    let agree = true;
    for (let i = 0; i < live.length; i++) {
      // Every element is visited (for the differences' totals) even after a disagreement.
      if (!compareValues(live[i] as JsonValue, shadow[i] as JsonValue, `${path}/${i}`, tally)) agree = false;
    }
    return agree;
  }
  if (isJsonObject(live)) {
    if (!isJsonObject(shadow)) return tally.differ(path, `live an object, shadow ${kind(shadow)}`);
    if (live.size !== shadow.size) return tally.differ(path, `live has ${live.size} fields, shadow ${shadow.size}`);
    let agree = true;
    for (let i = 0; i < live.names.length; i++) {
      const name = live.names[i] as string;
      const other = shadow.get(name);
      if (other === undefined) return tally.differ(path, `the shadow has no field ${JSON.stringify(name)}`);
      if (!compareValues(live.values[i] as JsonValue, other, `${path}/${name}`, tally)) agree = false;
    }
    return agree;
  }
  if (live === shadow) return true;
  return tally.differ(path, `live ${preview(live)}, shadow ${preview(shadow)}`);
}

/** `{"result": [[[label, score], ...], ...]}`: per example, the same top label and each label's score within the tolerance. */
function compareClassify(live: JsonValue, shadow: JsonValue, tally: Tally): boolean {
  const liveResult = isJsonObject(live) ? live.get('result') : undefined;
  const shadowResult = isJsonObject(shadow) ? shadow.get('result') : undefined;
  if (!Array.isArray(liveResult) || !Array.isArray(shadowResult)) return compareValues(live, shadow, '', tally);
  if (liveResult.length !== shadowResult.length) return tally.differ('/result', `live ${liveResult.length} examples, shadow ${shadowResult.length}`);
  let agree = true;
  for (let i = 0; i < liveResult.length; i++) {
    const path = `/result/${i}`;
    const a = classes(liveResult[i] as JsonValue);
    const b = classes(shadowResult[i] as JsonValue);
    if (a === null || b === null) {
      if (!compareValues(liveResult[i] as JsonValue, shadowResult[i] as JsonValue, path, tally)) agree = false;
      continue;
    }
    if (a.top !== b.top) {
      agree = tally.differ(path, `top label: live ${JSON.stringify(a.top)}, shadow ${JSON.stringify(b.top)}`);
    }
    if (a.scores.size !== b.scores.size) {
      agree = tally.differ(path, `live ${a.scores.size} classes, shadow ${b.scores.size}`);
      continue;
    }
    for (const [label, score] of a.scores) {
      const other = b.scores.get(label);
      if (other === undefined) {
        agree = tally.differ(path, `the shadow has no class ${JSON.stringify(label)}`);
        break;
      }
      if (!tally.numbers(`${path}/${label}`, score, other)) agree = false;
    }
  }
  return agree;
}

/** An example's [label, score] pairs: scores by label and the top label; null for any other shape. */
function classes(example: JsonValue): { top: string; scores: Map<string, number> } | null {
  if (!Array.isArray(example)) return null;
  const scores = new Map<string, number>();
  let top = '';
  let best = -Infinity;
  for (const pair of example) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || !isJsonNumber(pair[1])) return null;
    const score = numberOf(pair[1]);
    // A repeated label (TF allows none): positions would be compared, not labels.
    if (scores.has(pair[0])) return null;
    scores.set(pair[0], score);
    if (score > best) {
      best = score;
      top = pair[0];
    }
  }
  return { top, scores };
}

function numberOf(n: JsonNumber): number {
  return n.big === null ? n.value : Number(n.big);
}

function kind(v: JsonValue): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (isJsonObject(v)) return 'an object';
  if (isJsonNumber(v)) return 'a number';
  return typeof v === 'string' ? 'a string' : 'a boolean';
}

function preview(v: JsonValue): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return kind(v) === 'null' ? 'null' : String(v);
}
