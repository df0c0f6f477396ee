/**
 * The reference SavedModels of TF Serving's test data, as far as a client can observe them:
 * their signature defs (read from tensorflow_serving/servables/tensorflow/testdata:
 * saved_model_half_plus_two_2_versions and saved_model_half_plus_three) and the graphs behind them
 * (y = 0.5x + 2 / 0.5x + 3 in float32, x parsed from tf.Examples by a ParseExample node).
 *
 * The Predict, Classify, Regress and MultiInference paths follow predict_util.cc, classifier.cc,
 * regressor.cc and multi_inference.cc with the server's default flags (signature method-name check
 * off); the REST and gRPC ports both compute here.
 */
import type { ExampleInput } from '../../gateway/src/tfserving/json-body.js';
import type { TfErrorCode } from '../../gateway/src/tfserving/errors.js';
import { parseExamples, serializeExample, type DenseFloatFeature } from './example-proto.js';
import { TextEnum, debugString, protoJson, type ProtoJson, type TextProto, type TextProtoValue } from './protojson.js';
import { dataTypeString, shapeString, type DType, type NamedTensor, type Tensor, type TensorSpec } from './tensors.js';

export type Behaviour = 'half_plus_two' | 'half_plus_three';
export const BEHAVIOURS: readonly Behaviour[] = ['half_plus_two', 'half_plus_three'];

export type ShapeSpec = { readonly unknownRank: true } | { readonly dims: readonly number[] } | null;

export interface TensorInfo {
  /** The graph tensor the alias is bound to, e.g. "x:0". */
  readonly name: string;
  readonly dtype: DType;
  readonly shape: ShapeSpec;
}

export interface SignatureDef {
  readonly inputs: ReadonlyArray<readonly [string, TensorInfo]>;
  readonly outputs: ReadonlyArray<readonly [string, TensorInfo]>;
  readonly methodName: string;
}

const BATCH_1: ShapeSpec = { dims: [-1, 1] };
const UNKNOWN_RANK: ShapeSpec = { unknownRank: true };
const PREDICT = 'tensorflow/serving/predict';
export const CLASSIFY = 'tensorflow/serving/classify';
export const REGRESS = 'tensorflow/serving/regress';

const info = (name: string, dtype: DType, shape: ShapeSpec): TensorInfo => ({ name, dtype, shape });
const sig = (input: [string, TensorInfo], output: [string, TensorInfo], methodName: string): SignatureDef => ({
  inputs: [input],
  outputs: [output],
  methodName,
});

interface ModelDef {
  /** In the order TF's own metadata test data lists them (proto maps have no defined order). */
  readonly signatures: ReadonlyArray<readonly [string, SignatureDef]>;
  /** Offset added to 0.5*x by y:0. */
  readonly b: number;
  /** Offset of y2:0 / y3:0. */
  readonly c: number;
  /** The ParseExample node's dense features. */
  readonly features: readonly DenseFloatFeature[];
}

const HALF_PLUS_TWO: ModelDef = {
  signatures: [
    ['regress_x2_to_y3', sig(['inputs', info('x2:0', 'DT_FLOAT', BATCH_1)], ['outputs', info('y3:0', 'DT_FLOAT', BATCH_1)], REGRESS)],
    ['serving_default', sig(['x', info('x:0', 'DT_FLOAT', BATCH_1)], ['y', info('y:0', 'DT_FLOAT', BATCH_1)], PREDICT)],
    ['classify_x_to_y', sig(['inputs', info('tf_example:0', 'DT_STRING', UNKNOWN_RANK)], ['scores', info('y:0', 'DT_FLOAT', BATCH_1)], CLASSIFY)],
    ['classify_x2_to_y3', sig(['inputs', info('x2:0', 'DT_FLOAT', BATCH_1)], ['scores', info('y3:0', 'DT_FLOAT', BATCH_1)], CLASSIFY)],
    ['regress_x_to_y2', sig(['inputs', info('tf_example:0', 'DT_STRING', UNKNOWN_RANK)], ['outputs', info('y2:0', 'DT_FLOAT', BATCH_1)], REGRESS)],
    ['regress_x_to_y', sig(['inputs', info('tf_example:0', 'DT_STRING', UNKNOWN_RANK)], ['outputs', info('y:0', 'DT_FLOAT', BATCH_1)], REGRESS)],
  ],
  b: 2,
  c: 3,
  features: [
    { name: 'x', defaultValue: null },
    { name: 'x2', defaultValue: 0 },
  ],
};

// This older export declares its regress input as DT_FLOAT although the placeholder takes strings.
const HALF_PLUS_THREE: ModelDef = {
  signatures: [
    ['serving_default', sig(['x', info('x:0', 'DT_FLOAT', null)], ['y', info('y:0', 'DT_FLOAT', null)], PREDICT)],
    ['tensorflow/serving/regress', sig(['inputs', info('tf_example:0', 'DT_FLOAT', null)], ['outputs', info('Identity:0', 'DT_FLOAT', null)], REGRESS)],
  ],
  b: 3,
  c: 3,
  features: [{ name: 'x', defaultValue: null }],
};

const MODELS: Readonly<Record<Behaviour, ModelDef>> = { half_plus_two: HALF_PLUS_TWO, half_plus_three: HALF_PLUS_THREE };

export const DEFAULT_SIGNATURE = 'serving_default';

/** A TF error status: the code decides the HTTP status, the message is the body. */
export interface TfError {
  readonly code: TfErrorCode;
  readonly message: string;
}

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: TfError };

const ok = <T>(value: T): Result<T> => ({ ok: true, value });
const err = (code: TfErrorCode, message: string): { ok: false; error: TfError } => ({ ok: false, error: { code, message } });

const NODE_SUFFIX = '\n\t [[{{node ParseExample/ParseExample}}]]';

/** One task of a MultiInference request (InferenceTask), as TensorFlowMultiInferenceRunner reads it. */
export interface InferenceTaskSpec {
  readonly modelName: string;
  readonly signatureName: string;
  readonly methodName: string;
}

export type InferenceTaskResult =
  | { readonly signatureName: string; readonly kind: 'classification'; readonly classes: Array<Array<[string, number]>> }
  | { readonly signatureName: string; readonly kind: 'regression'; readonly values: number[] };

/** What PreProcessClassification / PreProcessRegression pick from a signature. */
interface RunTarget {
  readonly input: string;
  readonly outputs: readonly string[];
}

export class Model {
  private readonly def: ModelDef;
  private readonly byName: Map<string, SignatureDef>;
  private readonly signatureJsonCache: string;

  constructor(readonly behaviour: Behaviour) {
    this.def = MODELS[behaviour];
    this.byName = new Map(this.def.signatures);
    this.signatureJsonCache = protoJson({ signature_def: Object.fromEntries(this.def.signatures.map(([n, s]) => [n, signatureJson(s)])) });
  }

  /** The SavedModel's signature defs, in the order the metadata answers list them. */
  get signatures(): ReadonlyArray<readonly [string, SignatureDef]> {
    return this.def.signatures;
  }

  signature(name: string): SignatureDef | undefined {
    return this.byName.get(name === '' ? DEFAULT_SIGNATURE : name);
  }

  /** The GetModelMetadata answer, assembled as http_rest_api_util.cc ToJsonString does it. */
  metadataJson(modelName: string, version: string): string {
    const spec = protoJson({ name: modelName, version, signature_name: '' });
    return `{\n"model_spec":${spec},\n"metadata": {"signature_def": ${this.signatureJsonCache}}\n}\n`;
  }

  // -------------------------------------------------------------------------------------------
  // Graph

  /** DirectSession::Run on the half_plus_* graph: feeds checked in order, then the fetches computed. */
  private run(feeds: ReadonlyArray<readonly [string, Tensor]>, fetches: readonly string[]): Result<Tensor[]> {
    for (let i = 0; i < feeds.length; i++) {
      const [name, feed] = feeds[i] as readonly [string, Tensor];
      const expected = feedDtype(name);
      if (expected === undefined) return err('INVALID_ARGUMENT', `Tensor ${name}, specified in either feed_devices or fetch_devices was not in the Graph`);
      if (expected !== feed.dtype) {
        return err('INVALID_ARGUMENT', `Expects arg[${i}] to be ${dataTypeString(expected)} but ${dataTypeString(feed.dtype)} is provided`);
      }
    }
    const fed = (name: string): Tensor | null => feeds.find(([n]) => n === name)?.[1] ?? null;
    let x = fed('x:0');
    let x2 = fed('x2:0');
    const example = fed('tf_example:0');
    const parsed = (): Result<null> => {
      if (example === null || example.dtype !== 'DT_STRING') {
        return err('INVALID_ARGUMENT', "You must feed a value for placeholder tensor 'tf_example' with dtype string and shape [?]\n\t [[{{node tf_example}}]]");
      }
      if (example.shape.length !== 1) {
        return err('INVALID_ARGUMENT', `Expected serialized to be a vector, got shape: ${shapeString(example.shape)}${NODE_SUFFIX}`);
      }
      const out = parseExamples(example.values, this.def.features);
      if (!out.ok) return err('INVALID_ARGUMENT', out.message + NODE_SUFFIX);
      const n = example.values.length;
      x ??= { dtype: 'DT_FLOAT', shape: [n, 1], values: out.values[0] as number[] };
      if (this.def.features.length > 1) x2 ??= { dtype: 'DT_FLOAT', shape: [n, 1], values: out.values[1] as number[] };
      return ok(null);
    };
    const results: Tensor[] = [];
    for (const fetch of fetches) {
      let input: Tensor | null;
      let offset: number;
      if (fetch === 'y:0' || fetch === 'Identity:0' || fetch === 'y2:0') {
        if (x === null) {
          const p = parsed();
          if (!p.ok) return p;
        }
        input = x;
        offset = fetch === 'y2:0' ? this.def.c : this.def.b;
      } else if (fetch === 'y3:0') {
        if (x2 === null) {
          const p = parsed();
          if (!p.ok) return p;
        }
        input = x2;
        offset = this.def.c;
      } else {
        return err('INVALID_ARGUMENT', `Tensor ${fetch}, specified in either feed_devices or fetch_devices was not in the Graph`);
      }
      if (input === null || input.dtype !== 'DT_FLOAT') return err('INTERNAL', 'Predict internal error');
      results.push({ dtype: 'DT_FLOAT', shape: input.shape, values: halfPlus(input.values, offset) });
    }
    return ok(results);
  }

  // -------------------------------------------------------------------------------------------
  // Predict

  /** The inputs TF reads from the JSON body for this signature (GetInfoMap). */
  predictInputs(signatureName: string): Result<TensorSpec[]> {
    const s = this.signature(signatureName);
    const name = signatureName === '' ? DEFAULT_SIGNATURE : signatureName;
    if (s === undefined) return err('INVALID_ARGUMENT', `Serving signature name: "${name}" not found in signature def`);
    return ok(s.inputs.map(([alias, t]) => ({ name: alias, dtype: t.dtype })));
  }

  /**
   * RunPredict once the request's tensors are read, keyed by input alias (null: a TensorProto that
   * Tensor::FromProto rejects). `outputFilter` is PredictRequest.output_filter (empty: every output).
   */
  predict(signatureName: string, inputs: ReadonlyMap<string, Tensor | null>, outputFilter: readonly string[] = []): Result<NamedTensor[]> {
    const s = this.signature(signatureName);
    if (s === undefined) return err('FAILED_PRECONDITION', `Serving signature key "${signatureName || DEFAULT_SIGNATURE}" not found.`);
    // VerifyRequestInputsSize (the reference signatures have no defaults).
    if (inputs.size !== s.inputs.length) return err('INVALID_ARGUMENT', inputSizeMessage([...inputs.keys()], s.inputs.map(([a]) => a)));
    // saved_model::GetInputValues
    const feeds: Array<readonly [string, Tensor]> = [];
    for (const [alias, info] of s.inputs) {
      const fed = inputs.get(alias);
      if (fed === undefined) {
        return err(
          'INVALID_ARGUMENT',
          `Signature input alias: ${alias}(feed name: ${info.name}) not found in request and no default value provided. ` +
            `Inputs expected to be in the request {${[...inputs.keys()].sort(compareBytes).join(',')}}, or default input alias set: `,
        );
      }
      if (fed === null || fed.values.length !== elementCount(fed.shape)) return err('INVALID_ARGUMENT', `tensor parsing error: ${alias}`);
      feeds.push([info.name, fed]);
    }
    const outputs: Array<readonly [string, TensorInfo]> = [];
    for (const alias of outputFilter) {
      const info = s.outputs.find(([a]) => a === alias)?.[1];
      if (info === undefined) {
        const known = s.outputs.map(([a]) => a).sort(compareBytes).join(',');
        return err('INVALID_ARGUMENT', `output tensor alias not found in signature: ${alias} Outputs expected to be in the set {${known}}.`);
      }
      if (outputs.some(([a]) => a === alias)) return err('INVALID_ARGUMENT', `duplicate output tensor alias: ${alias}`);
      outputs.push([alias, info]);
    }
    if (outputs.length === 0) outputs.push(...s.outputs);
    const out = this.run(feeds, outputs.map(([, t]) => t.name));
    if (!out.ok) return out;
    return ok(outputs.map(([name], i) => ({ name, tensor: out.value[i] as Tensor })));
  }

  // -------------------------------------------------------------------------------------------
  // Classify / Regress / MultiInference

  /** TensorflowRegressionServiceImpl::Regress for a JSON request: its examples serialized first. */
  regress(signatureName: string, input: ExampleInput): Result<number[]> {
    return this.regressSerialized(signatureName, serializedExamples(input));
  }

  /** TensorflowClassificationServiceImpl::Classify for a JSON request: [label, score] lists. */
  classify(signatureName: string, input: ExampleInput): Result<Array<Array<[string, number]>>> {
    return this.classifySerialized(signatureName, serializedExamples(input));
  }

  /** RunRegress once the servable is found, on the serialized examples (InputToSerializedExampleTensor). */
  regressSerialized(signatureName: string, examples: readonly Buffer[]): Result<number[]> {
    const s = this.signatureFor(signatureName);
    if (!s.ok) return s;
    const target = preProcessRegression(s.value);
    if (!target.ok) return target;
    const out = this.runOnExamples([target.value.input], target.value.outputs, examples);
    if (!out.ok) return out;
    return regressionResult(s.value, target.value.outputs, out.value, examples.length);
  }

  /** RunClassify once the servable is found, on the serialized examples. */
  classifySerialized(signatureName: string, examples: readonly Buffer[]): Result<Array<Array<[string, number]>>> {
    const s = this.signatureFor(signatureName);
    if (!s.ok) return s;
    const target = preProcessClassification(s.value);
    if (!target.ok) return target;
    const out = this.runOnExamples([target.value.input], target.value.outputs, examples);
    if (!out.ok) return out;
    return classificationResult(s.value, target.value.outputs, out.value, examples.length);
  }

  /**
   * TensorFlowMultiInferenceRunner::Infer: every task's signature checked, then ONE run feeding the
   * examples to every task's input and fetching every task's outputs, then one result per task.
   */
  multiInference(tasks: readonly InferenceTaskSpec[], examples: readonly Buffer[]): Result<InferenceTaskResult[]> {
    let modelName = '';
    const seen = new Set<string>();
    const inputs = new Set<string>();
    const fetches = new Set<string>();
    const planned: Array<{ signatureName: string; signature: SignatureDef; classify: boolean }> = [];
    for (const task of tasks) {
      if (task.modelName === '') return err('INVALID_ARGUMENT', 'Found ModelSpec with an empty model name.');
      if (modelName === '') modelName = task.modelName;
      else if (modelName !== task.modelName) return err('INVALID_ARGUMENT', 'All ModelSpecs in a MultiInferenceRequest must access the same model name.');
      const signatureName = task.signatureName === '' ? DEFAULT_SIGNATURE : task.signatureName;
      if (seen.has(signatureName)) return err('INVALID_ARGUMENT', `Duplicate evaluation of signature: ${signatureName}`);
      seen.add(signatureName);
      const signature = this.byName.get(signatureName);
      if (signature === undefined) return err('INVALID_ARGUMENT', `Requested signature not found in model graph: ${signatureName}`);
      let target: Result<RunTarget>;
      if (task.methodName === CLASSIFY) target = preProcessClassification(signature);
      else if (task.methodName === REGRESS) target = preProcessRegression(signature);
      else return err('UNIMPLEMENTED', `Unsupported signature method_name: ${task.methodName}`);
      if (!target.ok) return target;
      inputs.add(target.value.input);
      for (const o of target.value.outputs) fetches.add(o);
      planned.push({ signatureName, signature, classify: task.methodName === CLASSIFY });
    }
    // std::set order, as TF builds the feed and fetch lists.
    const outputNames = [...fetches].sort(compareBytes);
    const out = this.runOnExamples([...inputs].sort(compareBytes), outputNames, examples);
    if (!out.ok) return out;
    const results: InferenceTaskResult[] = [];
    for (const { signatureName, signature, classify } of planned) {
      if (classify) {
        const classes = classificationResult(signature, outputNames, out.value, examples.length);
        if (!classes.ok) return classes;
        results.push({ signatureName, kind: 'classification', classes: classes.value });
      } else {
        const values = regressionResult(signature, outputNames, out.value, examples.length);
        if (!values.ok) return values;
        results.push({ signatureName, kind: 'regression', values: values.value });
      }
    }
    return ok(results);
  }

  private signatureFor(signatureName: string): Result<SignatureDef> {
    const name = signatureName === '' ? DEFAULT_SIGNATURE : signatureName;
    const s = this.byName.get(name);
    return s === undefined ? err('INVALID_ARGUMENT', `No signature was found with the name: ${name}`) : ok(s);
  }

  /** PerformOneShotTensorComputation: the examples as one string vector fed to every input. */
  private runOnExamples(inputNames: readonly string[], outputNames: readonly string[], examples: readonly Buffer[]): Result<Tensor[]> {
    if (examples.length === 0) return err('INVALID_ARGUMENT', 'Input is empty.');
    const tensor: Tensor = { dtype: 'DT_STRING', shape: [examples.length], values: examples };
    return this.run(
      inputNames.map((name) => [name, tensor] as const),
      outputNames,
    );
  }
}

/** PreProcessClassification (the server's default: no method-name check). */
function preProcessClassification(s: SignatureDef): Result<RunTarget> {
  if (s.inputs.length !== 1) return err('INVALID_ARGUMENT', 'Expected one input Tensor.');
  if (s.outputs.length !== 1 && s.outputs.length !== 2) {
    return err('INVALID_ARGUMENT', `Expected one or two output Tensors, found ${s.outputs.length}`);
  }
  const input = s.inputs.find(([a]) => a === 'inputs')?.[1];
  if (input === undefined) return err('INVALID_ARGUMENT', `No classification inputs found in SignatureDef: ${signatureDebugString(s)}`);
  const classes = s.outputs.find(([a]) => a === 'classes')?.[1];
  const scores = s.outputs.find(([a]) => a === 'scores')?.[1];
  if (classes === undefined && scores === undefined) {
    return err(
      'INVALID_ARGUMENT',
      `Expected classification signature outputs to contain at least one of "classes" or "scores". Signature was: ${signatureDebugString(s)}`,
    );
  }
  return ok({ input: input.name, outputs: [classes, scores].filter((t): t is TensorInfo => t !== undefined).map((t) => t.name) });
}

/** PreProcessRegression. */
function preProcessRegression(s: SignatureDef): Result<RunTarget> {
  if (s.inputs.length !== 1) return err('INVALID_ARGUMENT', 'Expected one input Tensor.');
  if (s.outputs.length !== 1) return err('INVALID_ARGUMENT', 'Expected one output Tensor.');
  const input = s.inputs.find(([a]) => a === 'inputs')?.[1];
  if (input === undefined) return err('INVALID_ARGUMENT', `No regression inputs found in SignatureDef: ${signatureDebugString(s)}`);
  const output = s.outputs.find(([a]) => a === 'outputs')?.[1];
  if (output === undefined) return err('INVALID_ARGUMENT', `No regression outputs found in SignatureDef: ${signatureDebugString(s)}`);
  return ok({ input: input.name, outputs: [output.name] });
}

/** PostProcessClassificationResult: per example, its (label, score) classes. The graphs have no classes tensor. */
function classificationResult(s: SignatureDef, names: readonly string[], outputs: readonly Tensor[], numExamples: number): Result<Array<Array<[string, number]>>> {
  const scoresName = s.outputs.find(([a]) => a === 'scores')?.[1].name;
  const index = scoresName === undefined ? -1 : names.indexOf(scoresName);
  const results: Array<Array<[string, number]>> = [];
  if (index < 0) {
    for (let i = 0; i < numExamples; i++) results.push([]);
    return ok(results);
  }
  const t = outputs[index] as Tensor;
  if (t.shape.length !== 2) return err('INVALID_ARGUMENT', `Expected Tensor shape: [batch_size num_classes] but got ${shapeString(t.shape)}`);
  if (t.shape[0] !== numExamples) return err('INVALID_ARGUMENT', `Expected scores output batch size of ${numExamples}. Got: ${String(t.shape[0])}`);
  const perExample = t.shape[1] as number;
  for (let i = 0; i < numExamples; i++) {
    const classes: Array<[string, number]> = [];
    for (let c = 0; c < perExample; c++) classes.push(['', t.values[i * perExample + c] as number]);
    results.push(classes);
  }
  return ok(results);
}

/** PostProcessRegressionResult: one float per example. */
function regressionResult(s: SignatureDef, names: readonly string[], outputs: readonly Tensor[], numExamples: number): Result<number[]> {
  const name = s.outputs.find(([a]) => a === 'outputs')?.[1].name;
  if (name === undefined) return err('FAILED_PRECONDITION', `No regression outputs found in SignatureDef: ${signatureDebugString(s)}`);
  const t = outputs[names.indexOf(name)];
  if (t === undefined) return err('INVALID_ARGUMENT', `Could not find output tensor '${name}'`);
  if (!(t.shape.length === 1 || (t.shape.length === 2 && t.shape[1] === 1))) {
    return err('INVALID_ARGUMENT', `Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got ${shapeString(t.shape)}`);
  }
  if (numExamples !== t.shape[0]) return err('INVALID_ARGUMENT', `Input batch size did not match output batch size: ${numExamples} vs. ${String(t.shape[0])}`);
  return ok(t.values as number[]);
}

/** std::set<std::string> order: bytewise. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function feedDtype(tensorName: string): DType | undefined {
  if (tensorName === 'tf_example:0') return 'DT_STRING';
  if (tensorName === 'x:0' || tensorName === 'x2:0') return 'DT_FLOAT';
  return undefined;
}

/** a*x + b as the graph computes it: a float32 Mul, then a float32 Add. */
function halfPlus(values: readonly number[], offset: number): number[] {
  const out = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Math.fround(Math.fround(0.5 * (values[i] as number)) + offset);
  return out;
}

function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function inputSizeMessage(sent: string[], expected: string[]): string {
  const s = [...sent].sort();
  const e = [...expected].sort();
  const extra = s.filter((n) => !e.includes(n));
  const missing = e.filter((n) => !s.includes(n));
  return (
    `input size does not match signature: ${s.length}!=${e.length} len({${s.join(',')}}) != len({${e.join(',')}}). ` +
    `Sent extra: {${extra.join(',')}}. Missing but required: {${missing.join(',')}}.`
  );
}

/** InputToSerializedExampleTensor for a JSON request: each example serialized, the context's bytes prefixed. */
function serializedExamples(input: ExampleInput): Buffer[] {
  const context = input.context === null ? null : serializeExample(input.context);
  return input.examples.map((e) => {
    const bytes = serializeExample(e);
    return context === null ? bytes : Buffer.concat([context, bytes]);
  });
}

// ---------------------------------------------------------------------------------------------
// Printing signature defs

function shapeJson(shape: ShapeSpec): ProtoJson | undefined {
  if (shape === null) return undefined;
  if ('unknownRank' in shape) return { dim: [], unknown_rank: true };
  return { dim: shape.dims.map((d) => ({ size: String(d), name: '' })), unknown_rank: false };
}

function tensorInfoJson(t: TensorInfo): ProtoJson {
  const shape = shapeJson(t.shape);
  return shape === undefined ? { name: t.name, dtype: t.dtype } : { name: t.name, dtype: t.dtype, tensor_shape: shape };
}

function signatureJson(s: SignatureDef): ProtoJson {
  return {
    inputs: Object.fromEntries(s.inputs.map(([a, t]) => [a, tensorInfoJson(t)])),
    outputs: Object.fromEntries(s.outputs.map(([a, t]) => [a, tensorInfoJson(t)])),
    method_name: s.methodName,
    defaults: {},
  };
}

function tensorInfoText(t: TensorInfo): TextProto {
  const fields: Array<[string, TextProtoValue]> = [
    ['name', t.name],
    ['dtype', new TextEnum(t.dtype)],
  ];
  if (t.shape !== null) {
    const shape: TextProto =
      'unknownRank' in t.shape ? [['unknown_rank', true]] : t.shape.dims.map((d) => ['dim', [['size', d]]] as const);
    fields.push(['tensor_shape', shape]);
  }
  return fields;
}

/**
 * Recent protobuf releases start every DebugString() with a marker line that deters parsing
 * ("goo.gle/debugonly|debugstr|debugproto " plus 1-3 spaces, picked at random per process);
 * the simulator always uses the same one so that tests can match it.
 */
export const DEBUG_STRING_MARKER = 'goo.gle/debugstr  \n';

/** SignatureDef::DebugString(), as the classify/regress errors quote it. */
export function signatureDebugString(s: SignatureDef): string {
  const fields: Array<[string, TextProtoValue]> = [];
  for (const [alias, t] of s.inputs) fields.push(['inputs', [['key', alias], ['value', tensorInfoText(t)]]]);
  for (const [alias, t] of s.outputs) fields.push(['outputs', [['key', alias], ['value', tensorInfoText(t)]]]);
  fields.push(['method_name', s.methodName]);
  return DEBUG_STRING_MARKER + debugString(fields);
}
