/**
 * The ModelSpec of a TF Serving request, read from the protobuf bytes without decoding the rest
 * of the message (a Predict can carry megabytes of tensors), and written back naming the version
 * the gateway chose, so the replica serves exactly what the gateway reports.
 *
 * Field numbers (tensorflow_serving/apis/model.proto): ModelSpec { name = 1 (string); version = 2
 * (google.protobuf.Int64Value { value = 1 }); signature_name = 3; version_label = 4 }, version and
 * version_label in one oneof. The ModelSpec is field 1 of Predict, Classification, Regression,
 * GetModelMetadata and GetModelStatus requests; a MultiInferenceRequest has `tasks = 1` (repeated
 * InferenceTask), each with its own `model_spec = 1`.
 *
 * Protobuf's rules hold: fields may come in any order; a message field seen twice is merged (as if
 * its bytes were concatenated); of a oneof, the last member seen wins; unknown fields are skipped.
 * The work is bounded by the message's size, with no recursion beyond the ModelSpec's own levels.
 */

export interface ModelSpec {
  readonly name: string;
  /** The version asked for, if `version` (not a label) was the last of the oneof set. */
  readonly version: number | undefined;
  readonly versionLabel: string | undefined;
  readonly signatureName: string | undefined;
}

export class MalformedMessageError extends Error {}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

/** A field's position in a buffer: where its value starts and ends (for bytes: the payload). */
interface Field {
  readonly number: number;
  readonly wire: number;
  /** Start of the whole field (its tag). */
  readonly start: number;
  readonly valueStart: number;
  readonly end: number;
}

/** Reads a varint at `pos`; values past 2^53 come back as NaN (no version or length is that big). */
function readVarint(buf: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new MalformedMessageError('truncated varint');
    const byte = buf[pos++] as number;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return [value > Number.MAX_SAFE_INTEGER ? Number.NaN : value, pos];
    scale *= 128;
  }
  throw new MalformedMessageError('varint longer than 10 bytes');
}

/** Every top-level field of a message, in order. */
function* fields(buf: Uint8Array, start = 0, end = buf.length): Generator<Field> {
  let pos = start;
  while (pos < end) {
    const fieldStart = pos;
    const [tag, afterTag] = readVarint(buf, pos);
    const number = Math.floor(tag / 8);
    const wire = tag % 8;
    if (!(number >= 1)) throw new MalformedMessageError('field number 0');
    pos = afterTag;
    let valueStart = pos;
    switch (wire) {
      case WIRE_VARINT:
        pos = readVarint(buf, pos)[1];
        break;
      case WIRE_FIXED64:
        pos += 8;
        break;
      case WIRE_FIXED32:
        pos += 4;
        break;
      case WIRE_BYTES: {
        const [length, afterLength] = readVarint(buf, pos);
        if (!Number.isFinite(length)) throw new MalformedMessageError('length out of range');
        valueStart = afterLength;
        pos = afterLength + length;
        break;
      }
      default:
        // Groups (3, 4) are long deprecated and TF's protos have none; 6 and 7 do not exist.
        throw new MalformedMessageError(`wire type ${wire}`);
    }
    if (pos > end) throw new MalformedMessageError('field runs past the end of its message');
    yield { number, wire, start: fieldStart, valueStart, end: pos };
  }
}

const decoder = new TextDecoder('utf-8', { fatal: false });

/** A ModelSpec from its (possibly several, merged) serialized parts. */
function parseModelSpec(buf: Uint8Array, parts: readonly Field[]): ModelSpec {
  let name = '';
  let version: number | undefined;
  let versionLabel: string | undefined;
  let signatureName: string | undefined;
  for (const part of parts) {
    for (const f of fields(buf, part.valueStart, part.end)) {
      if (f.number === 1 && f.wire === WIRE_BYTES) name = decoder.decode(buf.subarray(f.valueStart, f.end));
      else if (f.number === 3 && f.wire === WIRE_BYTES) signatureName = decoder.decode(buf.subarray(f.valueStart, f.end));
      else if (f.number === 4 && f.wire === WIRE_BYTES) {
        versionLabel = decoder.decode(buf.subarray(f.valueStart, f.end));
        version = undefined;
      } else if (f.number === 2 && f.wire === WIRE_BYTES) {
        // Int64Value: merged into the one set before; an empty one is the value 0.
        let value = version ?? 0;
        for (const g of fields(buf, f.valueStart, f.end)) {
          if (g.number === 1 && g.wire === WIRE_VARINT) value = readVarint(buf, g.valueStart)[0];
        }
        if (Number.isNaN(value)) throw new MalformedMessageError('version out of range');
        version = value;
        versionLabel = undefined;
      }
    }
  }
  return { name, version, versionLabel, signatureName };
}

/** Where a request's ModelSpec(s) sit: field 1, or each task's field 1 for MultiInference. */
export interface SpecLocation {
  /** The spec the request is routed by (TF Serving uses the first task's). */
  readonly spec: ModelSpec | undefined;
  /** MultiInference: every task's model name, for TF's same-model check. */
  readonly taskModels: readonly string[];
}

export function readModelSpec(message: Uint8Array, multiInference: boolean): SpecLocation {
  if (!multiInference) {
    const parts = [...fields(message)].filter((f) => f.number === 1 && f.wire === WIRE_BYTES);
    return { spec: parts.length === 0 ? undefined : parseModelSpec(message, parts), taskModels: [] };
  }
  const specs: ModelSpec[] = [];
  for (const task of fields(message)) {
    if (task.number !== 1 || task.wire !== WIRE_BYTES) continue;
    const parts = [...fields(message, task.valueStart, task.end)].filter((f) => f.number === 1 && f.wire === WIRE_BYTES);
    specs.push(parts.length === 0 ? { name: '', version: undefined, versionLabel: undefined, signatureName: undefined } : parseModelSpec(message, parts));
  }
  return { spec: specs[0], taskModels: specs.map((s) => s.name) };
}

function varintBytes(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** Field `number` as a length-delimited field holding `payload`. */
function bytesField(number: number, payload: Uint8Array): Buffer {
  const head = [...varintBytes(number * 8 + WIRE_BYTES), ...varintBytes(payload.length)];
  return Buffer.concat([Buffer.from(head), payload]);
}

const encoder = new TextEncoder();

/** A ModelSpec naming `version` (no label), with the request's name and signature. */
function encodeModelSpec(spec: ModelSpec, version: number): Buffer {
  const parts = [bytesField(1, encoder.encode(spec.name))];
  parts.push(bytesField(2, Buffer.from([0x08, ...varintBytes(version)])));
  if (spec.signatureName !== undefined) parts.push(bytesField(3, encoder.encode(spec.signatureName)));
  return Buffer.concat(parts);
}

/** `message` with its field-1 occurrences replaced by `replacement` (one field, placed first). */
function replaceField1(message: Uint8Array, start: number, end: number, replacement: Buffer): Buffer {
  const kept: Uint8Array[] = [replacement];
  for (const f of fields(message, start, end)) {
    if (f.number === 1 && f.wire === WIRE_BYTES) continue;
    kept.push(message.subarray(f.start, f.end));
  }
  return Buffer.concat(kept);
}

/**
 * The request with every ModelSpec naming `version` (labels dropped). For MultiInference each
 * task's spec is rewritten (TF requires them to name one model).
 */
export function withVersion(message: Uint8Array, multiInference: boolean, version: number): Buffer {
  if (!multiInference) {
    const { spec } = readModelSpec(message, false);
    if (spec === undefined) return Buffer.from(message);
    return replaceField1(message, 0, message.length, bytesField(1, encodeModelSpec(spec, version)));
  }
  const out: Uint8Array[] = [];
  for (const f of fields(message)) {
    if (f.number !== 1 || f.wire !== WIRE_BYTES) {
      out.push(message.subarray(f.start, f.end));
      continue;
    }
    const parts = [...fields(message, f.valueStart, f.end)].filter((g) => g.number === 1 && g.wire === WIRE_BYTES);
    const spec = parts.length === 0 ? undefined : parseModelSpec(message, parts);
    const task = spec === undefined ? message.subarray(f.valueStart, f.end) : replaceField1(message, f.valueStart, f.end, bytesField(1, encodeModelSpec(spec, version)));
    out.push(bytesField(1, task));
  }
  return Buffer.concat(out);
}
