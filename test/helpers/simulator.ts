/**
 * TF Serving replicas for tests: in-process (startReplica) or as a child process running the CLI
 * (spawnReplica). Both bind 127.0.0.1 on a free port. Spawned children get an IPC channel, so they
 * exit with the test process even if a test forgets stop(); a process 'exit' hook kills any left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimulator, type Behaviour, type FaultSettings, type SimulatorHandle, type SimulatorOptions, type VersionState } from '../../simulator/src/server.js';

export type { SimulatorHandle, SimulatorOptions } from '../../simulator/src/server.js';

/** The compiled CLI, next to this file in dist/. */
export const SIMULATOR_MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../simulator/src/main.js');

/** An in-process replica on 127.0.0.1 and a free port. Close it (t.after / finally). */
export function startReplica(options: Omit<SimulatorOptions, 'host' | 'port'> = {}): Promise<SimulatorHandle> {
  return startSimulator({ ...options, host: '127.0.0.1', port: 0 });
}

export interface SpawnReplicaOptions {
  readonly model?: string;
  readonly versions?: ReadonlyArray<number | string>;
  readonly behaviour?: Behaviour;
  /** What single versions compute (`--behaviour v=b`). */
  readonly behaviours?: Readonly<Record<string, Behaviour>>;
  readonly versionStates?: Readonly<Record<string, VersionState>>;
  readonly labels?: Readonly<Record<string, number | string>>;
  readonly faults?: Partial<FaultSettings>;
  readonly loadDelayMs?: number;
  readonly cors?: boolean;
  readonly controlEndpoint?: boolean;
  /** A port to use instead of 0 (e.g. one reserved to watch a load delay). */
  readonly port?: number;
  /** Also serve gRPC (--grpc-port): 0 for a free port. */
  readonly grpcPort?: number;
  /** More raw flags. */
  readonly extraArgs?: readonly string[];
  /** How long to wait for the listening line (on top of loadDelayMs). Default 10 s. */
  readonly startTimeoutMs?: number;
}

export interface SpawnedReplica {
  readonly url: string;
  readonly port: number;
  /** The gRPC port, when started with one. */
  readonly grpcPort: number | null;
  /** 127.0.0.1:<grpcPort>, what gRPC clients take, when started with a gRPC port. */
  readonly grpcAddress: string | null;
  readonly pid: number;
  /** The line the CLI printed. */
  readonly line: string;
  readonly child: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): boolean;
  /** SIGTERM, then SIGKILL if it has not exited within 5 s. Resolves with the exit code. */
  stop(): Promise<number | null>;
  /** What the child wrote to stderr so far. */
  stderr(): string;
  /** What the child wrote to stdout so far. */
  stdout(): string;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/** The CLI flags equivalent to the options. */
export function replicaArgs(options: SpawnReplicaOptions): string[] {
  const args = ['--host', '127.0.0.1', '--port', String(options.port ?? 0)];
  if (options.grpcPort !== undefined) args.push('--grpc-port', String(options.grpcPort));
  if (options.model !== undefined) args.push('--model', options.model);
  for (const v of options.versions ?? []) args.push('--version', String(v));
  if (options.behaviour !== undefined) args.push('--behaviour', options.behaviour);
  for (const [v, b] of Object.entries(options.behaviours ?? {})) args.push('--behaviour', `${v}=${b}`);
  for (const [v, s] of Object.entries(options.versionStates ?? {})) args.push('--state', `${v}=${s}`);
  for (const [l, v] of Object.entries(options.labels ?? {})) args.push('--label', `${l}=${v}`);
  if (options.loadDelayMs !== undefined) args.push('--load-delay-ms', String(options.loadDelayMs));
  const f = options.faults ?? {};
  if (f.errorRate !== undefined) args.push('--error-rate', String(f.errorRate));
  if (f.errorStatus !== undefined) args.push('--error-status', String(f.errorStatus));
  if (f.errorMessage !== undefined && f.errorMessage !== null) args.push('--error-message', f.errorMessage);
  if (f.latencyMs !== undefined) args.push('--latency-ms', String(f.latencyMs));
  if (f.jitterMs !== undefined) args.push('--jitter-ms', String(f.jitterMs));
  if (f.hang === true) args.push('--hang');
  if (f.resetRate !== undefined) args.push('--reset-rate', String(f.resetRate));
  if (f.scope !== undefined) args.push('--fault-scope', f.scope);
  if (options.cors === true) args.push('--cors');
  if (options.controlEndpoint === false) args.push('--no-control');
  args.push(...(options.extraArgs ?? []));
  return args;
}

const LINE_RE = /^tfserving-sim listening on (https?:\/\/127\.0\.0\.1:(\d+))(?: grpc:\/\/(127\.0\.0\.1:(\d+)))? model=\S+ versions=\S+ behaviour=\S+$/;

/**
 * Runs the CLI (process.execPath on dist/simulator/src/main.js) and waits for its
 * listening line. On a timeout or an early exit the child is killed and the promise rejects with
 * its stderr.
 */
export function spawnReplica(options: SpawnReplicaOptions = {}): Promise<SpawnedReplica> {
  installExitHook();
  const child = spawn(process.execPath, [SIMULATOR_MAIN, ...replicaArgs(options)], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  live.add(child);
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    err += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolveExit({ code, signal });
    });
  });
  // The IPC channel is only there to tie the child's life to ours; it must not keep us alive.
  child.channel?.unref();

  const stop = async (): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    const { code } = await exited;
    clearTimeout(timer);
    return code;
  };

  const timeoutMs = (options.startTimeoutMs ?? 10_000) + (options.loadDelayMs ?? 0);
  return new Promise<SpawnedReplica>((resolveStart, rejectStart) => {
    let settled = false;
    const failStart = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      void exited.then(() => rejectStart(new Error(`tfserving-sim did not start: ${why}; stderr: ${err.trim()}`)));
    };
    const timer = setTimeout(() => failStart(`no listening line within ${timeoutMs} ms`), timeoutMs);
    void exited.then(({ code, signal }) => failStart(`exited early (code ${String(code)}, signal ${String(signal)})`));
    child.stdout?.on('data', (d: string) => {
      out += d;
      const nl = out.indexOf('\n');
      if (settled || nl < 0) return;
      const line = out.slice(0, nl);
      const m = LINE_RE.exec(line);
      if (m === null) {
        failStart(`unexpected output ${JSON.stringify(line)}`);
        return;
      }
      settled = true;
      clearTimeout(timer);
      resolveStart({
        url: m[1] as string,
        port: Number(m[2]),
        grpcPort: m[4] === undefined ? null : Number(m[4]),
        grpcAddress: m[3] ?? null,
        pid: child.pid as number,
        line,
        child,
        exited,
        kill: (signal: NodeJS.Signals = 'SIGTERM') => child.kill(signal),
        stop,
        stderr: () => err,
        stdout: () => out,
      });
    });
  });
}
