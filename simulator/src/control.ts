/**
 * The simulator's run-time settings (faults, version states, labels) and the validation of the
 * patches that change them, shared by the options of startSimulator, the handle's setters, the
 * CLI flags and the PUT /_sim/control endpoint.
 */
import { HTTP_STATUS_OF, type TfErrorCode } from '../../gateway/src/tfserving/errors.js';
import { parseInt64 } from '../../gateway/src/tfserving/path.js';
import { BEHAVIOURS, type Behaviour } from './model.js';

/** ModelVersionStatus.State. */
export type VersionState = 'UNKNOWN' | 'START' | 'LOADING' | 'AVAILABLE' | 'UNLOADING' | 'END';
export const VERSION_STATES: readonly VersionState[] = ['UNKNOWN', 'START', 'LOADING', 'AVAILABLE', 'UNLOADING', 'END'];

/** tensorflow.error.Code as StatusProto.error_code prints it. */
export type StatusCode = 'OK' | TfErrorCode;
export const STATUS_CODES: readonly StatusCode[] = ['OK', ...(Object.keys(HTTP_STATUS_OF) as TfErrorCode[])];

export interface VersionStatus {
  readonly state: VersionState;
  readonly errorCode: StatusCode;
  readonly errorMessage: string;
}

/** A version as the control endpoint and GET /_sim/control show it: TF's status plus what the version computes. */
export interface VersionSettings extends VersionStatus {
  readonly behaviour: Behaviour;
}

/**
 * A version's state, optionally with the status TF reports next to it (e.g. a failed load: END +
 * UNKNOWN) and the model it computes (left out: a version keeps its own, a new one takes the
 * instance's default), so one replica can serve different models under one name, as a base path
 * with several exported versions does.
 */
export type VersionSpec =
  | VersionState
  | { readonly state: VersionState; readonly errorCode?: StatusCode; readonly errorMessage?: string; readonly behaviour?: Behaviour };

/** A validated version entry of a patch; no behaviour: the version's own, or the default for a new one. */
export interface VersionChange extends VersionStatus {
  readonly behaviour?: Behaviour;
}

/** Which requests faults apply to: inference and metadata only, or status requests too. */
export type FaultScope = 'inference' | 'all';

export interface FaultSettings {
  /** Probability (0..1) that a request in scope is answered with `errorStatus`. */
  readonly errorRate: number;
  /** HTTP status of injected errors; one TF Serving can produce (400, 401, 403, 404, 409, 429, 499, 500, 501, 503, 504). */
  readonly errorStatus: number;
  /** Message of injected errors; null for the default one. */
  readonly errorMessage: string | null;
  /** Added before answering a request in scope. */
  readonly latencyMs: number;
  /** A uniformly random extra delay in [0, jitterMs]. */
  readonly jitterMs: number;
  /** Requests in scope are read and never answered. */
  readonly hang: boolean;
  /** Probability (0..1) that the connection is reset (TCP RST) instead of answering. */
  readonly resetRate: number;
  readonly scope: FaultScope;
}

export const DEFAULT_FAULTS: FaultSettings = {
  errorRate: 0,
  errorStatus: 500,
  errorMessage: null,
  latencyMs: 0,
  jitterMs: 0,
  hang: false,
  resetRate: 0,
  scope: 'inference',
};

/** The body of PUT /_sim/control, and of SimulatorHandle.update(). Every part is optional. */
export interface SettingsPatch {
  readonly faults?: Partial<FaultSettings>;
  /** Version number -> new state (a new number adds the version), or null to forget it. */
  readonly versions?: Readonly<Record<string, VersionSpec | null>>;
  /** Label -> version number, or null to remove the label. */
  readonly labels?: Readonly<Record<string, number | string | null>>;
}

export interface SimulatorSettings {
  readonly model: string;
  /** What a version added without a behaviour of its own computes. */
  readonly behaviour: Behaviour;
  readonly versions: Readonly<Record<string, VersionSettings>>;
  readonly labels: Readonly<Record<string, string>>;
  readonly faults: FaultSettings;
}

/** A validated patch, versions canonicalised. */
export interface ValidPatch {
  readonly faults: Partial<FaultSettings>;
  readonly versions: ReadonlyArray<readonly [string, VersionChange | null]>;
  readonly labels: ReadonlyArray<readonly [string, string | null]>;
}

export const ERROR_STATUSES: readonly number[] = [...new Set(Object.values(HTTP_STATUS_OF))].sort((a, b) => a - b);

const CODE_FOR_STATUS: Readonly<Record<number, TfErrorCode>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** The TF error code an injected error of that HTTP status stands for. */
export function codeForStatus(status: number): TfErrorCode {
  return CODE_FOR_STATUS[status] ?? 'INTERNAL';
}

export function defaultFaultMessage(status: number): string {
  return `tfserving-sim injected fault: ${codeForStatus(status)}`;
}

export class PatchError extends Error {}

/** Canonical version text (TF's int64 parse), or a PatchError. */
export function canonicalVersion(value: unknown, what: string): string {
  let text: string;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) text = String(value);
  else if (typeof value === 'string' && /^\d+$/.test(value)) text = value;
  else throw new PatchError(`${what} must be a non-negative integer version number, got ${JSON.stringify(value)}`);
  const canonical = parseInt64(text);
  if (canonical === null) throw new PatchError(`${what} does not fit in int64: ${text}`);
  return canonical;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function rate(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) throw new PatchError(`${what} must be a number between 0 and 1`);
  return v;
}

function millis(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 3_600_000) throw new PatchError(`${what} must be a number of milliseconds between 0 and 3600000`);
  return v;
}

function validateFaults(input: unknown): Partial<FaultSettings> {
  if (!isRecord(input)) throw new PatchError('faults must be an object');
  const out: { -readonly [K in keyof FaultSettings]?: FaultSettings[K] } = {};
  for (const [key, v] of Object.entries(input)) {
    switch (key) {
      case 'errorRate':
        out.errorRate = rate(v, 'faults.errorRate');
        break;
      case 'resetRate':
        out.resetRate = rate(v, 'faults.resetRate');
        break;
      case 'errorStatus':
        if (typeof v !== 'number' || !ERROR_STATUSES.includes(v)) {
          throw new PatchError(`faults.errorStatus must be one of ${ERROR_STATUSES.join(', ')}`);
        }
        out.errorStatus = v;
        break;
      case 'errorMessage':
        if (v !== null && typeof v !== 'string') throw new PatchError('faults.errorMessage must be a string or null');
        out.errorMessage = v;
        break;
      case 'latencyMs':
        out.latencyMs = millis(v, 'faults.latencyMs');
        break;
      case 'jitterMs':
        out.jitterMs = millis(v, 'faults.jitterMs');
        break;
      case 'hang':
        if (typeof v !== 'boolean') throw new PatchError('faults.hang must be true or false');
        out.hang = v;
        break;
      case 'scope':
        if (v !== 'inference' && v !== 'all') throw new PatchError('faults.scope must be "inference" or "all"');
        out.scope = v;
        break;
      default:
        throw new PatchError(`unknown field faults.${key} (known: ${Object.keys(DEFAULT_FAULTS).join(', ')})`);
    }
  }
  return out;
}

/** A behaviour name, or a PatchError naming the known ones. */
export function validateBehaviour(value: unknown, what: string): Behaviour {
  if (typeof value !== 'string' || !(BEHAVIOURS as readonly string[]).includes(value)) throw new PatchError(`${what} must be one of ${BEHAVIOURS.join(', ')}`);
  return value as Behaviour;
}

export function validateVersionSpec(spec: unknown, what: string): VersionChange {
  if (typeof spec === 'string') {
    if (!(VERSION_STATES as readonly string[]).includes(spec)) throw new PatchError(`${what} must be one of ${VERSION_STATES.join(', ')}`);
    return { state: spec as VersionState, errorCode: 'OK', errorMessage: '' };
  }
  if (!isRecord(spec)) throw new PatchError(`${what} must be a state name or an object {state, errorCode?, errorMessage?, behaviour?}`);
  for (const key of Object.keys(spec)) {
    if (key !== 'state' && key !== 'errorCode' && key !== 'errorMessage' && key !== 'behaviour') throw new PatchError(`unknown field ${what}.${key}`);
  }
  const state = spec['state'];
  if (typeof state !== 'string' || !(VERSION_STATES as readonly string[]).includes(state)) {
    throw new PatchError(`${what}.state must be one of ${VERSION_STATES.join(', ')}`);
  }
  const code = spec['errorCode'] ?? 'OK';
  if (typeof code !== 'string' || !(STATUS_CODES as readonly string[]).includes(code)) {
    throw new PatchError(`${what}.errorCode must be one of ${STATUS_CODES.join(', ')}`);
  }
  const message = spec['errorMessage'] ?? '';
  if (typeof message !== 'string') throw new PatchError(`${what}.errorMessage must be a string`);
  const status: VersionStatus = { state: state as VersionState, errorCode: code as StatusCode, errorMessage: message };
  return spec['behaviour'] === undefined ? status : { ...status, behaviour: validateBehaviour(spec['behaviour'], `${what}.behaviour`) };
}

/** Checks a whole patch before anything is applied; throws PatchError with a message for the client. */
export function validatePatch(input: unknown): ValidPatch {
  if (!isRecord(input)) throw new PatchError('the body must be a JSON object with any of "faults", "versions", "labels"');
  let faults: Partial<FaultSettings> = {};
  const versions: Array<readonly [string, VersionChange | null]> = [];
  const labels: Array<readonly [string, string | null]> = [];
  for (const [key, value] of Object.entries(input)) {
    if (key === 'faults') {
      faults = validateFaults(value);
    } else if (key === 'versions') {
      if (!isRecord(value)) throw new PatchError('versions must be an object mapping version numbers to states');
      for (const [v, spec] of Object.entries(value)) {
        const version = canonicalVersion(v, `versions key "${v}"`);
        versions.push([version, spec === null ? null : validateVersionSpec(spec, `versions["${v}"]`)]);
      }
    } else if (key === 'labels') {
      if (!isRecord(value)) throw new PatchError('labels must be an object mapping labels to version numbers');
      for (const [label, v] of Object.entries(value)) {
        if (label === '') throw new PatchError('a label must not be empty');
        labels.push([label, v === null ? null : canonicalVersion(v, `labels["${label}"]`)]);
      }
    } else {
      throw new PatchError(`unknown field ${key} (known: faults, versions, labels)`);
    }
  }
  return { faults, versions, labels };
}
