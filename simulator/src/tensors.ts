/**
 * Request JSON -> input tensors and output tensors -> response JSON, following
 * tensorflow_serving/util/json_tensor.cc (FillPredictRequestFromJson, MakeJsonFromTensors,
 * MakeJsonFromClassificationResult, MakeJsonFromRegressionResult), including its error texts.
 */
import { isBase64Object, base64Unescape } from '../../gateway/src/tfserving/json-body.js';
import {
  JsonNumber,
  JsonObject,
  PrettyWriter,
  jsonTypeString,
  jsonValueToDebugString,
  type JsonValue,
} from '../../gateway/src/tfserving/rapidjson.js';

/** The dtypes the reference graphs declare and a JSON request can carry. */
export type DType = 'DT_FLOAT' | 'DT_STRING';

/**
 * Numeric dtypes a gRPC client can send in a TensorProto although no reference graph takes them:
 * they are read (shape, element count) and then refused by the graph's feed-type check.
 */
export type OtherDType =
  | 'DT_DOUBLE'
  | 'DT_INT32'
  | 'DT_UINT8'
  | 'DT_INT16'
  | 'DT_INT8'
  | 'DT_INT64'
  | 'DT_BOOL'
  | 'DT_BFLOAT16'
  | 'DT_UINT16'
  | 'DT_HALF'
  | 'DT_UINT32'
  | 'DT_UINT64';

/** A dtype a request can feed. */
export type FeedDType = DType | OtherDType;

export type Tensor =
  | { readonly dtype: 'DT_FLOAT'; readonly shape: readonly number[]; readonly values: readonly number[] }
  | { readonly dtype: 'DT_STRING'; readonly shape: readonly number[]; readonly values: readonly Buffer[] }
  | { readonly dtype: OtherDType; readonly shape: readonly number[]; readonly values: readonly number[] };

const TYPE_NAMES: Readonly<Record<FeedDType, string>> = {
  DT_FLOAT: 'float',
  DT_STRING: 'string',
  DT_DOUBLE: 'double',
  DT_INT32: 'int32',
  DT_UINT8: 'uint8',
  DT_INT16: 'int16',
  DT_INT8: 'int8',
  DT_INT64: 'int64',
  DT_BOOL: 'bool',
  DT_BFLOAT16: 'bfloat16',
  DT_UINT16: 'uint16',
  DT_HALF: 'half',
  DT_UINT32: 'uint32',
  DT_UINT64: 'uint64',
};

/** tensorflow::DataTypeString. */
export function dataTypeString(dtype: FeedDType): string {
  return TYPE_NAMES[dtype];
}

/** TensorShape::DebugString / json_tensor.cc ShapeToString: "[2,1]". */
export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

export function numElements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Float formatting (json_tensor.cc WriteDecimal<float>)

const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);

/** The exact decimal expansion of a finite positive double: significant digits and the power of ten of the first one. */
function exactDecimal(v: number): { digits: string; exp10: number } {
  F64[0] = v;
  const lo = U32[0] as number;
  const hi = U32[1] as number;
  const biased = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e2: number;
  if (biased === 0) {
    e2 = -1074;
  } else {
    mantissa |= 1n << 52n;
    e2 = biased - 1075;
  }
  let digits: string;
  let scale: number;
  if (e2 >= 0) {
    digits = (mantissa << BigInt(e2)).toString();
    scale = 0;
  } else {
    digits = (mantissa * 5n ** BigInt(-e2)).toString();
    scale = -e2;
  }
  const exp10 = digits.length - 1 - scale;
  return { digits: digits.replace(/0+$/, ''), exp10 };
}

/**
 * `v.toExponential(fractionDigits)` with printf's rounding: JS breaks exact ties away from zero,
 * glibc rounds the exact binary value half-to-even (e.g. 2^-10 to six digits is 9.76562e-04).
 */
function toExponentialEven(v: number, fractionDigits: number): string {
  const s = v.toExponential(fractionDigits);
  const longer = v.toExponential(fractionDigits + 1);
  const e = longer.indexOf('e');
  if (longer.charCodeAt(e - 1) !== 0x35) return s;
  const exact = exactDecimal(v);
  if (exact.digits.length !== fractionDigits + 2 || !exact.digits.endsWith('5')) return s;
  const kept = exact.digits.slice(0, fractionDigits + 1);
  if ((kept.charCodeAt(kept.length - 1) - 0x30) % 2 === 1) return s;
  const mantissa = fractionDigits === 0 ? kept : `${kept.charAt(0)}.${kept.slice(1)}`;
  return `${mantissa}e${exact.exp10 >= 0 ? '+' : '-'}${Math.abs(exact.exp10)}`;
}

/** printf("%.{precision}g"), as absl::StrCat/StrFormat produce it (two-digit exponents). */
export function formatG(value: number, precision: number): string {
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  const negative = value < 0;
  const s = toExponentialEven(negative ? -value : value, precision - 1);
  const e = s.indexOf('e');
  const digits = s.slice(0, e).replace('.', '');
  const x = Number(s.slice(e + 1));
  let out: string;
  if (x < -4 || x >= precision) {
    const frac = digits.slice(1).replace(/0+$/, '');
    const mag = Math.abs(x);
    out = `${digits.charAt(0)}${frac === '' ? '' : '.' + frac}e${x < 0 ? '-' : '+'}${mag < 10 ? '0' : ''}${mag}`;
  } else {
    let intPart: string;
    let frac: string;
    if (x >= 0) {
      intPart = digits.slice(0, x + 1);
      frac = digits.slice(x + 1);
    } else {
      intPart = '0';
      frac = '0'.repeat(-x - 1) + digits;
    }
    frac = frac.replace(/0+$/, '');
    out = frac === '' ? intPart : `${intPart}.${frac}`;
  }
  return negative ? '-' + out : out;
}

/**
 * WriteDecimal<float>: six significant digits when they read back as the same float, nine
 * otherwise, ".0" appended to whole numbers, NaN/Infinity/-Infinity as bare tokens.
 */
export function formatFloat(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value < 0 ? '-Infinity' : 'Infinity';
  let s = formatG(value, 6);
  if (Math.fround(Number(s)) !== value) s = formatG(value, 9);
  if (s.indexOf('.') < 0 && s.indexOf('e') < 0) s += '.0';
  return s;
}

// ---------------------------------------------------------------------------------------------
// JSON -> tensors

export interface TensorSpec {
  readonly name: string;
  readonly dtype: DType;
}

interface TensorBuilder {
  dtype: DType;
  shape: number[];
  readonly floats: number[];
  readonly strings: Buffer[];
}

export type TensorsOutcome = { readonly ok: true; readonly tensors: Map<string, Tensor> } | { readonly ok: false; readonly message: string };

function newBuilder(dtype: DType): TensorBuilder {
  return { dtype, shape: [], floats: [], strings: [] };
}

function denseShape(val: JsonValue): number[] {
  const shape: number[] = [];
  let v = val;
  while (Array.isArray(v)) {
    shape.push(v.length);
    if (v.length === 0) break;
    v = v[0] as JsonValue;
  }
  return shape;
}

function typeError(val: JsonValue, dtype: DType): string {
  return `JSON Value: ${jsonValueToDebugString(val)} Type: ${jsonTypeString(val)} is not of expected type: ${dataTypeString(dtype)}`;
}

/** FillTensorProto: values must sit exactly at the depth the first elements announced. */
function fillTensor(val: JsonValue, level: number, t: TensorBuilder, count: { n: number }): string | null {
  const rank = t.shape.length;
  if (!Array.isArray(val)) {
    if (level !== rank) {
      return `JSON Value: ${jsonValueToDebugString(val)} found at incorrect level: ${level + 1} in the JSON DOM. Expected at level: ${rank}`;
    }
    if (val instanceof JsonObject) {
      if (t.dtype !== 'DT_STRING') return typeError(val, t.dtype);
      if (!isBase64Object(val)) return `JSON Value: ${jsonValueToDebugString(val)} not formatted correctly for base64 data`;
      const decoded = base64Unescape(val.get('b64') as string);
      if (decoded === null) return 'Unable to base64 decode';
      t.strings.push(decoded);
    } else if (t.dtype === 'DT_FLOAT') {
      if (!(val instanceof JsonNumber)) return typeError(val, t.dtype);
      t.floats.push(val.getFloat());
    } else {
      if (typeof val !== 'string') return typeError(val, t.dtype);
      t.strings.push(Buffer.from(val, 'utf8'));
    }
    count.n++;
    return null;
  }
  if (level >= rank) return `Encountered list at unexpected level: ${level} expected < ${rank}`;
  const expected = t.shape[level] as number;
  if (val.length !== expected) {
    return `Encountered list at unexpected size: ${val.length} at level: ${level} expected size: ${expected}`;
  }
  for (const v of val) {
    const error = fillTensor(v, level + 1, t, count);
    if (error !== null) return error;
  }
  return null;
}

function finish(t: TensorBuilder): Tensor {
  return t.dtype === 'DT_FLOAT' ? { dtype: 'DT_FLOAT', shape: t.shape, values: t.floats } : { dtype: 'DT_STRING', shape: t.shape, values: t.strings };
}

const isElementObject = (v: JsonValue | undefined): boolean => v instanceof JsonObject && !isBase64Object(v);

/** FillTensorMapFromInstancesList: row format, every element adds one batch row. */
export function tensorsFromInstances(instances: JsonValue[], inputs: readonly TensorSpec[]): TensorsOutcome {
  const first = instances[0] as JsonValue;
  if (!(first instanceof JsonObject) && inputs.length > 1) {
    return fail('instances is a plain list, but expecting list of objects as multiple input tensors required as per tensorinfo_map');
  }
  const elementsAreObjects = isElementObject(first);
  const byName = new Map(inputs.map((s) => [s.name, s]));
  const inputNames = [...byName.keys()].sort(compareBytes);
  const builders = new Map<string, TensorBuilder>();
  const sizes = new Map<string, number>();
  const shapes = new Map<string, number[]>();

  const addItem = (item: JsonValue, name: string): string | null => {
    const spec = byName.get(name);
    if (spec === undefined) return `JSON object: does not have named input: ${name}`;
    let t = builders.get(name);
    if (t === undefined) {
      t = newBuilder(spec.dtype);
      builders.set(name, t);
    }
    t.shape = denseShape(item);
    const count = { n: 0 };
    const error = fillTensor(item, 0, t, count);
    if (error !== null) return error;
    const size = sizes.get(name);
    if (size === undefined) {
      sizes.set(name, count.n);
      shapes.set(name, t.shape);
    } else if (size !== count.n) {
      return `Expecting tensor size: ${size} but got: ${count.n}`;
    } else if (shapeString(shapes.get(name) as number[]) !== shapeString(t.shape)) {
      return `Expecting shape ${shapeString(shapes.get(name) as number[])} but got: ${shapeString(t.shape)}`;
    }
    return null;
  };

  for (let index = 0; index < instances.length; index++) {
    const elem = instances[index] as JsonValue;
    if (elementsAreObjects) {
      if (!isElementObject(elem)) return fail(`Expecting object but got list at item ${index} of input list`);
      const obj = elem as JsonObject;
      const keys = new Set<string>();
      for (let i = 0; i < obj.names.length; i++) {
        const name = obj.names[i] as string;
        keys.add(name);
        const error = addItem(obj.values[i] as JsonValue, name);
        if (error !== null) {
          return fail(`Failed to process element: ${index} key: ${name} of 'instances' list. Error: INVALID_ARGUMENT: ${error}`);
        }
      }
      if (keys.size !== inputNames.length || inputNames.some((n) => !keys.has(n))) {
        return fail(
          `Failed to process element: ${index} of 'instances' list. JSON object: ${jsonValueToDebugString(elem)} keys must be equal to: ${inputNames.join(',')}`,
        );
      }
    } else {
      if (isElementObject(elem)) return fail(`Expecting value/list but got object at item ${index} of input list`);
      const error = addItem(elem, (inputs[0] as TensorSpec).name);
      if (error !== null) return fail(`Failed to process element: ${index} of 'instances' list. Error: INVALID_ARGUMENT: ${error}`);
    }
  }
  const tensors = new Map<string, Tensor>();
  for (const [name, t] of builders) {
    t.shape = [instances.length, ...(shapes.get(name) as number[])];
    tensors.set(name, finish(t));
  }
  return { ok: true, tensors };
}

/** FillTensorMapFromInputsMap: columnar format, one value (or an object of named values). */
export function tensorsFromInputs(val: JsonValue, inputs: readonly TensorSpec[]): TensorsOutcome {
  const tensors = new Map<string, Tensor>();
  if (!(val instanceof JsonObject) || isBase64Object(val)) {
    if (inputs.length > 1) {
      return fail('inputs is a plain value/list, but expecting an object as multiple input tensors required as per tensorinfo_map');
    }
    const spec = inputs[0] as TensorSpec;
    const t = newBuilder(spec.dtype);
    t.shape = denseShape(val);
    const error = fillTensor(val, 0, t, { n: 0 });
    if (error !== null) return fail(error);
    tensors.set(spec.name, finish(t));
    return { ok: true, tensors };
  }
  for (const spec of inputs) {
    const item = val.get(spec.name);
    if (item === undefined) return fail(`Missing named input: ${spec.name} in 'inputs' object.`);
    const t = newBuilder(spec.dtype);
    t.shape = denseShape(item);
    const error = fillTensor(item, 0, t, { n: 0 });
    if (error !== null) return fail(error);
    tensors.set(spec.name, finish(t));
  }
  return { ok: true, tensors };
}

function fail(message: string): { ok: false; message: string } {
  return { ok: false, message };
}

/** std::set<std::string> order: bytewise. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

// ---------------------------------------------------------------------------------------------
// Tensors -> JSON

export interface NamedTensor {
  readonly name: string;
  readonly tensor: Tensor;
}

export type JsonOutcome = { readonly ok: true; readonly json: string } | { readonly ok: false; readonly message: string };

function writeScalar(w: PrettyWriter, name: string, t: Tensor, offset: number): void {
  if (t.dtype === 'DT_FLOAT') {
    w.raw(formatFloat(t.values[offset] as number));
    return;
  }
  const bytes = t.values[offset] as Buffer;
  // Tensors named *_bytes carry binary data and are written as {"b64": ...}.
  if (name.endsWith('_bytes')) {
    w.startObject();
    w.key('b64');
    w.string(bytes.toString('base64'));
    w.endObject();
  } else {
    w.string(bytes.toString('utf8'));
  }
}

/** AddTensorValues: nested arrays from dimension `dim` on, values taken in row-major order. */
function writeTensorValues(w: PrettyWriter, name: string, t: Tensor, dim: number, offset: { i: number }): void {
  const rank = t.shape.length;
  if (dim > rank - 1) {
    writeScalar(w, name, t, offset.i++);
    return;
  }
  w.startArray();
  const size = t.shape[dim] as number;
  for (let i = 0; i < size; i++) {
    if (dim === rank - 1) writeScalar(w, name, t, offset.i++);
    else writeTensorValues(w, name, t, dim + 1, offset);
  }
  w.endArray();
}

/** MakeRowFormatJsonFromTensors: {"predictions": [...]}, one entry per batch row. */
export function rowFormatJson(outputs: readonly NamedTensor[]): JsonOutcome {
  if (outputs.length === 0) return fail('Cannot convert empty tensor map to JSON');
  let batch = -1;
  for (const { name, tensor } of outputs) {
    if (tensor.shape.length === 0) return fail(`Tensor name: ${name} has no shape information `);
    const size = tensor.shape[0] as number;
    if (batch >= 0 && batch !== size) return fail(`Tensor name: ${name} has inconsistent batch size: ${size} expecting: ${batch}`);
    batch = size;
  }
  const w = new PrettyWriter();
  w.startObject();
  w.key('predictions');
  w.startArray();
  const objects = outputs.length > 1;
  const offsets = outputs.map(() => ({ i: 0 }));
  for (let item = 0; item < batch; item++) {
    if (objects) w.startObject();
    w.singleLineArrays = true;
    outputs.forEach(({ name, tensor }, k) => {
      if (objects) w.key(name);
      writeTensorValues(w, name, tensor, 1, offsets[k] as { i: number });
    });
    w.singleLineArrays = false;
    if (objects) w.endObject();
  }
  w.endArray();
  w.endObject();
  return { ok: true, json: w.toString() };
}

/** MakeColumnarFormatJsonFromTensors: {"outputs": tensor} or {"outputs": {name: tensor}}. */
export function columnarFormatJson(outputs: readonly NamedTensor[]): JsonOutcome {
  if (outputs.length === 0) return fail('Cannot convert empty tensor map to JSON');
  const w = new PrettyWriter();
  w.startObject();
  w.key('outputs');
  const objects = outputs.length > 1;
  if (objects) w.startObject();
  for (const { name, tensor } of outputs) {
    if (objects) w.key(name);
    writeTensorValues(w, name, tensor, 0, { i: 0 });
  }
  if (objects) w.endObject();
  w.endObject();
  return { ok: true, json: w.toString() };
}

/** MakeJsonFromRegressionResult. */
export function regressionJson(values: readonly number[]): JsonOutcome {
  if (values.length === 0) return fail('Cannot convert empty RegressionResults to JSON');
  const w = new PrettyWriter();
  w.startObject();
  w.key('results');
  w.singleLineArrays = true;
  w.startArray();
  for (const v of values) w.raw(formatFloat(v));
  w.endArray();
  w.endObject();
  return { ok: true, json: w.toString() };
}

/** MakeJsonFromClassificationResult: per example, a list of [label, score] pairs. */
export function classificationJson(results: ReadonlyArray<ReadonlyArray<readonly [string, number]>>): JsonOutcome {
  if (results.length === 0) return fail('Cannot convert empty ClassificationResults to JSON');
  const w = new PrettyWriter();
  w.startObject();
  w.key('results');
  w.startArray();
  for (const classes of results) {
    w.singleLineArrays = true;
    w.startArray();
    for (const [label, score] of classes) {
      w.startArray();
      w.string(label);
      w.raw(formatFloat(score));
      w.endArray();
    }
    w.endArray();
    w.singleLineArrays = false;
  }
  w.endArray();
  w.endObject();
  return { ok: true, json: w.toString() };
}
