/**
 * tf.train.Example on the wire, for the signatures whose input is a batch of serialized Examples
 * (classify/regress always, predict on tf_example:0). Classify/regress requests are serialized the
 * way TF Serving does it (context bytes + example bytes, so the example's features win), then
 * parsed the way TF's ParseExample op does (tensorflow/core/util/example_proto_fast_parsing.cc),
 * with its error texts.
 */
import type { ExampleFeatures, Feature } from '../../gateway/src/tfserving/json-body.js';

// ---------------------------------------------------------------------------------------------
// Serialization

class ProtoWriter {
  private readonly parts: Buffer[] = [];
  private size = 0;

  varint(value: bigint | number): void {
    let v = BigInt.asUintN(64, BigInt(value));
    const bytes: number[] = [];
    while (v >= 0x80n) {
      bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    bytes.push(Number(v));
    this.push(Buffer.from(bytes));
  }

  lengthDelimited(tag: number, payload: Buffer): void {
    this.varint(tag);
    this.varint(payload.length);
    this.push(payload);
  }

  push(b: Buffer): void {
    this.parts.push(b);
    this.size += b.length;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}

function serializeFeature(feature: Feature): Buffer {
  const w = new ProtoWriter();
  switch (feature.kind) {
    case 'none':
      break;
    case 'bytes': {
      const list = new ProtoWriter();
      for (const b of feature.values) list.lengthDelimited(0x0a, b);
      w.lengthDelimited(0x0a, list.toBuffer());
      break;
    }
    case 'float': {
      const packed = Buffer.alloc(feature.values.length * 4);
      feature.values.forEach((v, i) => packed.writeFloatLE(v, i * 4));
      const list = new ProtoWriter();
      list.lengthDelimited(0x0a, packed);
      w.lengthDelimited(0x12, list.toBuffer());
      break;
    }
    case 'int64': {
      const packed = new ProtoWriter();
      for (const v of feature.values) packed.varint(v);
      const list = new ProtoWriter();
      list.lengthDelimited(0x0a, packed.toBuffer());
      w.lengthDelimited(0x1a, list.toBuffer());
      break;
    }
  }
  return w.toBuffer();
}

/** Example{features: Features{feature: map<string, Feature>}} as protobuf bytes. */
export function serializeExample(features: ExampleFeatures): Buffer {
  if (features.size === 0) return Buffer.alloc(0);
  const map = new ProtoWriter();
  for (const [name, feature] of features) {
    const entry = new ProtoWriter();
    entry.lengthDelimited(0x0a, Buffer.from(name, 'utf8'));
    entry.lengthDelimited(0x12, serializeFeature(feature));
    map.lengthDelimited(0x0a, entry.toBuffer());
  }
  const w = new ProtoWriter();
  w.lengthDelimited(0x0a, map.toBuffer());
  return w.toBuffer();
}

// ---------------------------------------------------------------------------------------------
// Parsing (ParseExample op, fast path)

/** A CodedInputStream over a byte range with push/pop limits. */
class CodedInput {
  pos = 0;
  private limit: number;

  constructor(private readonly buf: Buffer) {
    this.limit = buf.length;
  }

  atEnd(): boolean {
    return this.pos === this.limit;
  }

  pushLimit(length: number): number {
    const old = this.limit;
    this.limit = Math.min(old, this.pos + length);
    return old;
  }

  popLimit(old: number): void {
    this.limit = old;
  }

  remainingToLimit(): number {
    return this.limit - this.pos;
  }

  readVarint(): bigint | null {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.limit) return null;
      const b = this.buf[this.pos++] as number;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
    return null;
  }

  readVarint32(): number | null {
    const v = this.readVarint();
    return v === null ? null : Number(v & 0xffffffffn);
  }

  /** ReadTag(): 0 at the limit. */
  readTag(): number {
    if (this.atEnd()) return 0;
    return this.readVarint32() ?? 0;
  }

  expectTag(tag: number): boolean {
    if (this.pos < this.limit && this.buf[this.pos] === tag) {
      this.pos++;
      return true;
    }
    return false;
  }

  peekByte(): number {
    return this.pos < this.limit ? (this.buf[this.pos] as number) : 0;
  }

  readBytes(n: number): Buffer | null {
    if (this.limit - this.pos < n) return null;
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(n: number): boolean {
    if (this.limit - this.pos < n) {
      this.pos = this.limit;
      return false;
    }
    this.pos += n;
    return true;
  }
}

type Entry = readonly [string, Buffer];

function skipExtraneousTag(s: CodedInput): boolean {
  switch (s.readTag() & 7) {
    case 0:
      return s.readVarint32() !== null;
    case 1:
      return s.readBytes(8) !== null;
    case 2: {
      const n = s.readVarint32();
      if (n === null) return false;
      s.skip(n);
      return true;
    }
    case 5:
      return s.readBytes(4) !== null;
    default:
      return false;
  }
}

function parseFeatureMapEntry(s: CodedInput, out: Entry[]): boolean {
  const length = s.readVarint32();
  if (length === null) return false;
  const limit = s.pushLimit(length);
  let key = '';
  let value: Buffer = Buffer.alloc(0);
  for (let n = 0; n < 2; n++) {
    const tag = s.readTag();
    if (tag !== 0x0a && tag !== 0x12) return false;
    const len = s.readVarint32();
    if (len === null) return false;
    const bytes = s.readBytes(len);
    if (bytes === null) return false;
    if (tag === 0x0a) key = bytes.toString('utf8');
    else value = bytes;
  }
  if (!s.atEnd()) return false;
  s.popLimit(limit);
  out.push([key, value]);
  return true;
}

function parseExampleBytes(serialized: Buffer): Entry[] | null {
  const s = new CodedInput(serialized);
  const entries: Entry[] = [];
  while (!s.atEnd()) {
    if (!s.expectTag(0x0a)) {
      if (!skipExtraneousTag(s)) return null;
      continue;
    }
    const length = s.readVarint32();
    if (length === null) return null;
    const limit = s.pushLimit(length);
    while (!s.atEnd()) {
      if (!s.expectTag(0x0a)) return null;
      if (!parseFeatureMapEntry(s, entries)) return null;
    }
    s.popLimit(limit);
  }
  return entries;
}

/** Number of floats in a FloatList and the first one, or null if it does not parse. */
function parseFloatList(feature: Buffer): { count: number; first: number } | null {
  const s = new CodedInput(feature);
  const length = s.readVarint32();
  if (length === null) return null;
  const limit = s.pushLimit(length);
  let count = 0;
  let first = 0;
  if (!s.atEnd()) {
    const tag = s.peekByte();
    if (tag === 0x0a) {
      s.expectTag(0x0a);
      const packedLength = s.readVarint32();
      if (packedLength === null) return null;
      const packedLimit = s.pushLimit(packedLength);
      count = Math.floor(packedLength / 4);
      if (count > 0) {
        const bytes = s.readBytes(4);
        if (bytes === null) return null;
        first = bytes.readFloatLE(0);
      }
      s.popLimit(packedLimit);
    } else if (tag === 0x0d) {
      count = Math.floor(s.remainingToLimit() / 5);
      let index = 0;
      while (!s.atEnd()) {
        if (!s.expectTag(0x0d)) return null;
        const bytes = s.readBytes(4);
        if (bytes === null) return null;
        if (index++ === 0) first = bytes.readFloatLE(0);
      }
    } else {
      return null;
    }
  }
  s.popLimit(limit);
  return { count, first };
}

/** One dense FixedLenFeature of shape [1] and type float, as the half_plus_* graphs declare them. */
export interface DenseFloatFeature {
  readonly name: string;
  /** null: required (no default value). */
  readonly defaultValue: number | null;
}

export type ParseOutcome = { readonly ok: true; readonly values: number[][] } | { readonly ok: false; readonly message: string };

const DTYPE_OF_ONEOF: Readonly<Record<number, string>> = { 0x0a: 'string', 0x12: 'float', 0x1a: 'int64' };

/**
 * FastParseExample over a batch of serialized Examples: for each configured dense feature, one
 * float per example. The last occurrence of a feature in an example wins; empty features count as
 * absent.
 */
export function parseExamples(serialized: readonly Buffer[], config: readonly DenseFloatFeature[]): ParseOutcome {
  const values = config.map(() => new Array<number>(serialized.length).fill(0));
  for (let index = 0; index < serialized.length; index++) {
    const bytes = serialized[index] as Buffer;
    const entries = parseExampleBytes(bytes);
    if (entries === null) return { ok: false, message: `Could not parse example input, value: '${bytes.toString('utf8')}'` };
    const seen = config.map(() => false);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [name, feature] = entries[i] as Entry;
      const d = config.findIndex((c) => c.name === name);
      if (d < 0) continue;
      const exampleError = (suffix: string): ParseOutcome => ({ ok: false, message: `Name: <unknown>, Key: ${name}, Index: ${index}.  ${suffix}` });
      if (feature.length === 0) continue;
      const dtype = DTYPE_OF_ONEOF[feature[0] as number];
      if (dtype === undefined) return { ok: false, message: 'Unsupported datatype.' };
      if (seen[d]) continue;
      seen[d] = true;
      if (dtype !== 'float') return exampleError(`Data types don't match. Data type: ${dtype} but expected type: float`);
      const list = parseFloatList(feature.subarray(1));
      if (list === null) return exampleError("Can't parse serialized Example.");
      if (list.count !== 1) return exampleError(`Number of float values != expected.  Values size: ${list.count} but output shape: [1]`);
      (values[d] as number[])[index] = list.first;
    }
    for (let d = 0; d < config.length; d++) {
      if (seen[d]) continue;
      const c = config[d] as DenseFloatFeature;
      if (c.defaultValue === null) {
        return { ok: false, message: `Name: <unknown>, Feature: ${c.name} (data type: float) is required but could not be found.` };
      }
      (values[d] as number[])[index] = c.defaultValue;
    }
  }
  return { ok: true, values };
}
