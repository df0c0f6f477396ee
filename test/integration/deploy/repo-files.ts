/**
 * Reading the deployment files of the repository (Dockerfile, docker-compose.yml, manifests) the
 * way Docker and Compose read them, for the deploy tests. There is no Docker engine on our machines,
 * so these tests check structure and run the health check commands against local stand-ins.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

/** The repository root (this file runs from dist/test/integration/deploy/). */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

export function repoPath(relative: string): string {
  return resolve(REPO, relative);
}

export function readRepoFile(relative: string): string {
  return readFileSync(repoPath(relative), 'utf8');
}

// ---------------------------------------------------------------------------------------------
// Dockerfile

export interface Instruction {
  /** Upper case: FROM, RUN, COPY... */
  readonly keyword: string;
  /** Everything after the keyword, continuation lines joined. */
  readonly args: string;
  readonly line: number;
}

export interface Stage {
  readonly base: string;
  readonly name: string | undefined;
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  /** ARGs before the first FROM. */
  readonly preamble: readonly Instruction[];
  readonly stages: readonly Stage[];
}

/** Joins `\` continuations, drops comments and blank lines (as the Dockerfile parser does). */
export function parseDockerfile(text: string): Dockerfile {
  const instructions: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const first = i + 1;
    let line = (lines[i] ?? '').trimEnd();
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      line = line.slice(0, -1);
      i++;
      const next = (lines[i] ?? '').trimEnd();
      if (next.trimStart().startsWith('#')) continue; // comment lines inside a continuation are skipped
      line += ` ${next.trim()}`;
    }
    const match = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (match === null) throw new Error(`Dockerfile line ${first}: cannot parse "${line}"`);
    instructions.push({ keyword: (match[1] as string).toUpperCase(), args: (match[2] as string).replace(/\s+/g, ' ').trim(), line: first });
  }
  const preamble: Instruction[] = [];
  const stages: Array<{ base: string; name: string | undefined; instructions: Instruction[] }> = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const [base, as, name] = instruction.args.split(' ');
      stages.push({ base: base ?? '', name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else if (stages.length === 0) {
      preamble.push(instruction);
    } else {
      stages[stages.length - 1]!.instructions.push(instruction);
    }
  }
  return { preamble, stages };
}

/** The exec-form array of an instruction (`["node", "-e", "..."]`), after any leading text. */
export function execForm(args: string): string[] {
  const start = args.indexOf('[');
  if (start < 0) throw new Error(`not in exec form: ${args}`);
  const value: unknown = JSON.parse(args.slice(start));
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new Error(`not a JSON array of strings: ${args}`);
  return value as string[];
}

// ---------------------------------------------------------------------------------------------
// Compose

export interface ComposeService {
  readonly image?: string;
  readonly build?: string | { readonly context?: string; readonly dockerfile?: string };
  readonly command?: string | readonly string[];
  readonly entrypoint?: string | readonly string[];
  readonly environment?: Readonly<Record<string, string | number | null>> | readonly string[];
  readonly volumes?: ReadonlyArray<string | { readonly type?: string; readonly source?: string; readonly target: string; readonly read_only?: boolean }>;
  readonly ports?: ReadonlyArray<string | number | { readonly target: number; readonly published?: string | number; readonly host_ip?: string }>;
  readonly depends_on?: readonly string[] | Readonly<Record<string, { readonly condition?: string }>>;
  readonly healthcheck?: {
    readonly test?: string | readonly string[];
    readonly disable?: boolean;
    readonly interval?: string;
    readonly timeout?: string;
    readonly retries?: number;
    readonly start_period?: string;
  };
  readonly container_name?: string;
  readonly secrets?: readonly string[];
  readonly restart?: string;
  readonly stop_grace_period?: string;
  readonly platform?: string;
  readonly [key: string]: unknown;
}

export interface ComposeFile {
  readonly services: Readonly<Record<string, ComposeService>>;
  readonly volumes?: Readonly<Record<string, unknown>>;
  readonly secrets?: Readonly<Record<string, { readonly environment?: string; readonly file?: string }>>;
  readonly [key: string]: unknown;
}

/** docker-compose.yml as Compose reads it (YAML merge keys `<<:` resolved). */
export function loadCompose(relative = 'docker-compose.yml'): ComposeFile {
  return parseYaml(readRepoFile(relative), { merge: true }) as ComposeFile;
}

export interface Mount {
  readonly source: string;
  readonly target: string;
  readonly readOnly: boolean;
  /** A host path (bind mount), as opposed to a named volume. */
  readonly bind: boolean;
}

export function mounts(service: ComposeService): Mount[] {
  return (service.volumes ?? []).map((v) => {
    if (typeof v !== 'string') {
      const source = v.source ?? '';
      return { source, target: v.target, readOnly: v.read_only === true, bind: v.type === 'bind' };
    }
    const [source = '', target = '', mode = ''] = v.split(':');
    return { source, target, readOnly: mode.split(',').includes('ro'), bind: /^[./~]/.test(source) };
  });
}

export interface PortMapping {
  readonly hostIp: string | undefined;
  /** First and last host port of the published range (equal for a single port). */
  readonly published: readonly [number, number] | undefined;
  readonly target: number;
}

/** Short syntax `[host_ip:][published[-end]:]target[/protocol]`, or the long syntax. */
export function portMappings(service: ComposeService): PortMapping[] {
  return (service.ports ?? []).map((p) => {
    if (typeof p === 'object') {
      const published = p.published === undefined ? undefined : range(String(p.published));
      return { hostIp: p.host_ip, published, target: p.target };
    }
    const parts = String(p).replace(/\/(tcp|udp)$/, '').split(':');
    const target = Number(parts.pop());
    const published = parts.length > 0 ? range(parts.pop() as string) : undefined;
    return { hostIp: parts.length > 0 ? parts.join(':') : undefined, published, target };
  });
}

function range(text: string): [number, number] {
  const [a, b] = text.split('-');
  return [Number(a), Number(b ?? a)];
}

/** depends_on in its long form (the short form means service_started). */
export function dependencies(service: ComposeService): Record<string, string> {
  const deps = service.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries((deps as string[]).map((d) => [d, 'service_started']));
  return Object.fromEntries(Object.entries(deps as Record<string, { condition?: string }>).map(([k, v]) => [k, v.condition ?? 'service_started']));
}

export function commandArgs(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  return typeof value === 'string' ? value.split(/\s+/).filter(Boolean) : [...value];
}

/** Compose's `$$` is a literal `$` in the container. */
export function unescapeCompose(text: string): string {
  return text.replace(/\$\$/g, '$');
}

/** Compose durations: 1m30s, 40s, 500ms. */
export function durationMs(text: string): number {
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)/g;
  let matched = '';
  for (const m of text.matchAll(re)) {
    matched += m[0];
    const n = Number(m[1]);
    const unit = m[2];
    total += unit === 'h' ? n * 3_600_000 : unit === 'm' ? n * 60_000 : unit === 's' ? n * 1000 : unit === 'ms' ? n : unit === 'us' ? n / 1000 : n / 1e6;
  }
  if (matched !== text) throw new Error(`not a duration: ${text}`);
  return total;
}

// ---------------------------------------------------------------------------------------------
// Processes and a stand-in admin port

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command without blocking the event loop (in-process servers must keep answering). */
export function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 20_000, cwd?: string): Promise<RunResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

export interface StubAdmin {
  readonly port: number;
  /** Status per path; a path not listed gets 404. */
  readonly statuses: Map<string, number>;
  readonly requests: string[];
  close(): Promise<void>;
}

/** A stand-in for the gateway's admin port, answering /healthz and /readyz as told. */
export async function startStubAdmin(statuses: Record<string, number>): Promise<StubAdmin> {
  const map = new Map(Object.entries(statuses));
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const status = map.get(req.url ?? '') ?? 404;
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ status }));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    statuses: map,
    requests,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((ok) => server.close(() => ok()));
  return port;
}
