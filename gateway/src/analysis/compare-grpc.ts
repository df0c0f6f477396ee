/**
 * The same comparison as compare.ts for gRPC answers: the response message (PredictResponse,
 * ClassificationResponse, RegressionResponse) decoded with protobufjs from the .proto files, each
 * TensorProto read as its shape and values (the typed `*_val` fields or `tensor_content`, little
 * endian as TF writes it). Predict: the same outputs, each of the same dtype and shape, values
 * within the tolerance; classify: per example the same top label and each label's score;
 * regress: each value.
 */
import { messageCodec, type ClassificationResponseMessage, type PredictResponseMessage, type RegressionResponseMessage, type TensorProtoMessage } from '../tfserving/protos.js';
import type { ShadowTolerance } from '../policy/schema.js';
import { Tally, type CompareOutcome, type ComparedOperation } from './compare.js';

const codecs = {
  predict: () => messageCodec<PredictResponseMessage>('tensorflow.serving.PredictResponse'),
  classify: () => messageCodec<ClassificationResponseMessage>('tensorflow.serving.ClassificationResponse'),
  regress: () => messageCodec<RegressionResponseMessage>('tensorflow.serving.RegressionResponse'),
} as const;

type Decoded = PredictResponseMessage | ClassificationResponseMessage | RegressionResponseMessage;

/** The message of a framed unary answer (gRPC's 5-byte prefix); null when compressed or cut short. */
function unframe(body: Buffer): Buffer | null {
  if (body.length < 5 || body[0] !== 0) return null;
  const length = body.readUInt32BE(1);
  return body.length < 5 + length ? null : body.subarray(5, 5 + length);
}

function decode(operation: ComparedOperation, body: Buffer): Decoded | null {
  const message = unframe(body);
  if (message === null) return null;
  try {
    return codecs[operation]().decode(message);
  } catch {
    return null;
  }
}

export function compareGrpcAnswers(operation: ComparedOperation, live: Buffer, shadow: Buffer, tolerance: ShadowTolerance): CompareOutcome {
  const a = decode(operation, live);
  if (a === null) return { comparable: false, reason: 'the live answer is not a message the gateway can read' };
  const tally = new Tally(tolerance);
  const b = decode(operation, shadow);
  if (b === null) return tally.result(tally.differ('', 'the shadow answer is not a message'));
  if (operation === 'predict') return tally.result(comparePredict(a as PredictResponseMessage, b as PredictResponseMessage, tally));
  if (operation === 'classify') return tally.result(compareClassify(a as ClassificationResponseMessage, b as ClassificationResponseMessage, tally));
  return tally.result(compareRegress(a as RegressionResponseMessage, b as RegressionResponseMessage, tally));
}

/** A decoded answer as text, for a disagreement shown side by side (bytes as base64). */
export function grpcAnswerText(operation: ComparedOperation, body: Buffer): string {
  const decoded = decode(operation, body);
  if (decoded === null) return `<${body.length} bytes that are no ${operation} response>`;
  return JSON.stringify(decoded, (_key, value: unknown) => {
    if (value !== null && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer') {
      return Buffer.from((value as { data: number[] }).data).toString('base64');
    }
    return value;
  });
}

function comparePredict(live: PredictResponseMessage, shadow: PredictResponseMessage, tally: Tally): boolean {
  const a = live.outputs ?? {};
  const b = shadow.outputs ?? {};
  const names = Object.keys(a);
  if (names.length !== Object.keys(b).length) return tally.differ('/outputs', `live ${names.length} outputs, shadow ${Object.keys(b).length}`);
  let agree = true;
  for (const name of names) {
    const other = b[name];
    if (other === undefined) return tally.differ('/outputs', `the shadow has no output ${JSON.stringify(name)}`);
    if (!compareTensors(a[name] as TensorProtoMessage, other, `/outputs/${name}`, tally)) agree = false;
  }
  return agree;
}

function compareTensors(live: TensorProtoMessage, shadow: TensorProtoMessage, path: string, tally: Tally): boolean {
  if ((live.dtype ?? 0) !== (shadow.dtype ?? 0)) return tally.differ(path, `dtype: live ${live.dtype ?? 0}, shadow ${shadow.dtype ?? 0}`);
  const shapeA = (live.tensor_shape?.dim ?? []).map((d) => d.size ?? '0').join(',');
  const shapeB = (shadow.tensor_shape?.dim ?? []).map((d) => d.size ?? '0').join(',');
  if (shapeA !== shapeB) return tally.differ(path, `shapes differ: live [${shapeA}], shadow [${shapeB}]`);
  const a = tensorValues(live);
  const b = tensorValues(shadow);
  if (a === null || b === null) return tally.differ(path, 'values of a dtype the gateway cannot read');
  if (a.length !== b.length) return tally.differ(path, `live ${a.length} values, shadow ${b.length}`);
  let agree = true;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (typeof x === 'number' && typeof y === 'number') {
      if (!tally.numbers(`${path}/${i}`, x, y)) agree = false;
    } else if (x !== y) {
      agree = tally.differ(`${path}/${i}`, 'the strings differ');
    }
  }
  return agree;
}

/** DataType numbers (tensorflow/core/framework/types.proto) and the bytes of one element in tensor_content. */
const CONTENT: ReadonlyMap<number, { bytes: number; read: (b: Buffer, at: number) => number }> = new Map([
  [1, { bytes: 4, read: (b: Buffer, at: number) => b.readFloatLE(at) }],
  [2, { bytes: 8, read: (b: Buffer, at: number) => b.readDoubleLE(at) }],
  [3, { bytes: 4, read: (b: Buffer, at: number) => b.readInt32LE(at) }],
  [4, { bytes: 1, read: (b: Buffer, at: number) => b.readUInt8(at) }],
  [5, { bytes: 2, read: (b: Buffer, at: number) => b.readInt16LE(at) }],
  [6, { bytes: 1, read: (b: Buffer, at: number) => b.readInt8(at) }],
  [9, { bytes: 8, read: (b: Buffer, at: number) => Number(b.readBigInt64LE(at)) }],
  [10, { bytes: 1, read: (b: Buffer, at: number) => b.readUInt8(at) }],
  [17, { bytes: 2, read: (b: Buffer, at: number) => b.readUInt16LE(at) }],
  [22, { bytes: 4, read: (b: Buffer, at: number) => b.readUInt32LE(at) }],
  [23, { bytes: 8, read: (b: Buffer, at: number) => Number(b.readBigUInt64LE(at)) }],
]);

/** A tensor's values, numbers or (DT_STRING) base64 texts; null for tensor_content of a dtype not read here. */
function tensorValues(t: TensorProtoMessage): Array<number | string> | null {
  const content = t.tensor_content;
  if (content !== undefined && content.length > 0) {
    const layout = CONTENT.get(t.dtype ?? 0);
    if (layout === undefined || content.length % layout.bytes !== 0) return null;
    const out: number[] = [];
    for (let at = 0; at < content.length; at += layout.bytes) out.push(layout.read(content, at));
    return out;
  }
  if (t.string_val !== undefined) return t.string_val.map((s) => Buffer.from(s).toString('base64'));
  if (t.int64_val !== undefined) return t.int64_val.map(Number);
  if (t.uint64_val !== undefined) return t.uint64_val.map(Number);
  if (t.bool_val !== undefined) return t.bool_val.map((v) => (v ? 1 : 0));
  return t.float_val ?? t.double_val ?? t.int_val ?? t.half_val ?? t.uint32_val ?? [];
}

function compareClassify(live: ClassificationResponseMessage, shadow: ClassificationResponseMessage, tally: Tally): boolean {
  const a = live.result?.classifications ?? [];
  const b = shadow.result?.classifications ?? [];
  if (a.length !== b.length) return tally.differ('/result', `live ${a.length} examples, shadow ${b.length}`);
  let agree = true;
  for (let i = 0; i < a.length; i++) {
    const path = `/result/${i}`;
    const x = a[i]?.classes ?? [];
    const y = b[i]?.classes ?? [];
    if (x.length !== y.length) {
      agree = tally.differ(path, `live ${x.length} classes, shadow ${y.length}`);
      continue;
    }
    const top = (classes: ReadonlyArray<{ label?: string; score?: number }>): string =>
      classes.reduce<{ label: string; score: number }>((best, c) => ((c.score ?? 0) > best.score ? { label: c.label ?? '', score: c.score ?? 0 } : best), { label: '', score: -Infinity }).label;
    if (top(x) !== top(y)) agree = tally.differ(path, `top label: live ${JSON.stringify(top(x))}, shadow ${JSON.stringify(top(y))}`);
    const scores = new Map(y.map((c) => [c.label ?? '', c.score ?? 0]));
    for (const c of x) {
      const other = scores.get(c.label ?? '');
      if (other === undefined) {
        agree = tally.differ(path, `the shadow has no class ${JSON.stringify(c.label ?? '')}`);
        break;
      }
      if (!tally.numbers(`${path}/${c.label ?? ''}`, c.score ?? 0, other)) agree = false;
    }
  }
  return agree;
}

function compareRegress(live: RegressionResponseMessage, shadow: RegressionResponseMessage, tally: Tally): boolean {
  const a = live.result?.regressions ?? [];
  const b = shadow.result?.regressions ?? [];
  if (a.length !== b.length) return tally.differ('/result', `live ${a.length} regressions, shadow ${b.length}`);
  let agree = true;
  for (let i = 0; i < a.length; i++) if (!tally.numbers(`/result/${i}`, a[i]?.value ?? 0, b[i]?.value ?? 0)) agree = false;
  return agree;
}
