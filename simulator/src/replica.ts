/**
 * What one simulated model server knows, shared by its REST and gRPC ports: the model, its
 * versions and their states, version labels, the injected faults and the request counters. Both
 * ports resolve servables, count requests and draw faults here, so they can never disagree.
 */
import {
  servableNotFoundLatest,
  servableNotFoundSpecific,
  unrecognizedLabel,
  noSuchVersion,
  noVersionsOfModel,
} from '../../gateway/src/tfserving/errors.js';
import type { StatusCodeName } from '../../gateway/src/tfserving/protos.js';
import type { TfOperation } from '../../gateway/src/tfserving/path.js';
import {
  DEFAULT_FAULTS,
  codeForStatus,
  defaultFaultMessage,
  validatePatch,
  type FaultSettings,
  type SettingsPatch,
  type SimulatorSettings,
  type ValidPatch,
  type VersionSettings,
} from './control.js';
import { BEHAVIOURS, Model, type Behaviour, type Result, type TfError } from './model.js';

export type Protocol = 'rest' | 'grpc';


/** What a request does: TF Serving's REST APIs, plus the gRPC-only methods; 'other' is anything malformed. */
export type CountedOperation = TfOperation | 'multiInference' | 'reloadConfig' | 'other';

export interface SimulatorCounters {
  /** Requests received on the TF ports, REST and gRPC (the control endpoint excluded). */
  readonly total: number;
  readonly byProtocol: Readonly<Record<Protocol, number>>;
  /**
   * By API, both ports: a gRPC method counts as its REST twin (GetModelStatus as status,
   * GetModelMetadata as metadata, ...). 'other' is malformed paths, non-/v1 paths, disallowed
   * methods, OPTIONS, and gRPC calls the server does not implement or cannot read.
   */
  readonly byOperation: Readonly<Record<CountedOperation, number>>;
  /** Inference and metadata requests by the version they target (explicit, via label, or latest AVAILABLE). */
  readonly byVersion: Readonly<Record<string, number>>;
  /** REST answers by HTTP status (resets and hangs have none). */
  readonly byStatus: Readonly<Record<string, number>>;
  /** gRPC answers by status code name (OK, NOT_FOUND, ...; resets and hangs have none). */
  readonly byGrpcStatus: Readonly<Record<string, number>>;
  readonly faults: { readonly errors: number; readonly resets: number; readonly hangs: number; readonly delayed: number };
}

/** The servable a request names: a model, and a version or a label (neither: the latest). */
export interface ServableTarget {
  readonly model: string;
  readonly version?: string | undefined;
  readonly label?: string | undefined;
}

/** What the faults make of a request in scope, drawn once when it arrives. */
export type FaultPlan = { readonly kind: 'reset' } | { readonly kind: 'hang' } | { readonly kind: 'answer'; readonly delayMs: number };

/** An injected error: the HTTP status the REST port answers with, the TF code the gRPC port uses. */
export interface InjectedError extends TfError {
  readonly httpStatus: number;
}

type MutableCounters = {
  total: number;
  byProtocol: Record<Protocol, number>;
  byOperation: Record<CountedOperation, number>;
  byVersion: Record<string, number>;
  byStatus: Record<string, number>;
  byGrpcStatus: Record<string, number>;
  faults: { errors: number; resets: number; hangs: number; delayed: number };
};

function zeroCounters(): MutableCounters {
  return {
    total: 0,
    byProtocol: { rest: 0, grpc: 0 },
    byOperation: { status: 0, metadata: 0, predict: 0, classify: 0, regress: 0, multiInference: 0, reloadConfig: 0, other: 0 },
    byVersion: {},
    byStatus: {},
    byGrpcStatus: {},
    faults: { errors: 0, resets: 0, hangs: 0, delayed: 0 },
  };
}

/** Version numbers are canonical decimal strings: shorter is smaller. */
export function compareVersions(a: string, b: string): number {
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
}

function fail(code: TfError['code'], message: string): { ok: false; error: TfError } {
  return { ok: false, error: { code, message } };
}

export interface ReplicaOptions {
  readonly modelName: string;
  /** What a version computes unless it has a behaviour of its own. */
  readonly behaviour: Behaviour;
  readonly versions: readonly string[];
  readonly initial: ValidPatch;
  /** Behaviours of single versions (canonical version numbers), each one the replica serves. */
  readonly behaviours?: ReadonlyMap<string, Behaviour>;
  readonly random: () => number;
}

export class Replica {
  readonly modelName: string;
  /** The default behaviour: a version added without one computes this. */
  readonly behaviour: Behaviour;
  /** One Model per behaviour, shared by the versions computing it (they are stateless). */
  private readonly models = new Map<Behaviour, Model>();
  private readonly versions = new Map<string, VersionSettings>();
  private readonly labels = new Map<string, string>();
  private currentFaults: FaultSettings = DEFAULT_FAULTS;
  private tally: MutableCounters = zeroCounters();
  private readonly random: () => number;

  constructor(options: ReplicaOptions) {
    this.modelName = options.modelName;
    this.behaviour = options.behaviour;
    if (!BEHAVIOURS.includes(this.behaviour)) throw new RangeError(`unknown behaviour ${String(options.behaviour)} (known: ${BEHAVIOURS.join(', ')})`);
    for (const b of BEHAVIOURS) this.models.set(b, new Model(b));
    this.random = options.random;
    for (const v of options.versions) this.versions.set(v, { state: 'AVAILABLE', errorCode: 'OK', errorMessage: '', behaviour: this.behaviour });
    if (this.versions.size === 0) throw new RangeError('at least one version is needed');
    this.apply(options.initial);
    for (const [v, b] of options.behaviours ?? []) {
      const current = this.versions.get(v);
      // A behaviour for a version nobody serves is a typo more often than a wish to add one.
      if (current === undefined) throw new RangeError(`a behaviour is given for version ${v}, which is not served (versions: ${[...this.versions.keys()].sort(compareVersions).join(', ')})`);
      if (!BEHAVIOURS.includes(b)) throw new RangeError(`unknown behaviour ${String(b)} for version ${v} (known: ${BEHAVIOURS.join(', ')})`);
      this.versions.set(v, { ...current, behaviour: b });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Settings

  get faults(): FaultSettings {
    return this.currentFaults;
  }

  settings(): SimulatorSettings {
    const versions: Record<string, VersionSettings> = {};
    for (const v of [...this.versions.keys()].sort(compareVersions)) versions[v] = this.versions.get(v) as VersionSettings;
    return {
      model: this.modelName,
      behaviour: this.behaviour,
      versions,
      labels: Object.fromEntries(this.labels),
      faults: this.currentFaults,
    };
  }

  update(patch: SettingsPatch): SimulatorSettings {
    this.apply(validatePatch(patch));
    return this.settings();
  }

  clearFaults(): SimulatorSettings {
    this.currentFaults = DEFAULT_FAULTS;
    return this.settings();
  }

  private apply(patch: ValidPatch): void {
    this.currentFaults = { ...this.currentFaults, ...patch.faults };
    for (const [version, change] of patch.versions) {
      if (change === null) {
        this.versions.delete(version);
        continue;
      }
      const behaviour = change.behaviour ?? this.versions.get(version)?.behaviour ?? this.behaviour;
      this.versions.set(version, { state: change.state, errorCode: change.errorCode, errorMessage: change.errorMessage, behaviour });
    }
    for (const [label, version] of patch.labels) {
      if (version === null) this.labels.delete(label);
      else this.labels.set(label, version);
    }
  }

  /** The label map as a reloaded model config sets it: the whole map replaced. */
  replaceLabels(labels: ReadonlyMap<string, string>): void {
    this.labels.clear();
    for (const [label, version] of labels) this.labels.set(label, version);
  }

  /** A reloaded config without the model: every version unloads (END), as TF keeps it listed. */
  unloadAll(): void {
    for (const [v, s] of this.versions) this.versions.set(v, { state: 'END', errorCode: 'OK', errorMessage: '', behaviour: s.behaviour });
  }

  /** The model a served version computes (its own behaviour); `version` comes from resolve(). */
  modelOf(version: string): Model {
    const behaviour = this.versions.get(version)?.behaviour ?? this.behaviour;
    return this.models.get(behaviour) as Model;
  }

  isAvailable(version: string): boolean {
    return this.versions.get(version)?.state === 'AVAILABLE';
  }

  // -------------------------------------------------------------------------------------------
  // Servables

  latestAvailable(): string | undefined {
    let best: string | undefined;
    for (const [v, s] of this.versions) {
      if (s.state === 'AVAILABLE' && (best === undefined || compareVersions(v, best) > 0)) best = v;
    }
    return best;
  }

  /** ServerCore::GetServableHandle: label -> version, then only AVAILABLE versions are served. */
  resolve(target: ServableTarget): Result<string> {
    if (target.label !== undefined) {
      const v = target.model === this.modelName ? this.labels.get(target.label) : undefined;
      if (v === undefined) return fail('INVALID_ARGUMENT', unrecognizedLabel(target.label));
      return this.specific(target.model, v);
    }
    if (target.version !== undefined) return this.specific(target.model, target.version);
    const latest = target.model === this.modelName ? this.latestAvailable() : undefined;
    if (latest === undefined) return fail('NOT_FOUND', servableNotFoundLatest(target.model));
    return { ok: true, value: latest };
  }

  private specific(model: string, version: string): Result<string> {
    if (model !== this.modelName || !this.isAvailable(version)) return fail('NOT_FOUND', servableNotFoundSpecific(model, version));
    return { ok: true, value: version };
  }

  /** GetModelStatusImpl: a label is ignored, only an explicit version narrows the answer; highest first. */
  versionStatuses(model: string, version: string | undefined): Result<Array<readonly [string, VersionSettings]>> {
    const known = model === this.modelName;
    let versions: string[];
    if (version !== undefined) {
      if (!known || !this.versions.has(version)) return fail('NOT_FOUND', noSuchVersion(model, version));
      versions = [version];
    } else {
      if (!known || this.versions.size === 0) return fail('NOT_FOUND', noVersionsOfModel(model));
      versions = [...this.versions.keys()].sort((a, b) => compareVersions(b, a));
    }
    return { ok: true, value: versions.map((v) => [v, this.versions.get(v) as VersionSettings] as const) };
  }

  private attributedVersion(target: ServableTarget): string | undefined {
    if (target.model !== this.modelName) return undefined;
    if (target.label !== undefined) return this.labels.get(target.label);
    if (target.version !== undefined) return this.versions.has(target.version) ? target.version : undefined;
    return this.latestAvailable();
  }

  // -------------------------------------------------------------------------------------------
  // Counters

  /** One request arrived; inference and metadata requests also count for the version they target. */
  countRequest(protocol: Protocol, operation: CountedOperation, target?: ServableTarget): void {
    const c = this.tally;
    c.total++;
    c.byProtocol[protocol]++;
    c.byOperation[operation]++;
    if (target === undefined || operation === 'status' || operation === 'reloadConfig' || operation === 'other') return;
    const version = this.attributedVersion(target);
    if (version !== undefined) c.byVersion[version] = (c.byVersion[version] ?? 0) + 1;
  }

  countHttpStatus(status: number): void {
    this.tally.byStatus[status] = (this.tally.byStatus[status] ?? 0) + 1;
  }

  countGrpcStatus(code: StatusCodeName): void {
    this.tally.byGrpcStatus[code] = (this.tally.byGrpcStatus[code] ?? 0) + 1;
  }

  counters(): SimulatorCounters {
    const c = this.tally;
    return {
      total: c.total,
      byProtocol: { ...c.byProtocol },
      byOperation: { ...c.byOperation },
      byVersion: { ...c.byVersion },
      byStatus: { ...c.byStatus },
      byGrpcStatus: { ...c.byGrpcStatus },
      faults: { ...c.faults },
    };
  }

  resetCounters(): SimulatorCounters {
    this.tally = zeroCounters();
    return this.counters();
  }

  // -------------------------------------------------------------------------------------------
  // Faults

  /** Whether faults reach a request of this kind: inference and metadata, or everything with scope "all". */
  faultsApply(operation: CountedOperation): boolean {
    if (operation === 'other') return false;
    if (operation === 'status' || operation === 'reloadConfig') return this.currentFaults.scope === 'all';
    return true;
  }

  /** Draws the reset, hang and delay faults for a request in scope (in that order, as documented). */
  planFaults(): FaultPlan {
    const f = this.currentFaults;
    if (f.resetRate > 0 && this.random() < f.resetRate) {
      this.tally.faults.resets++;
      return { kind: 'reset' };
    }
    if (f.hang) {
      this.tally.faults.hangs++;
      return { kind: 'hang' };
    }
    const delayMs = f.latencyMs + (f.jitterMs > 0 ? this.random() * f.jitterMs : 0);
    if (delayMs > 0) this.tally.faults.delayed++;
    return { kind: 'answer', delayMs };
  }

  /** Draws the error fault once the delay is over: the error to answer with, or null to serve. */
  injectedError(): InjectedError | null {
    const f = this.currentFaults;
    if (!(f.errorRate > 0 && this.random() < f.errorRate)) return null;
    this.tally.faults.errors++;
    return { httpStatus: f.errorStatus, code: codeForStatus(f.errorStatus), message: f.errorMessage ?? defaultFaultMessage(f.errorStatus) };
  }
}
