/**
 * TensorProto <-> the simulator's tensors, as tensorflow/core/framework/tensor.cc does it:
 * Tensor::FromProto for request inputs (tensor_content when set, else the dtype's typed field, a
 * short field padded with its last value, an empty one with zeros) and Tensor::AsProtoField for
 * outputs (dtype, shape and the typed field, e.g. float_val).
 */
import { tfServingProtos, type TensorProtoMessage, type TensorShapeMessage } from '../../../gateway/src/tfserving/protos.js';
import type { FeedDType, Tensor } from '../tensors.js';

/** TensorShape's limits: at most 254 dimensions, element counts within int64. */
const MAX_DIMS = 254;
/** Past this many elements a tensor is not built (TF would try to allocate it): "tensor parsing error". */
const MAX_ELEMENTS = 1 << 26;

interface Layout {
  /** The typed repeated field of the dtype. */
  readonly field: keyof TensorProtoMessage;
  /** Bytes per element in tensor_content (0: DT_STRING's own encoding). */
  readonly bytes: number;
  readonly read: (content: Buffer, offset: number) => number;
}

const LAYOUTS: Readonly<Record<FeedDType, Layout>> = {
  DT_FLOAT: { field: 'float_val', bytes: 4, read: (b, o) => b.readFloatLE(o) },
  DT_DOUBLE: { field: 'double_val', bytes: 8, read: (b, o) => b.readDoubleLE(o) },
  DT_INT32: { field: 'int_val', bytes: 4, read: (b, o) => b.readInt32LE(o) },
  DT_UINT8: { field: 'int_val', bytes: 1, read: (b, o) => b.readUInt8(o) },
  DT_INT16: { field: 'int_val', bytes: 2, read: (b, o) => b.readInt16LE(o) },
  DT_INT8: { field: 'int_val', bytes: 1, read: (b, o) => b.readInt8(o) },
  DT_STRING: { field: 'string_val', bytes: 0, read: () => 0 },
  DT_INT64: { field: 'int64_val', bytes: 8, read: (b, o) => Number(b.readBigInt64LE(o)) },
  DT_BOOL: { field: 'bool_val', bytes: 1, read: (b, o) => (b.readUInt8(o) === 0 ? 0 : 1) },
  DT_BFLOAT16: { field: 'half_val', bytes: 2, read: (b, o) => b.readUInt16LE(o) },
  DT_UINT16: { field: 'int_val', bytes: 2, read: (b, o) => b.readUInt16LE(o) },
  DT_HALF: { field: 'half_val', bytes: 2, read: (b, o) => b.readUInt16LE(o) },
  DT_UINT32: { field: 'uint32_val', bytes: 4, read: (b, o) => b.readUInt32LE(o) },
  DT_UINT64: { field: 'uint64_val', bytes: 8, read: (b, o) => Number(b.readBigUInt64LE(o)) },
};

function dtypeName(value: number): FeedDType | undefined {
  const name = tfServingProtos().lookupEnum('tensorflow.DataType').valuesById[value];
  return name !== undefined && name in LAYOUTS ? (name as FeedDType) : undefined;
}

function dtypeNumber(name: FeedDType): number {
  return tfServingProtos().lookupEnum('tensorflow.DataType').values[name] as number;
}

/** TensorShape::IsValid and the dimensions, or null. */
function shapeOf(proto: TensorShapeMessage | undefined): number[] | null {
  if (proto === undefined) return [];
  if (proto.unknown_rank === true) return null;
  const dims = proto.dim ?? [];
  if (dims.length > MAX_DIMS) return null;
  const shape: number[] = [];
  let count = 1n;
  for (const d of dims) {
    const size = BigInt(d.size ?? '0');
    if (size < 0n) return null;
    count *= size;
    if (count > 9223372036854775807n) return null;
    shape.push(Number(size));
  }
  return shape;
}

/** DT_STRING's tensor_content: every length as a varint, then the bytes. */
function decodeStrings(content: Buffer, n: number): Buffer[] | null {
  const lengths: number[] = [];
  let pos = 0;
  for (let i = 0; i < n; i++) {
    let length = 0;
    let shift = 0;
    for (;;) {
      if (pos >= content.length || shift > 28) return null;
      const b = content[pos++] as number;
      length += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) break;
    }
    lengths.push(length);
  }
  const out: Buffer[] = [];
  for (const length of lengths) {
    if (content.length - pos < length) return null;
    out.push(content.subarray(pos, pos + length));
    pos += length;
  }
  return pos === content.length ? out : null;
}

/** FromProtoField: n values from the typed field; a short field repeats its last value, an empty one is all zeros. */
function fill<T>(field: readonly T[], n: number, zero: T): T[] {
  const out = new Array<T>(n);
  const last = field.length > 0 ? (field[field.length - 1] as T) : zero;
  for (let i = 0; i < n; i++) out[i] = i < field.length ? (field[i] as T) : last;
  return out;
}

/** Tensor::FromProto: the tensor, or null where TF's parse fails ("tensor parsing error: <alias>"). */
export function tensorFromProto(proto: TensorProtoMessage): Tensor | null {
  const dtype = dtypeName(proto.dtype ?? 0);
  const shape = shapeOf(proto.tensor_shape);
  if (dtype === undefined || shape === null) return null;
  const n = shape.reduce((a, b) => a * b, 1);
  if (n > MAX_ELEMENTS) return null;
  const layout = LAYOUTS[dtype];
  const content = proto.tensor_content;
  if (dtype === 'DT_STRING') {
    let values: Buffer[] | null;
    if (n === 0) values = [];
    else if (content !== undefined && content.length > 0) values = decodeStrings(content, n);
    else values = fill(proto.string_val ?? [], n, Buffer.alloc(0));
    return values === null ? null : { dtype, shape, values };
  }
  let values: number[];
  if (n === 0) {
    values = [];
  } else if (content !== undefined && content.length > 0) {
    if (content.length !== n * layout.bytes) return null;
    values = new Array<number>(n);
    for (let i = 0; i < n; i++) values[i] = layout.read(content, i * layout.bytes);
  } else {
    const field = (proto[layout.field] ?? []) as ReadonlyArray<number | string | boolean>;
    values = fill(field, n, 0).map(Number);
  }
  return { dtype, shape, values };
}

/** Tensor::AsProtoField: dtype, shape and the values in the dtype's typed field. */
export function tensorToProto(tensor: Tensor): TensorProtoMessage {
  const proto: TensorProtoMessage = {
    dtype: dtypeNumber(tensor.dtype),
    tensor_shape: { dim: tensor.shape.map((size) => ({ size: String(size) })) },
  };
  if (tensor.dtype === 'DT_STRING') proto.string_val = [...tensor.values];
  else if (tensor.dtype === 'DT_FLOAT') proto.float_val = [...tensor.values];
  else throw new Error(`the reference graphs have no ${tensor.dtype} output`);
  return proto;
}
