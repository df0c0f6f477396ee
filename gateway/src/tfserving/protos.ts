/**
 * The project's .proto files (protos/ at the top of the repository: TF Serving's gRPC API, as far as
 * the project uses it) loaded with protobufjs, plus typed codecs for the messages read and written
 * here. The .proto files are the one source of every field number, enum value and method path; the
 * TypeScript shapes below describe what `decode` returns for them (see DECODE_OPTIONS).
 *
 * protobufjs rather than @bufbuild/protobuf: it loads the .proto files at run time, so there is no
 * generated code to keep in step with them, and it handles TF's maps, oneofs, Any and packed
 * repeated fields as protoc does.
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { HTTP_STATUS_OF, type TfErrorCode } from './errors.js';

/** protos/ at the top of the checkout (this file runs as dist/gateway/src/tfserving/protos.js). */
export const PROTOS_DIR = fileURLToPath(new URL('../../../../protos/', import.meta.url));

/** The files to load; everything else comes in through their imports. */
export const PROTO_FILES: readonly string[] = [
  'tensorflow_serving/apis/prediction_service.proto',
  'tensorflow_serving/apis/model_service.proto',
  'tensorflow_serving/apis/internal/serialized_input.proto',
];

export const PREDICTION_SERVICE = 'tensorflow.serving.PredictionService';
export const MODEL_SERVICE = 'tensorflow.serving.ModelService';

let cached: protobuf.Root | null = null;

/** The loaded definitions (loaded once per process, synchronously: a few milliseconds). */
export function tfServingProtos(): protobuf.Root {
  if (cached !== null) return cached;
  const root = new protobuf.Root();
  // Imports are relative to protos/, as with `protoc -I protos`; google/protobuf/* are bundled.
  root.resolvePath = (_origin, target) => join(PROTOS_DIR, target);
  root.loadSync([...PROTO_FILES], { keepCase: true });
  root.resolveAll();
  cached = root;
  return root;
}

// ---------------------------------------------------------------------------------------------
// Status codes: the numbers of tensorflow.error.Code, which are gRPC's.

export type StatusCodeName = 'OK' | TfErrorCode;

/** The grpc-status number of a TF error code, read from error_codes.proto. */
export function grpcStatusCode(code: StatusCodeName): number {
  const value = tfServingProtos().lookupEnum('tensorflow.error.Code').values[code];
  if (value === undefined) throw new Error(`tensorflow.error.Code has no ${code}`);
  return value;
}

/** The TF code name of a grpc-status number, or undefined for a number TF does not define. */
export function statusCodeName(value: number): StatusCodeName | undefined {
  const name = tfServingProtos().lookupEnum('tensorflow.error.Code').valuesById[value];
  return name !== undefined && (name === 'OK' || name in HTTP_STATUS_OF) ? (name as StatusCodeName) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Codecs

/**
 * How decoded messages are shaped: int64 as decimal strings, enums as numbers (proto3 enums are
 * open), bytes as Buffers, absent fields left out (so a present but empty message is `{}`, which is
 * how "has_model_spec()" is told apart), oneofs also named by their case.
 */
const DECODE_OPTIONS: protobuf.IConversionOptions = { longs: String, enums: Number, defaults: false, arrays: false, oneofs: true };

export interface MessageCodec<T> {
  readonly type: protobuf.Type;
  /** Throws on bytes that are not a valid encoding of the message. */
  decode(bytes: Uint8Array): T;
  encode(value: T): Uint8Array;
}

/** A codec for a message type by its full name, e.g. "tensorflow.serving.PredictRequest". */
export function messageCodec<T extends object>(fullName: string): MessageCodec<T> {
  const type = tfServingProtos().lookupType(fullName);
  return {
    type,
    decode: (bytes) => type.toObject(type.decode(bytes), DECODE_OPTIONS) as T,
    encode: (value) => encodeCanonical(type, value),
  };
}

/**
 * Encodes as protoc-generated code does: fields in number order (protobufjs's encoder sorts them)
 * and proto3 scalars at their default value left out, unless a oneof needs them to say which case
 * is set. protobufjs alone writes every field the object has, e.g. `error_code: 0`.
 */
function encodeCanonical(type: protobuf.Type, value: object): Uint8Array {
  return type.encode(type.fromObject(withoutDefaults(type, value as Record<string, unknown>))).finish();
}

function withoutDefaults(type: protobuf.Type, value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const field = type.fields[key];
    if (field === undefined) {
      out[key] = v;
      continue;
    }
    if (v === undefined || v === null) continue;
    field.resolve();
    const message = field.resolvedType instanceof protobuf.Type ? field.resolvedType : null;
    const clean = (item: unknown): unknown => (message !== null && typeof item === 'object' && item !== null ? withoutDefaults(message, item as Record<string, unknown>) : item);
    if (field.map) {
      out[key] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, item]) => [k, clean(item)]));
    } else if (field.repeated) {
      if (Array.isArray(v) && v.length > 0) out[key] = v.map(clean);
    } else if (message !== null || field.partOf !== null || field.options?.['proto3_optional'] === true) {
      out[key] = clean(v);
    } else if (!isDefaultScalar(field, v)) {
      out[key] = v;
    }
  }
  return out;
}

function isDefaultScalar(field: protobuf.Field, v: unknown): boolean {
  if (field.resolvedType instanceof protobuf.Enum) return v === 0 || (typeof v === 'string' && field.resolvedType.values[v] === 0);
  if (typeof v === 'number' || typeof v === 'bigint') return Number(v) === 0;
  if (typeof v === 'string') return v === '' || (field.type !== 'string' && field.type !== 'bytes' && /^[-+]?0+$/.test(v));
  if (typeof v === 'boolean') return !v;
  if (v instanceof Uint8Array) return v.length === 0;
  return false;
}

const viewCodecs = new Map<string, MessageCodec<object>>();

/**
 * A codec for a Classification/Regression/MultiInferenceRequest that reads its `input` as
 * tensorflow.serving.internal.SerializedInput: the same bytes, each tf.Example kept as bytes, as
 * TF Serving reads them (the graph is fed the serialized examples). The view type is built from the
 * request type, so its field numbers still come from the .proto files alone.
 */
export function serializedInputCodec<T extends object>(requestType: string): MessageCodec<T> {
  const known = viewCodecs.get(requestType);
  if (known !== undefined) return known as MessageCodec<T>;
  const root = tfServingProtos();
  const original = root.lookupType(requestType);
  const json = original.toJSON() as protobuf.IType;
  const input = json.fields['input'];
  if (input === undefined) throw new Error(`${requestType} has no input field`);
  json.fields['input'] = { ...input, type: '.tensorflow.serving.internal.SerializedInput' };
  // Nested in the internal package, where relative type names still resolve to tensorflow.serving.
  const view = protobuf.Type.fromJSON(original.name, json);
  (root.lookup('tensorflow.serving.internal') as protobuf.Namespace).add(view);
  view.resolveAll();
  const codec: MessageCodec<T> = {
    type: view,
    decode: (bytes) => view.toObject(view.decode(bytes), DECODE_OPTIONS) as T,
    encode: (value) => encodeCanonical(view, value),
  };
  viewCodecs.set(requestType, codec as MessageCodec<object>);
  return codec;
}

/** A method of a service: its wire path and message types. */
export interface MethodInfo {
  readonly service: string;
  readonly name: string;
  /** "/tensorflow.serving.PredictionService/Predict" */
  readonly path: string;
  readonly requestType: string;
  readonly responseType: string;
}

/** Every method of PredictionService and ModelService, by wire path. */
export function tfServingMethods(): ReadonlyMap<string, MethodInfo> {
  const root = tfServingProtos();
  const methods = new Map<string, MethodInfo>();
  for (const service of [PREDICTION_SERVICE, MODEL_SERVICE]) {
    for (const method of root.lookupService(service).methodsArray) {
      method.resolve();
      const path = `/${service}/${method.name}`;
      methods.set(path, {
        service,
        name: method.name,
        path,
        requestType: (method.resolvedRequestType as protobuf.Type).fullName.slice(1),
        responseType: (method.resolvedResponseType as protobuf.Type).fullName.slice(1),
      });
    }
  }
  return methods;
}

// ---------------------------------------------------------------------------------------------
// Message shapes (as decoded with DECODE_OPTIONS; the same shapes are accepted by encode)

export interface Int64ValueMessage {
  value?: string;
}

export interface ModelSpecMessage {
  name?: string;
  version?: Int64ValueMessage;
  version_label?: string;
  signature_name?: string;
  version_choice?: 'version' | 'version_label';
}

export interface TensorShapeMessage {
  dim?: Array<{ size?: string; name?: string }>;
  unknown_rank?: boolean;
}

export interface TensorProtoMessage {
  dtype?: number;
  tensor_shape?: TensorShapeMessage;
  version_number?: number;
  tensor_content?: Buffer;
  float_val?: number[];
  double_val?: number[];
  int_val?: number[];
  string_val?: Buffer[];
  int64_val?: string[];
  bool_val?: boolean[];
  half_val?: number[];
  uint32_val?: number[];
  uint64_val?: string[];
}

export interface PredictRequestMessage {
  model_spec?: ModelSpecMessage;
  inputs?: Record<string, TensorProtoMessage>;
  output_filter?: string[];
}

export interface PredictResponseMessage {
  model_spec?: ModelSpecMessage;
  outputs?: Record<string, TensorProtoMessage>;
}

/** tensorflow.serving.internal.SerializedInput: Input with each tf.Example left as bytes. */
export interface SerializedInputMessage {
  example_list?: { examples?: Buffer[] };
  example_list_with_context?: { examples?: Buffer[]; context?: Buffer };
}

/** A Classification/RegressionRequest read with its input as SerializedInput. */
export interface ExamplesRequestMessage {
  model_spec?: ModelSpecMessage;
  input?: SerializedInputMessage;
}

export interface ClassificationResultMessage {
  classifications?: Array<{ classes?: Array<{ label?: string; score?: number }> }>;
}

export interface RegressionResultMessage {
  regressions?: Array<{ value?: number }>;
}

export interface ClassificationResponseMessage {
  model_spec?: ModelSpecMessage;
  result?: ClassificationResultMessage;
}

export interface RegressionResponseMessage {
  model_spec?: ModelSpecMessage;
  result?: RegressionResultMessage;
}

export interface MultiInferenceRequestMessage {
  tasks?: Array<{ model_spec?: ModelSpecMessage; method_name?: string }>;
  input?: SerializedInputMessage;
}

export interface MultiInferenceResponseMessage {
  results?: Array<{ model_spec?: ModelSpecMessage; classification_result?: ClassificationResultMessage; regression_result?: RegressionResultMessage }>;
}

export interface GetModelMetadataRequestMessage {
  model_spec?: ModelSpecMessage;
  metadata_field?: string[];
}

export interface AnyMessage {
  type_url?: string;
  value?: Uint8Array;
}

export interface GetModelMetadataResponseMessage {
  model_spec?: ModelSpecMessage;
  metadata?: Record<string, AnyMessage>;
}

export interface TensorInfoMessage {
  name?: string;
  dtype?: number | string;
  tensor_shape?: TensorShapeMessage;
}

export interface SignatureDefMessage {
  inputs?: Record<string, TensorInfoMessage>;
  outputs?: Record<string, TensorInfoMessage>;
  method_name?: string;
}

export interface SignatureDefMapMessage {
  signature_def?: Record<string, SignatureDefMessage>;
}

export interface StatusProtoMessage {
  error_code?: number | StatusCodeName;
  error_message?: string;
}

export interface GetModelStatusRequestMessage {
  model_spec?: ModelSpecMessage;
}

export interface ModelVersionStatusMessage {
  version?: string;
  /** ModelVersionStatus.State: UNKNOWN 0, START 10, LOADING 20, AVAILABLE 30, UNLOADING 40, END 50. */
  state?: number | string;
  status?: StatusProtoMessage;
}

export interface GetModelStatusResponseMessage {
  model_version_status?: ModelVersionStatusMessage[];
}

export interface ModelConfigMessage {
  name?: string;
  base_path?: string;
  model_type?: number;
  model_platform?: string;
  version_labels?: Record<string, string>;
}

export interface ReloadConfigRequestMessage {
  config?: {
    model_config_list?: { config?: ModelConfigMessage[] };
    custom_model_config?: AnyMessage;
  };
  metric_names?: string[];
}

export interface ReloadConfigResponseMessage {
  status?: StatusProtoMessage;
  metric?: Array<{ name?: string; int64_value_increase?: string }>;
}
