/**
 * Command-line flags of tfserving-sim -> SimulatorOptions (kept apart from main.ts so that tests
 * can check the parsing without starting a server).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BEHAVIOURS, ERROR_STATUSES, VERSION_STATES, type Behaviour, type FaultSettings, type SimulatorHandle, type SimulatorOptions, type SimulatorTls, type VersionSpec } from './server.js';

export const USAGE = `Usage: tfserving-sim [options]

A TensorFlow Serving replica (half_plus_two / half_plus_three): REST, optionally gRPC, with fault injection.

  --host <addr>            interface to bind (default 127.0.0.1)
  --port <n>               REST port, 0 for any free one (default 8501)
  --grpc-port <n>          also serve gRPC on this port, 0 for any free one (default: no gRPC)
  --model <name>           model name (default half_plus_two)
  --version <n>            a version number; repeat for several (default 1)
  --versions <n,n,...>     version numbers, comma-separated
  --behaviour <b>          ${BEHAVIOURS.join(' | ')} (default half_plus_two), for every version
  --behaviour <v>=<b>      what version v computes instead; repeatable
  --state <v>=<STATE>      initial state of version v (${VERSION_STATES.join(', ')}); repeatable
  --label <name>=<v>       version label; repeatable
  --load-delay-ms <n>      keep the ports closed this long, as TF does while loading models
  --error-rate <0..1>      fraction of requests answered with an injected error
  --error-status <code>    HTTP status of injected errors (${ERROR_STATUSES.join(', ')}; default 500)
  --error-message <text>   message of injected errors
  --latency-ms <n>         delay added to every request in scope
  --jitter-ms <n>          extra random delay, uniform in [0, n]
  --hang                   read requests in scope and never answer them
  --reset-rate <0..1>      fraction of requests reset unanswered (REST: the connection; gRPC: the stream)
  --fault-scope <s>        inference (inference + metadata, default) | all (status too)
  --cors                   CORS headers on every /v1 answer (--rest_api_enable_cors_support)
  --no-control             do not serve /_sim/control and /_sim/counters
  --tls-cert <file>        HTTPS with this PEM certificate (with --tls-key)
  --tls-key <file>         the certificate's PEM private key
  --tls-client-ca <file>   require client certificates chaining to these PEM CAs (mutual TLS)
  -h, --help               this text

Run-time control: GET/PUT http://host:port/_sim/control, GET/DELETE http://host:port/_sim/counters.`;

export class UsageError extends Error {}

function number(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${flag} expects a number, got "${value}"`);
  return n;
}

function pairs(values: readonly string[] | undefined, flag: string): Array<[string, string]> {
  return (values ?? []).map((v) => {
    const i = v.indexOf('=');
    if (i <= 0 || i === v.length - 1) throw new UsageError(`${flag} expects name=value, got "${v}"`);
    return [v.slice(0, i), v.slice(i + 1)];
  });
}

export function optionsFromArgs(argv: readonly string[]): SimulatorOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'grpc-port': { type: 'string' },
      model: { type: 'string' },
      version: { type: 'string', multiple: true },
      versions: { type: 'string' },
      behaviour: { type: 'string', multiple: true },
      behavior: { type: 'string', multiple: true },
      state: { type: 'string', multiple: true },
      label: { type: 'string', multiple: true },
      'load-delay-ms': { type: 'string' },
      'error-rate': { type: 'string' },
      'error-status': { type: 'string' },
      'error-message': { type: 'string' },
      'latency-ms': { type: 'string' },
      'jitter-ms': { type: 'string' },
      hang: { type: 'boolean' },
      'reset-rate': { type: 'string' },
      'fault-scope': { type: 'string' },
      cors: { type: 'boolean' },
      'no-control': { type: 'boolean' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-client-ca': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) return 'help';
  const versions = [...(values.version ?? []), ...(values.versions?.split(',').map((v) => v.trim()) ?? [])];
  for (const v of versions) if (!/^\d+$/.test(v)) throw new UsageError(`version numbers are non-negative integers, got "${v}"`);
  const { behaviour, behaviours } = behaviourFlags([...(values.behaviour ?? []), ...(values.behavior ?? [])]);
  const faults: { -readonly [K in keyof FaultSettings]?: FaultSettings[K] } = {};
  const set = <K extends keyof FaultSettings>(key: K, value: FaultSettings[K] | undefined): void => {
    if (value !== undefined) faults[key] = value;
  };
  set('errorRate', number(values['error-rate'], '--error-rate'));
  set('errorStatus', number(values['error-status'], '--error-status'));
  set('errorMessage', values['error-message']);
  set('latencyMs', number(values['latency-ms'], '--latency-ms'));
  set('jitterMs', number(values['jitter-ms'], '--jitter-ms'));
  set('resetRate', number(values['reset-rate'], '--reset-rate'));
  if (values.hang === true) faults.hang = true;
  const scope = values['fault-scope'];
  if (scope !== undefined) {
    if (scope !== 'inference' && scope !== 'all') throw new UsageError('--fault-scope must be inference or all');
    faults.scope = scope;
  }
  const versionStates: Record<string, VersionSpec> = {};
  for (const [v, state] of pairs(values.state, '--state')) versionStates[v] = state.toUpperCase() as VersionSpec;
  const labels: Record<string, string> = Object.fromEntries(pairs(values.label, '--label'));
  const port = number(values.port, '--port') ?? 8501;
  const tls = tlsFromFiles(values['tls-cert'], values['tls-key'], values['tls-client-ca']);
  const grpcPort = number(values['grpc-port'], '--grpc-port');
  return {
    host: values.host ?? '127.0.0.1',
    port,
    ...(grpcPort === undefined ? {} : { grpcPort }),
    model: values.model ?? 'half_plus_two',
    versions: versions.length > 0 ? versions : [1],
    behaviour,
    ...(Object.keys(behaviours).length === 0 ? {} : { behaviours }),
    versionStates,
    labels,
    faults,
    loadDelayMs: number(values['load-delay-ms'], '--load-delay-ms') ?? 0,
    cors: values.cors === true,
    controlEndpoint: values['no-control'] !== true,
    ...(tls === undefined ? {} : { tls }),
  };
}

/** `--behaviour b` (at most once: the default) and `--behaviour v=b` (one version each). */
function behaviourFlags(values: readonly string[]): { behaviour: Behaviour; behaviours: Record<string, Behaviour> } {
  const known = (b: string, flag: string): Behaviour => {
    if (!(BEHAVIOURS as readonly string[]).includes(b)) throw new UsageError(`${flag} must be one of ${BEHAVIOURS.join(', ')}, got "${b}"`);
    return b as Behaviour;
  };
  let behaviour: Behaviour | undefined;
  const behaviours: Record<string, Behaviour> = {};
  for (const value of values) {
    const i = value.indexOf('=');
    if (i < 0) {
      if (behaviour !== undefined) throw new UsageError('--behaviour without a version (the default for every version) is given twice');
      behaviour = known(value, '--behaviour');
      continue;
    }
    const [v, b] = [value.slice(0, i), value.slice(i + 1)];
    if (!/^\d+$/.test(v)) throw new UsageError(`--behaviour <v>=<b> expects a version number before "=", got "${value}"`);
    if (behaviours[v] !== undefined) throw new UsageError(`--behaviour is given twice for version ${v}`);
    behaviours[v] = known(b, `--behaviour ${v}=`);
  }
  return { behaviour: behaviour ?? 'half_plus_two', behaviours };
}

function tlsFromFiles(cert: string | undefined, key: string | undefined, clientCa: string | undefined): SimulatorTls | undefined {
  if (cert === undefined && key === undefined) {
    if (clientCa !== undefined) throw new UsageError('--tls-client-ca needs --tls-cert and --tls-key');
    return undefined;
  }
  if (cert === undefined || key === undefined) throw new UsageError('--tls-cert and --tls-key go together');
  const read = (file: string, flag: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (e) {
      throw new UsageError(`${flag}: cannot read ${file}: ${(e as Error).message}`);
    }
  };
  return {
    cert: read(cert, '--tls-cert'),
    key: read(key, '--tls-key'),
    ...(clientCa === undefined ? {} : { clientCa: read(clientCa, '--tls-client-ca') }),
  };
}

/**
 * `tfserving-sim listening on http://h:p [grpc://h:p] model=... versions=... behaviour=...`; versions
 * computing something else than the default follow it as `,v=b`, as the flags spell them (one
 * token, so the line keeps its shape for scripts that parse it).
 */
export function listeningLine(sim: SimulatorHandle): string {
  const grpc = sim.grpcAddress === null ? '' : ` grpc://${sim.grpcAddress}`;
  const versions = Object.entries(sim.settings().versions);
  const others = versions.filter(([, s]) => s.behaviour !== sim.behaviour).map(([v, s]) => `,${v}=${s.behaviour}`);
  return `tfserving-sim listening on ${sim.url}${grpc} model=${sim.model} versions=${versions.map(([v]) => v).join(',')} behaviour=${sim.behaviour}${others.join('')}`;
}

