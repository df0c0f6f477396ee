/**
 * ModelService.HandleReloadConfigRequest on a one-model server (model_service_impl.cc and
 * ServerCore::ReloadConfig): the new ModelConfigList is validated as TF validates it, then its
 * version labels replace the model's, and a list without the model unloads every version of it.
 * Other models in the list are accepted and not served (the simulator serves one model); version
 * policies are not applied.
 */
import type { ModelConfigMessage, ReloadConfigRequestMessage, ReloadConfigResponseMessage } from '../../../gateway/src/tfserving/protos.js';
import type { Result, TfError } from '../model.js';
import type { Replica } from '../replica.js';

/** The platform every simulated model has, as a SavedModel's. */
const PLATFORM = 'tensorflow';
// ModelType.TENSORFLOW, the deprecated spelling of that platform.
const MODEL_TYPE_TENSORFLOW = 1;

function fail(code: TfError['code'], message: string): { ok: false; error: TfError } {
  return { ok: false, error: { code, message } };
}

/** io::ParseURI sees no scheme://host and the path does not start with '/'. */
function isRelativePath(uri: string): boolean {
  return !/^[A-Za-z][0-9A-Za-z.]*:\/\//.test(uri) && !uri.startsWith('/');
}

/** GetPlatform. */
function platformOf(config: ModelConfigMessage): Result<string> {
  const name = config.name ?? '';
  const type = config.model_type ?? 0;
  const platform = config.model_platform ?? '';
  if (type !== 0) {
    if (platform !== '') {
      return fail('INVALID_ARGUMENT', `Illegal setting both ModelServerConfig::model_type (deprecated) and ModelServerConfig::model_platform, model name is ${name}`);
    }
    if (type === MODEL_TYPE_TENSORFLOW) return { ok: true, value: PLATFORM };
    return fail('INVALID_ARGUMENT', `ModelServerConfig::model_type choice ${type} not supported.`);
  }
  if (platform === '') {
    return fail('INVALID_ARGUMENT', `Illegal setting neither ModelServerConfig::model_type (deprecated) nor ModelServerConfig::model_platform, model name is ${name}`);
  }
  return { ok: true, value: platform };
}

export function reloadConfig(replica: Replica, request: ReloadConfigRequestMessage): Result<ReloadConfigResponseMessage> {
  const list = request.config?.model_config_list;
  if (list === undefined) {
    return fail('INVALID_ARGUMENT', 'ServerModelConfig type not supported by HandleReloadConfigRequest. Only ModelConfigList is currently supported');
  }
  const configs = list.config ?? [];
  // ValidateModelConfigList
  const names = new Set<string>();
  for (const c of configs) {
    const name = c.name ?? '';
    if (names.has(name)) return fail('INVALID_ARGUMENT', `Illegal to list model ${name} multiple times in config list`);
    names.add(name);
  }
  for (const c of configs) {
    const path = c.base_path ?? '';
    if (isRelativePath(path)) return fail('INVALID_ARGUMENT', `Expected model ${c.name ?? ''} to have an absolute path or URI; got base_path()=${path}`);
  }
  // ValidateNoModelsChangePlatforms: only the served model is in the current config.
  const own = configs.find((c) => (c.name ?? '') === replica.modelName);
  if (own !== undefined) {
    const platform = platformOf(own);
    if (!platform.ok) return platform;
    if (platform.value !== PLATFORM) {
      return fail(
        'INVALID_ARGUMENT',
        `Illegal to change a model's platform. For model ${replica.modelName} platform was ${PLATFORM} and new platform requested is ${platform.value}`,
      );
    }
  }
  // UpdateModelVersionLabelMap: a label may only name an AVAILABLE version.
  const labels = new Map<string, string>();
  for (const c of configs) {
    const name = c.name ?? '';
    for (const [label, version] of Object.entries(c.version_labels ?? {})) {
      if (name !== replica.modelName || !replica.isAvailable(version)) {
        return fail('FAILED_PRECONDITION', `Request to assign label to version ${version} of model ${name}, which is not currently available for inference`);
      }
      labels.set(label, version);
    }
  }
  replica.replaceLabels(labels);
  if (own === undefined) replica.unloadAll();
  // The metrics asked for, with their increase over the reload (none move in a simulator).
  const metric = (request.metric_names ?? []).map((name) => ({ name, int64_value_increase: '0' }));
  return { ok: true, value: { status: {}, metric } };
}
