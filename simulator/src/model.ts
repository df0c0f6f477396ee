/**
 * The reference SavedModels of TF Serving's test data, as far as a REST client can observe them:
 * their signature defs (read from tensorflow_serving/servables/tensorflow/testdata:
 * saved_model_half_plus_two_2_versions and saved_model_half_plus_three) and the graphs behind them
 * (y = 0.5x + 2 / 0.5x + 3 in float32, x parsed from tf.Examples by a ParseExample node).
 *
 * The Predict, Classify and Regress paths follow predict_util.cc, classifier.cc and regressor.cc
 * with the server's default flags (signature method-name check off).
 */
import type { ExampleInput } from '../../gateway/src/tfserving/json-body.js';
import type { TfErrorCode } from '../../gateway/src/tfserving/errors.js';
import { parseExamples, serializeExample, type DenseFloatFeature } from './example-proto.js';
import { TextEnum, debugString, protoJson, type ProtoJson, type TextProto, type TextProtoValue } from './protojson.js';
import { dataTypeString, shapeString, type DType, type NamedTensor, type Tensor, type TensorSpec } from './tensors.js';

export type Behaviour = 'half_plus_two' | 'half_plus_three';
export const BEHAVIOURS: readonly Behaviour[] = ['half_plus_two', 'half_plus_three'];

type ShapeSpec = { readonly unknownRank: true } | { readonly dims: readonly number[] } | null;

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
const CLASSIFY = 'tensorflow/serving/classify';
const REGRESS = 'tensorflow/serving/regress';

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

export class Model {
  private readonly def: ModelDef;
  private readonly byName: Map<string, SignatureDef>;
  private readonly signatureJsonCache: string;

  constructor(readonly behaviour: Behaviour) {
    this.def = MODELS[behaviour];
    this.byName = new Map(this.def.signatures);
    this.signatureJsonCache = protoJson({ signature_def: Object.fromEntries(this.def.signatures.map(([n, s]) => [n, signatureJson(s)])) });
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

  /** DirectSession::Run on the half_plus_* graph for one feed and the given fetches. */
  private run(feedName: string, feed: Tensor, fetches: readonly string[]): Result<Tensor[]> {
    const expected = feedDtype(feedName);
    if (expected === undefined) return err('INVALID_ARGUMENT', `Tensor ${feedName}, specified in either feed_devices or fetch_devices was not in the Graph`);
    if (expected !== feed.dtype) {
      return err('INVALID_ARGUMENT', `Expects arg[0] to be ${dataTypeString(expected)} but ${dataTypeString(feed.dtype)} is provided`);
    }
    let x: Tensor | null = null;
    let x2: Tensor | null = null;
    if (feedName === 'x:0') x = feed;
    else if (feedName === 'x2:0') x2 = feed;
    const parsed = (): Result<null> => {
      if (feedName !== 'tf_example:0' || feed.dtype !== 'DT_STRING') {
        return err('INVALID_ARGUMENT', "You must feed a value for placeholder tensor 'tf_example' with dtype string and shape [?]\n\t [[{{node tf_example}}]]");
      }
      if (feed.shape.length !== 1) {
        return err('INVALID_ARGUMENT', `Expected serialized to be a vector, got shape: ${shapeString(feed.shape)}${NODE_SUFFIX}`);
      }
      const out = parseExamples(feed.values, this.def.features);
      if (!out.ok) return err('INVALID_ARGUMENT', out.message + NODE_SUFFIX);
      const n = feed.values.length;
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

  /** RunPredict after the JSON was turned into tensors keyed by input alias. */
  predict(signatureName: string, inputs: Map<string, Tensor>): Result<NamedTensor[]> {
    const s = this.signature(signatureName);
    if (s === undefined) return err('FAILED_PRECONDITION', `Serving signature key "${signatureName || DEFAULT_SIGNATURE}" not found.`);
    const [alias, input] = s.inputs[0] as readonly [string, TensorInfo];
    const fed = inputs.get(alias);
    if (fed === undefined || inputs.size !== s.inputs.length) {
      return err('INVALID_ARGUMENT', inputSizeMessage([...inputs.keys()], s.inputs.map(([a]) => a)));
    }
    if (fed.values.length !== elementCount(fed.shape)) return err('INVALID_ARGUMENT', `tensor parsing error: ${alias}`);
    const out = this.run(input.name, fed, s.outputs.map(([, t]) => t.name));
    if (!out.ok) return out;
    return ok(s.outputs.map(([name], i) => ({ name, tensor: out.value[i] as Tensor })));
  }

  // -------------------------------------------------------------------------------------------
  // Classify / Regress

  /** TensorflowRegressionServiceImpl::Regress once the servable is found. */
  regress(signatureName: string, input: ExampleInput): Result<number[]> {
    const name = signatureName === '' ? DEFAULT_SIGNATURE : signatureName;
    const s = this.byName.get(name);
    if (s === undefined) return err('INVALID_ARGUMENT', `No signature was found with the name: ${name}`);
    if (s.inputs.length !== 1) return err('INVALID_ARGUMENT', 'Expected one input Tensor.');
    if (s.outputs.length !== 1) return err('INVALID_ARGUMENT', 'Expected one output Tensor.');
    const inputInfo = s.inputs.find(([a]) => a === 'inputs')?.[1];
    if (inputInfo === undefined) return err('INVALID_ARGUMENT', `No regression inputs found in SignatureDef: ${signatureDebugString(s)}`);
    const outputInfo = s.outputs.find(([a]) => a === 'outputs')?.[1];
    if (outputInfo === undefined) return err('INVALID_ARGUMENT', `No regression outputs found in SignatureDef: ${signatureDebugString(s)}`);
    const out = this.run(inputInfo.name, serializedExamples(input), [outputInfo.name]);
    if (!out.ok) return out;
    const t = out.value[0] as Tensor;
    return ok(t.values as number[]);
  }

  /** TensorflowClassificationServiceImpl::Classify once the servable is found: [label, score] lists. */
  classify(signatureName: string, input: ExampleInput): Result<Array<Array<[string, number]>>> {
    const name = signatureName === '' ? DEFAULT_SIGNATURE : signatureName;
    const s = this.byName.get(name);
    if (s === undefined) return err('INVALID_ARGUMENT', `No signature was found with the name: ${name}`);
    if (s.inputs.length !== 1) return err('INVALID_ARGUMENT', 'Expected one input Tensor.');
    if (s.outputs.length !== 1 && s.outputs.length !== 2) {
      return err('INVALID_ARGUMENT', `Expected one or two output Tensors, found ${s.outputs.length}`);
    }
    const inputInfo = s.inputs.find(([a]) => a === 'inputs')?.[1];
    if (inputInfo === undefined) return err('INVALID_ARGUMENT', `No classification inputs found in SignatureDef: ${signatureDebugString(s)}`);
    const scores = s.outputs.find(([a]) => a === 'scores')?.[1];
    if (scores === undefined) {
      return err(
        'INVALID_ARGUMENT',
        `Expected classification signature outputs to contain at least one of "classes" or "scores". Signature was: ${signatureDebugString(s)}`,
      );
    }
    const out = this.run(inputInfo.name, serializedExamples(input), [scores.name]);
    if (!out.ok) return out;
    const t = out.value[0] as Tensor;
    const perExample = t.shape[1] ?? 1;
    const results: Array<Array<[string, number]>> = [];
    for (let i = 0; i < (t.shape[0] ?? 0); i++) {
      const classes: Array<[string, number]> = [];
      for (let c = 0; c < perExample; c++) classes.push(['', t.values[i * perExample + c] as number]);
      results.push(classes);
    }
    return ok(results);
  }
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

/** InputToSerializedExampleTensor: a string vector, the context's bytes prefixed to each example. */
function serializedExamples(input: ExampleInput): Tensor {
  const context = input.context === null ? null : serializeExample(input.context);
  const values = input.examples.map((e) => {
    const bytes = serializeExample(e);
    return context === null ? bytes : Buffer.concat([context, bytes]);
  });
  return { dtype: 'DT_STRING', shape: [values.length], values };
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
