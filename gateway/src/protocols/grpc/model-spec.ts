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

import { MESSAGE_PREFIX_BYTES } from '../../tfserving/grpc-wire.js';

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
  number: number;
  wire: number;
  /** Start of the whole field (its tag). */
  start: number;
  valueStart: number;
  end: number;
}

const newField = (): Field => ({ number: 0, wire: 0, start: 0, valueStart: 0, end: 0 });

/** Where the varint readVarint read last ended: no array per varint on the call path. */
let varintEnd = 0;

/** Reads a varint at `pos` (its end in `varintEnd`); values past 2^53 come back as NaN (no version or length is that big). */
function readVarint(buf: Uint8Array, pos: number): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new MalformedMessageError('truncated varint');
    const byte = buf[pos++] as number;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) {
      varintEnd = pos;
      return value > Number.MAX_SAFE_INTEGER ? Number.NaN : value;
    }
    scale *= 128;
  }
  throw new MalformedMessageError('varint longer than 10 bytes');
}

/** Reads the field starting at `pos` (before `end`) into `f`. */
function readField(buf: Uint8Array, pos: number, end: number, f: Field): void {
  f.start = pos;
  const tag = readVarint(buf, pos);
  f.number = Math.floor(tag / 8);
  f.wire = tag % 8;
  if (!(f.number >= 1)) throw new MalformedMessageError('field number 0');
  pos = varintEnd;
  f.valueStart = pos;
  switch (f.wire) {
    case WIRE_VARINT:
      readVarint(buf, pos);
      pos = varintEnd;
      break;
    case WIRE_FIXED64:
      pos += 8;
      break;
    case WIRE_FIXED32:
      pos += 4;
      break;
    case WIRE_BYTES: {
      const length = readVarint(buf, pos);
      if (!Number.isFinite(length)) throw new MalformedMessageError('length out of range');
      f.valueStart = varintEnd;
      pos = varintEnd + length;
      break;
    }
    default:
      // Groups (3, 4) are long deprecated and TF's protos have none; 6 and 7 do not exist.
      throw new MalformedMessageError(`wire type ${f.wire}`);
  }
  if (pos > end) throw new MalformedMessageError('field runs past the end of its message');
  f.end = pos;
}

/** The length-delimited occurrences of field 1 between `start` and `end` (a ModelSpec's parts, or MultiInference's tasks). */
function field1s(buf: Uint8Array, start: number, end: number): Field[] {
  const found: Field[] = [];
  const f = newField();
  for (let pos = start; pos < end; pos = f.end) {
    readField(buf, pos, end, f);
    if (f.number === 1 && f.wire === WIRE_BYTES) found.push({ ...f });
  }
  return found;
}

/** A string field's value (no view of the bytes made for it: a call's parse allocates only what it keeps). */
const text = (buf: Buffer, f: Field): string => buf.toString('utf8', f.valueStart, f.end);

/** A ModelSpec from its (possibly several, merged) serialized parts. */
function parseModelSpec(buf: Buffer, parts: readonly Field[]): ModelSpec {
  let name = '';
  let version: number | undefined;
  let versionLabel: string | undefined;
  let signatureName: string | undefined;
  const f = newField();
  const g = newField();
  for (const part of parts) {
    for (let pos = part.valueStart; pos < part.end; pos = f.end) {
      readField(buf, pos, part.end, f);
      if (f.number === 1 && f.wire === WIRE_BYTES) name = text(buf, f);
      else if (f.number === 3 && f.wire === WIRE_BYTES) signatureName = text(buf, f);
      else if (f.number === 4 && f.wire === WIRE_BYTES) {
        versionLabel = text(buf, f);
        version = undefined;
      } else if (f.number === 2 && f.wire === WIRE_BYTES) {
        // Int64Value: merged into the one set before; an empty one is the value 0.
        let value = version ?? 0;
        for (let at = f.valueStart; at < f.end; at = g.end) {
          readField(buf, at, f.end, g);
          if (g.number === 1 && g.wire === WIRE_VARINT) value = readVarint(buf, g.valueStart);
        }
        if (Number.isNaN(value)) throw new MalformedMessageError('version out of range');
        version = value;
        versionLabel = undefined;
      }
    }
  }
  return { name, version, versionLabel, signatureName };
}

const NO_SPEC: ModelSpec = { name: '', version: undefined, versionLabel: undefined, signatureName: undefined };
const NO_TASKS: readonly string[] = Object.freeze([]);

/**
 * A request message (the bytes of `message` from `start` to its end) read once: its ModelSpec, and
 * the message written again naming a version, from what the read found (not parsed a second time).
 */
export class RequestSpec {
  /** The spec the request is routed by (MultiInference: the first task's, as TF Serving does). */
  readonly spec: ModelSpec | undefined;
  /** MultiInference: every task's model name, for TF's same-model check. */
  readonly taskModels: readonly string[];
  readonly #message: Buffer;
  readonly #start: number;
  readonly #multiInference: boolean;
  /** Not MultiInference: the field-1 parts the spec was merged from. */
  readonly #parts: readonly Field[];

  constructor(message: Buffer, multiInference: boolean, start = 0) {
    this.#message = message;
    this.#start = start;
    this.#multiInference = multiInference;
    if (!multiInference) {
      this.#parts = field1s(message, start, message.length);
      this.spec = this.#parts.length === 0 ? undefined : parseModelSpec(message, this.#parts);
      this.taskModels = NO_TASKS;
      return;
    }
    this.#parts = [];
    const specs = field1s(message, start, message.length).map((task) => specIn(message, task.valueStart, task.end)?.spec ?? NO_SPEC);
    this.spec = specs[0];
    this.taskModels = specs.map((s) => s.name);
  }

  /** The message naming `version` (labels dropped); for MultiInference, every task's spec. */
  withVersion(version: number): Buffer {
    return this.#write(version, 0);
  }

  /** The same, framed as one uncompressed gRPC message: written into one buffer, prefix first. */
  framedWithVersion(version: number): Buffer {
    const out = this.#write(version, MESSAGE_PREFIX_BYTES);
    out[0] = 0;
    out.writeUInt32BE(out.length - MESSAGE_PREFIX_BYTES, 1);
    return out;
  }

  /** The rewritten message at `offset` of a buffer of its own (the bytes before `offset` left for the caller). */
  #write(version: number, offset: number): Buffer {
    const message = this.#message;
    const end = message.length;
    if (this.#multiInference) {
      const body = multiWithVersion(message, this.#start, end, version);
      if (offset === 0) return body;
      const out = Buffer.allocUnsafe(offset + body.length);
      body.copy(out, offset);
      return out;
    }
    if (this.spec === undefined) {
      const out = Buffer.allocUnsafe(offset + end - this.#start);
      message.copy(out, offset, this.#start, end);
      return out;
    }
    return rewritten(message, this.#start, end, this.spec, this.#parts, version, offset);
  }
}

/** The ModelSpec made of the field-1 parts between `start` and `end` (undefined: none). */
function specIn(message: Buffer, start: number, end: number): { spec: ModelSpec; parts: Field[] } | undefined {
  const parts = field1s(message, start, end);
  return parts.length === 0 ? undefined : { spec: parseModelSpec(message, parts), parts };
}

function varintLength(value: number): number {
  let length = 1;
  for (let v = value; v >= 0x80; v = Math.floor(v / 128)) length++;
  return length;
}

function writeVarint(out: Buffer, pos: number, value: number): number {
  let v = value;
  while (v >= 0x80) {
    out[pos++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  out[pos++] = v;
  return pos;
}

/** Length of a length-delimited field whose payload is `payload` bytes long. */
const bytesFieldLength = (number: number, payload: number): number => varintLength(number * 8 + WIRE_BYTES) + varintLength(payload) + payload;

function writeBytesHead(out: Buffer, pos: number, number: number, payload: number): number {
  return writeVarint(out, writeVarint(out, pos, number * 8 + WIRE_BYTES), payload);
}

/**
 * The message between `start` and `end` with its ModelSpec (the field-1 `parts`, merged into
 * `spec`) replaced by one naming `version` (no label; the name and signature kept), placed first;
 * every other field follows as it was, byte for byte. Written into one buffer, from `offset` on.
 */
function rewritten(message: Buffer, start: number, end: number, spec: ModelSpec, parts: readonly Field[], version: number, offset: number): Buffer {
  const nameBytes = Buffer.byteLength(spec.name);
  const signatureBytes = spec.signatureName === undefined ? 0 : Buffer.byteLength(spec.signatureName);
  const versionValue = 1 + varintLength(version); // Int64Value { value = 1 (varint) }
  const specLength =
    bytesFieldLength(1, nameBytes) + bytesFieldLength(2, versionValue) + (spec.signatureName === undefined ? 0 : bytesFieldLength(3, signatureBytes));
  let kept = end - start;
  for (const part of parts) kept -= part.end - part.start;
  const out = Buffer.allocUnsafe(offset + bytesFieldLength(1, specLength) + kept);
  let pos = writeBytesHead(out, offset, 1, specLength);
  pos = writeBytesHead(out, pos, 1, nameBytes);
  pos += out.write(spec.name, pos);
  pos = writeBytesHead(out, pos, 2, versionValue);
  out[pos++] = 0x08;
  pos = writeVarint(out, pos, version);
  if (spec.signatureName !== undefined) {
    pos = writeBytesHead(out, pos, 3, signatureBytes);
    pos += out.write(spec.signatureName, pos);
  }
  // The other fields: what lies between (and around) the spec's parts.
  let from = start;
  for (const part of parts) {
    out.set(message.subarray(from, part.start), pos);
    pos += part.start - from;
    from = part.end;
  }
  out.set(message.subarray(from, end), pos);
  return out;
}

/** A MultiInference request between `start` and `end` with each task's spec naming `version`. */
function multiWithVersion(message: Buffer, start: number, end: number, version: number): Buffer {
  const out: Uint8Array[] = [];
  const f = newField();
  for (let pos = start; pos < end; pos = f.end) {
    readField(message, pos, end, f);
    if (f.number !== 1 || f.wire !== WIRE_BYTES) {
      out.push(message.subarray(f.start, f.end));
      continue;
    }
    const found = specIn(message, f.valueStart, f.end);
    const task = found === undefined ? message.subarray(f.valueStart, f.end) : rewritten(message, f.valueStart, f.end, found.spec, found.parts, version, 0);
    const head = Buffer.allocUnsafe(bytesFieldLength(1, task.length) - task.length);
    writeBytesHead(head, 0, 1, task.length);
    out.push(head, task);
  }
  return Buffer.concat(out);
}
