/**
 * TF Serving's gRPC services over the shared Replica: PredictionService (Predict, Classify, Regress,
 * MultiInference, GetModelMetadata) and ModelService (GetModelStatus, HandleReloadConfigRequest),
 * each checking its request in the order the model server does (prediction_service_impl.cc,
 * predict_impl.cc, classification_service.cc, regression_service.cc, multi_inference_helper.cc,
 * get_model_metadata_impl.cc, get_model_status_impl.cc, model_service_impl.cc) and computing with
 * the same Model as the REST port.
 */
import {
  messageCodec,
  serializedInputCodec,
  tfServingMethods,
  type ClassificationResponseMessage,
  type ClassificationResultMessage,
  type ExamplesRequestMessage,
  type GetModelMetadataRequestMessage,
  type GetModelMetadataResponseMessage,
  type GetModelStatusRequestMessage,
  type GetModelStatusResponseMessage,
  type MessageCodec,
  type MethodInfo,
  type ModelSpecMessage,
  type MultiInferenceRequestMessage,
  type MultiInferenceResponseMessage,
  type PredictRequestMessage,
  type PredictResponseMessage,
  type RegressionResponseMessage,
  type ReloadConfigRequestMessage,
  type ReloadConfigResponseMessage,
  type SerializedInputMessage,
  type SignatureDefMapMessage,
  type SignatureDefMessage,
  type TensorInfoMessage,
} from '../../../gateway/src/tfserving/protos.js';
import { DEFAULT_SIGNATURE, type Result, type SignatureDef, type TensorInfo, type TfError } from '../model.js';
import type { CountedOperation, Replica, ServableTarget } from '../replica.js';
import type { Tensor } from '../tensors.js';
import { reloadConfig } from './reload-config.js';
import { tensorFromProto, tensorToProto } from './tensor-proto.js';

/** A decoded request, ready to run. */
export interface GrpcCall {
  /** The servable the request names, for the per-version counters. */
  readonly target: ServableTarget | undefined;
  /** The encoded response, or the TF error the call ends with. */
  run(): Result<Uint8Array>;
}

export interface GrpcMethod {
  readonly info: MethodInfo;
  readonly operation: CountedOperation;
  /** Decodes the request message; throws when the bytes do not parse. */
  prepare(payload: Uint8Array): GrpcCall;
}

const SIGNATURE_DEF_FIELD = 'signature_def';
const SIGNATURE_DEF_MAP_URL = 'type.googleapis.com/tensorflow.serving.SignatureDefMap';

function fail(code: TfError['code'], message: string): { ok: false; error: TfError } {
  return { ok: false, error: { code, message } };
}

const missingModelSpec = (): { ok: false; error: TfError } => fail('INVALID_ARGUMENT', 'Missing ModelSpec');

/** The servable a ModelSpec names (a version_label only counts when no version is set: they are a oneof). */
function targetOf(spec: ModelSpecMessage | undefined): ServableTarget | undefined {
  if (spec === undefined) return undefined;
  if (spec.version !== undefined) return { model: spec.name ?? '', version: spec.version.value ?? '0' };
  return { model: spec.name ?? '', label: spec.version_label };
}

/** ServerCore::ServableRequestFromModelSpec, then the servable lookup: the version that serves. */
function servableVersion(replica: Replica, spec: ModelSpecMessage): Result<string> {
  if ((spec.name ?? '') === '') return fail('INVALID_ARGUMENT', 'ModelSpec has no name specified.');
  return replica.resolve(targetOf(spec) as ServableTarget);
}

/** MakeModelSpec: the answer's model spec, the signature name spelled out. */
function servedSpec(spec: ModelSpecMessage, version: string): ModelSpecMessage {
  const signature = spec.signature_name ?? '';
  return { name: spec.name ?? '', signature_name: signature === '' ? DEFAULT_SIGNATURE : signature, version: { value: version } };
}

/** InputToSerializedExampleTensor: the examples' bytes, the context's prefixed to each. */
function serializedExamples(input: SerializedInputMessage | undefined): Buffer[] {
  if (input?.example_list !== undefined) return input.example_list.examples ?? [];
  const withContext = input?.example_list_with_context;
  if (withContext === undefined) return [];
  const context = withContext.context ?? Buffer.alloc(0);
  return (withContext.examples ?? []).map((e) => Buffer.concat([context, e]));
}

function classificationResult(classes: ReadonlyArray<ReadonlyArray<readonly [string, number]>>): ClassificationResultMessage {
  return { classifications: classes.map((list) => ({ classes: list.map(([label, score]) => ({ label, score })) })) };
}

function shapeMessage(shape: TensorInfo['shape']): TensorInfoMessage['tensor_shape'] {
  if (shape === null) return undefined;
  if ('unknownRank' in shape) return { unknown_rank: true };
  return { dim: shape.dims.map((d) => ({ size: String(d) })) };
}

function signatureMessage(s: SignatureDef): SignatureDefMessage {
  const info = (t: TensorInfo): TensorInfoMessage => {
    const shape = shapeMessage(t.shape);
    return shape === undefined ? { name: t.name, dtype: t.dtype } : { name: t.name, dtype: t.dtype, tensor_shape: shape };
  };
  return {
    inputs: Object.fromEntries(s.inputs.map(([alias, t]) => [alias, info(t)])),
    outputs: Object.fromEntries(s.outputs.map(([alias, t]) => [alias, info(t)])),
    method_name: s.methodName,
  };
}

/** The methods of both services by wire path, bound to a replica. */
export function grpcMethods(replica: Replica): ReadonlyMap<string, GrpcMethod> {
  const signatureDefMap = messageCodec<SignatureDefMapMessage>('tensorflow.serving.SignatureDefMap');
  const methods = new Map<string, GrpcMethod>();

  const define = <Req extends object, Res extends object>(
    name: string,
    operation: CountedOperation,
    requestCodec: (info: MethodInfo) => MessageCodec<Req>,
    target: (request: Req) => ServableTarget | undefined,
    handle: (request: Req) => Result<Res>,
  ): void => {
    const info = [...tfServingMethods().values()].find((m) => m.name === name);
    if (info === undefined) throw new Error(`the protos define no method ${name}`);
    const requests = requestCodec(info);
    const responses = messageCodec<Res>(info.responseType);
    methods.set(info.path, {
      info,
      operation,
      prepare: (payload) => {
        const request = requests.decode(payload);
        return {
          target: target(request),
          run: () => {
            const out = handle(request);
            return out.ok ? { ok: true, value: responses.encode(out.value) } : out;
          },
        };
      },
    });
  };
  const plain = <Req extends object>(info: MethodInfo): MessageCodec<Req> => messageCodec<Req>(info.requestType);
  const examplesAsBytes = <Req extends object>(info: MethodInfo): MessageCodec<Req> => serializedInputCodec<Req>(info.requestType);

  define<PredictRequestMessage, PredictResponseMessage>(
    'Predict',
    'predict',
    plain,
    (r) => targetOf(r.model_spec),
    (request) => {
      const spec = request.model_spec;
      if (spec === undefined) return missingModelSpec();
      const version = servableVersion(replica, spec);
      if (!version.ok) return version;
      const inputs = new Map<string, Tensor | null>(Object.entries(request.inputs ?? {}).map(([alias, t]) => [alias, tensorFromProto(t)]));
      const outputs = replica.modelOf(version.value).predict(spec.signature_name ?? '', inputs, request.output_filter ?? []);
      if (!outputs.ok) return outputs;
      return {
        ok: true,
        value: { outputs: Object.fromEntries(outputs.value.map(({ name, tensor }) => [name, tensorToProto(tensor)])), model_spec: servedSpec(spec, version.value) },
      };
    },
  );

  define<ExamplesRequestMessage, ClassificationResponseMessage>(
    'Classify',
    'classify',
    examplesAsBytes,
    (r) => targetOf(r.model_spec),
    (request) => {
      const spec = request.model_spec;
      if (spec === undefined) return missingModelSpec();
      const version = servableVersion(replica, spec);
      if (!version.ok) return version;
      const classes = replica.modelOf(version.value).classifySerialized(spec.signature_name ?? '', serializedExamples(request.input));
      if (!classes.ok) return classes;
      return { ok: true, value: { result: classificationResult(classes.value), model_spec: servedSpec(spec, version.value) } };
    },
  );

  define<ExamplesRequestMessage, RegressionResponseMessage>(
    'Regress',
    'regress',
    examplesAsBytes,
    (r) => targetOf(r.model_spec),
    (request) => {
      const spec = request.model_spec;
      if (spec === undefined) return missingModelSpec();
      const version = servableVersion(replica, spec);
      if (!version.ok) return version;
      const values = replica.modelOf(version.value).regressSerialized(spec.signature_name ?? '', serializedExamples(request.input));
      if (!values.ok) return values;
      return { ok: true, value: { result: { regressions: values.value.map((value) => ({ value })) }, model_spec: servedSpec(spec, version.value) } };
    },
  );

  define<MultiInferenceRequestMessage, MultiInferenceResponseMessage>(
    'MultiInference',
    'multiInference',
    examplesAsBytes,
    (r) => targetOf(r.tasks?.[0]?.model_spec ?? {}),
    (request) => {
      // GetModelSpecFromRequest: tasks[0]'s, or an empty one (which has no name).
      const tasks = request.tasks ?? [];
      const version = servableVersion(replica, tasks[0]?.model_spec ?? {});
      if (!version.ok) return version;
      const results = replica.modelOf(version.value).multiInference(
        tasks.map((t) => ({ modelName: t.model_spec?.name ?? '', signatureName: t.model_spec?.signature_name ?? '', methodName: t.method_name ?? '' })),
        serializedExamples(request.input),
      );
      if (!results.ok) return results;
      return {
        ok: true,
        value: {
          results: results.value.map((r, i) => {
            const model_spec = servedSpec(tasks[i]?.model_spec ?? {}, version.value);
            return r.kind === 'classification'
              ? { model_spec, classification_result: classificationResult(r.classes) }
              : { model_spec, regression_result: { regressions: r.values.map((value) => ({ value })) } };
          }),
        },
      };
    },
  );

  define<GetModelMetadataRequestMessage, GetModelMetadataResponseMessage>(
    'GetModelMetadata',
    'metadata',
    plain,
    (r) => targetOf(r.model_spec),
    (request) => {
      const spec = request.model_spec;
      if (spec === undefined) return missingModelSpec();
      const fields = request.metadata_field ?? [];
      if (fields.length === 0) return fail('INVALID_ARGUMENT', 'GetModelMetadataRequest must specify at least one metadata_field');
      const unsupported = fields.find((f) => f !== SIGNATURE_DEF_FIELD);
      if (unsupported !== undefined) return fail('INVALID_ARGUMENT', `Metadata field ${unsupported} is not supported`);
      const version = servableVersion(replica, spec);
      if (!version.ok) return version;
      const signatures = signatureDefMap.encode({ signature_def: Object.fromEntries(replica.modelOf(version.value).signatures.map(([name, s]) => [name, signatureMessage(s)])) });
      return {
        ok: true,
        value: {
          model_spec: { name: spec.name ?? '', version: { value: version.value } },
          metadata: { [SIGNATURE_DEF_FIELD]: { type_url: SIGNATURE_DEF_MAP_URL, value: signatures } },
        },
      };
    },
  );

  define<GetModelStatusRequestMessage, GetModelStatusResponseMessage>(
    'GetModelStatus',
    'status',
    plain,
    (r) => targetOf(r.model_spec),
    (request) => {
      const spec = request.model_spec;
      if (spec === undefined) return missingModelSpec();
      const statuses = replica.versionStatuses(spec.name ?? '', spec.version === undefined ? undefined : (spec.version.value ?? '0'));
      if (!statuses.ok) return statuses;
      return {
        ok: true,
        value: {
          model_version_status: statuses.value.map(([version, s]) => ({
            version,
            state: s.state,
            status: { error_code: s.errorCode, error_message: s.errorMessage },
          })),
        },
      };
    },
  );

  define<ReloadConfigRequestMessage, ReloadConfigResponseMessage>(
    'HandleReloadConfigRequest',
    'reloadConfig',
    plain,
    () => undefined,
    (request) => reloadConfig(replica, request),
  );

  return methods;
}
