/**
 * The gRPC errors of the contract's table, each with its exact status code and message as a
 * grpc-js client sees them, plus the checks TF makes after the servable is found (signatures,
 * inputs, metadata fields, reload configs) and TF's cut of long messages.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { grpcError, tfServingClient, type Service, type TfServingClient } from '../../helpers/grpc-client.js';
import { startReplica, type SimulatorHandle } from '../../helpers/simulator.js';

const T = { timeout: 15_000 };
const M = 'half_plus_two';
const x = { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: 1 }] }, float_val: [1] } };
const examples = { example_list: { examples: [{ features: { feature: { x: { float_list: { value: [1] } } } } }] } };

describe('gRPC errors (versions 1 AVAILABLE, 2 LOADING, 3 END; label stable=1)', () => {
  let sim: SimulatorHandle;
  let client: TfServingClient;
  before(async () => {
    sim = await startReplica({ grpcPort: 0, versions: [1, 2, 3], versionStates: { '2': 'LOADING', '3': 'END' }, labels: { stable: 1 } });
    client = tfServingClient(sim.grpcAddress as string);
  });
  after(async () => {
    client.close();
    await sim.close();
  });

  const rejects = (service: Service, method: string, request: object, code: status, details: string): Promise<void> =>
    assert.rejects(client.call(service, method, request), grpcError(code, details));
  /**
   * For TF messages that end in a space: grpc C++ sends them as they are, and nghttp2 (under Node's
   * http2, hence grpc-js) drops a header value ending in whitespace, so a Node client gets the code
   * without details. grpc_client.py (grpc C++ underneath) reads these texts in full.
   */
  const rejectsWithoutDetails = (service: Service, method: string, request: object, code: status): Promise<void> =>
    assert.rejects(client.call(service, method, request), grpcError(code, ''));

  it('ModelSpec without a name: INVALID_ARGUMENT on every servable method', T, async () => {
    const message = 'ModelSpec has no name specified.';
    await rejects('PredictionService', 'Predict', { model_spec: {}, inputs: x }, status.INVALID_ARGUMENT, message);
    await rejects('PredictionService', 'Classify', { model_spec: { signature_name: 'classify_x_to_y' }, input: examples }, status.INVALID_ARGUMENT, message);
    await rejects('PredictionService', 'Regress', { model_spec: { version: { value: 1 } }, input: examples }, status.INVALID_ARGUMENT, message);
    await rejects('PredictionService', 'GetModelMetadata', { model_spec: {}, metadata_field: ['signature_def'] }, status.INVALID_ARGUMENT, message);
    // MultiInference serves tasks[0]'s model; no task at all is an empty ModelSpec.
    await rejects('PredictionService', 'MultiInference', { input: examples }, status.INVALID_ARGUMENT, message);
  });

  it('unknown model: NOT_FOUND Latest(m); unknown, LOADING or END version: NOT_FOUND Specific(m, N)', T, async () => {
    await rejects('PredictionService', 'Predict', { model_spec: { name: 'nope' }, inputs: x }, status.NOT_FOUND, 'Servable not found for request: Latest(nope)');
    await rejects('PredictionService', 'Predict', { model_spec: { name: 'nope', version: { value: 1 } }, inputs: x }, status.NOT_FOUND, 'Servable not found for request: Specific(nope, 1)');
    for (const v of [2, 3, 7]) {
      await rejects('PredictionService', 'Predict', { model_spec: { name: M, version: { value: v } }, inputs: x }, status.NOT_FOUND, `Servable not found for request: Specific(${M}, ${v})`);
    }
    await rejects(
      'PredictionService',
      'Classify',
      { model_spec: { name: M, version: { value: 2 }, signature_name: 'classify_x_to_y' }, input: examples },
      status.NOT_FOUND,
      `Servable not found for request: Specific(${M}, 2)`,
    );
    await rejects('PredictionService', 'GetModelMetadata', { model_spec: { name: 'nope' }, metadata_field: ['signature_def'] }, status.NOT_FOUND, 'Servable not found for request: Latest(nope)');
  });

  it('unknown label: INVALID_ARGUMENT Unrecognized servable version label', T, async () => {
    await rejects('PredictionService', 'Predict', { model_spec: { name: M, version_label: 'canary' }, inputs: x }, status.INVALID_ARGUMENT, 'Unrecognized servable version label: canary');
    // 'Unrecognized servable version label: ' (empty label)
    await rejectsWithoutDetails('PredictionService', 'Regress', { model_spec: { name: M, version_label: '' }, input: examples }, status.INVALID_ARGUMENT);
  });

  it('GetModelStatus: unknown version / model are NOT_FOUND; a version TF knows in any state is listed', T, async () => {
    await rejects('ModelService', 'GetModelStatus', { model_spec: { name: M, version: { value: 9 } } }, status.NOT_FOUND, `Could not find version 9 of model ${M}`);
    await rejects('ModelService', 'GetModelStatus', { model_spec: { name: 'nope' } }, status.NOT_FOUND, 'Could not find any versions of model nope');
    // No name check here: an empty name is just a model nobody has ('Could not find any versions of model ').
    await rejectsWithoutDetails('ModelService', 'GetModelStatus', { model_spec: {} }, status.NOT_FOUND);
    const r = await client.call('ModelService', 'GetModelStatus', { model_spec: { name: M, version: { value: 3 } } });
    assert.deepEqual(r, { model_version_status: [{ version: '3', state: 'END', status: {} }] });
  });

  it('a request without a ModelSpec: INVALID_ARGUMENT Missing ModelSpec', T, async () => {
    for (const [service, method] of [
      ['ModelService', 'GetModelStatus'],
      ['PredictionService', 'Predict'],
      ['PredictionService', 'Classify'],
      ['PredictionService', 'Regress'],
      ['PredictionService', 'GetModelMetadata'],
    ] as const) {
      await rejects(service, method, {}, status.INVALID_ARGUMENT, 'Missing ModelSpec');
    }
  });

  it('MultiInference: mixed model names, empty names, duplicate signatures, unknown methods', T, async () => {
    const task = (name: string, signature: string, method = 'tensorflow/serving/regress'): object => ({ model_spec: { name, signature_name: signature }, method_name: method });
    await rejects(
      'PredictionService',
      'MultiInference',
      { tasks: [task(M, 'regress_x_to_y'), task('other', 'regress_x_to_y2')], input: examples },
      status.INVALID_ARGUMENT,
      'All ModelSpecs in a MultiInferenceRequest must access the same model name.',
    );
    await rejects('PredictionService', 'MultiInference', { tasks: [task(M, 'regress_x_to_y'), task('', 'x')], input: examples }, status.INVALID_ARGUMENT, 'Found ModelSpec with an empty model name.');
    await rejects(
      'PredictionService',
      'MultiInference',
      { tasks: [task(M, 'regress_x_to_y'), task(M, 'regress_x_to_y')], input: examples },
      status.INVALID_ARGUMENT,
      'Duplicate evaluation of signature: regress_x_to_y',
    );
    await rejects('PredictionService', 'MultiInference', { tasks: [task(M, 'nope')], input: examples }, status.INVALID_ARGUMENT, 'Requested signature not found in model graph: nope');
    await rejects(
      'PredictionService',
      'MultiInference',
      { tasks: [task(M, 'serving_default', 'tensorflow/serving/predict')], input: examples },
      status.UNIMPLEMENTED,
      'Unsupported signature method_name: tensorflow/serving/predict',
    );
    // The tasks' inputs differ (tf_example:0, x2:0): both are fed the serialized examples.
    await rejects(
      'PredictionService',
      'MultiInference',
      { tasks: [task(M, 'regress_x_to_y'), task(M, 'regress_x2_to_y3')], input: examples },
      status.INVALID_ARGUMENT,
      'Expects arg[1] to be float but string is provided',
    );
  });

  it('after the servable: signature, inputs, tensor and example checks as TF words them', T, async () => {
    await rejects('PredictionService', 'Predict', { model_spec: { name: M, signature_name: 'nope' }, inputs: x }, status.FAILED_PRECONDITION, 'Serving signature key "nope" not found.');
    await rejects(
      'PredictionService',
      'Predict',
      { model_spec: { name: M }, inputs: { ...x, z: x.x } },
      status.INVALID_ARGUMENT,
      'input size does not match signature: 2!=1 len({x,z}) != len({x}). Sent extra: {z}. Missing but required: {}.',
    );
    // 'Signature input alias: x(feed name: x:0) not found in request and no default value provided.
    // Inputs expected to be in the request {w}, or default input alias set: '
    await rejectsWithoutDetails('PredictionService', 'Predict', { model_spec: { name: M }, inputs: { w: x.x } }, status.INVALID_ARGUMENT);
    await rejects('PredictionService', 'Predict', { model_spec: { name: M }, inputs: { x: { tensor_shape: { dim: [{ size: 1 }] }, float_val: [1] } } }, status.INVALID_ARGUMENT, 'tensor parsing error: x');
    await rejects(
      'PredictionService',
      'Predict',
      { model_spec: { name: M }, inputs: { x: { dtype: 'DT_FLOAT', tensor_shape: { dim: [{ size: 2 }] }, tensor_content: Buffer.alloc(4) } } },
      status.INVALID_ARGUMENT,
      'tensor parsing error: x',
    );
    await rejects(
      'PredictionService',
      'Predict',
      { model_spec: { name: M }, inputs: { x: { dtype: 'DT_DOUBLE', tensor_shape: { dim: [{ size: 1 }] }, double_val: [1] } } },
      status.INVALID_ARGUMENT,
      'Expects arg[0] to be float but double is provided',
    );
    await rejects(
      'PredictionService',
      'Predict',
      { model_spec: { name: M }, inputs: x, output_filter: ['z'] },
      status.INVALID_ARGUMENT,
      'output tensor alias not found in signature: z Outputs expected to be in the set {y}.',
    );
    await rejects('PredictionService', 'Predict', { model_spec: { name: M }, inputs: x, output_filter: ['y', 'y'] }, status.INVALID_ARGUMENT, 'duplicate output tensor alias: y');
    await rejects('PredictionService', 'Classify', { model_spec: { name: M, signature_name: 'nope' }, input: examples }, status.INVALID_ARGUMENT, 'No signature was found with the name: nope');
    await rejects('PredictionService', 'Regress', { model_spec: { name: M, signature_name: 'regress_x_to_y' } }, status.INVALID_ARGUMENT, 'Input is empty.');
    await rejects(
      'PredictionService',
      'Regress',
      { model_spec: { name: M, signature_name: 'regress_x_to_y' }, input: { example_list: { examples: [{}] } } },
      status.INVALID_ARGUMENT,
      'Name: <unknown>, Feature: x (data type: float) is required but could not be found.\n\t [[{{node ParseExample/ParseExample}}]]',
    );
  });

  it('GetModelMetadata: metadata_field must be given and be signature_def (checked before the servable)', T, async () => {
    await rejects('PredictionService', 'GetModelMetadata', { model_spec: { name: 'nope' } }, status.INVALID_ARGUMENT, 'GetModelMetadataRequest must specify at least one metadata_field');
    await rejects('PredictionService', 'GetModelMetadata', { model_spec: { name: 'nope' }, metadata_field: ['signature_def', 'x'] }, status.INVALID_ARGUMENT, 'Metadata field x is not supported');
  });

  it('HandleReloadConfigRequest: TF validates the whole config; nothing changes on an error', T, async () => {
    const reload = (models: object[]): object => ({ config: { model_config_list: { config: models } } });
    const own = { name: M, base_path: '/models/m', model_platform: 'tensorflow' };
    await rejects(
      'ModelService',
      'HandleReloadConfigRequest',
      {},
      status.INVALID_ARGUMENT,
      'ServerModelConfig type not supported by HandleReloadConfigRequest. Only ModelConfigList is currently supported',
    );
    await rejects('ModelService', 'HandleReloadConfigRequest', reload([own, own]), status.INVALID_ARGUMENT, `Illegal to list model ${M} multiple times in config list`);
    await rejects(
      'ModelService',
      'HandleReloadConfigRequest',
      reload([{ ...own, base_path: 'models/m' }]),
      status.INVALID_ARGUMENT,
      `Expected model ${M} to have an absolute path or URI; got base_path()=models/m`,
    );
    await rejects(
      'ModelService',
      'HandleReloadConfigRequest',
      reload([{ ...own, model_platform: 'pytorch' }]),
      status.INVALID_ARGUMENT,
      `Illegal to change a model's platform. For model ${M} platform was tensorflow and new platform requested is pytorch`,
    );
    await rejects(
      'ModelService',
      'HandleReloadConfigRequest',
      reload([{ ...own, version_labels: { canary: 2 } }]),
      status.FAILED_PRECONDITION,
      `Request to assign label to version 2 of model ${M}, which is not currently available for inference`,
    );
    assert.deepEqual(sim.settings().labels, { stable: '1' });
  });

  it('a message longer than 1024 bytes is cut there and marked ...TRUNCATED, as TF Serving does', T, async () => {
    const name = 'm'.repeat(2000);
    const full = `Servable not found for request: Latest(${name})`;
    await rejects('PredictionService', 'Predict', { model_spec: { name }, inputs: x }, status.NOT_FOUND, `${full.slice(0, 1024)}...TRUNCATED`);
  });

  it('non-ASCII in a message travels percent-encoded and comes back intact', T, async () => {
    await rejects('PredictionService', 'Predict', { model_spec: { name: 'modèle 100%\u00a0' }, inputs: x }, status.NOT_FOUND, 'Servable not found for request: Latest(modèle 100%\u00a0)');
  });
});
