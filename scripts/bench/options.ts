/** npm run bench's command line: the sections, the run lengths, the rates. */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export const SECTIONS = ['throughput', 'latency', 'grpc', 'replicas', 'rules', 'memory', 'control-plane'] as const;
export type Section = (typeof SECTIONS)[number];

export const HELP = `Usage: npm run bench [-- options]

Measures throughput through: direct to the backend, nginx (1 worker), fastify + @fastify/reply-from,
http-proxy-3 and the gateway; latency added at fixed rates next to nginx and a bare Node forwarder;
gRPC calls/s through the gateway, nginx grpc_pass, a grpc-js proxy and the gRPC Node floor; then the further figures.
Needs nginx, wrk (throughput, replicas, rules, memory) and h2load (grpc):
apt-get install nginx wrk nghttp2-client. Progress on stderr, tables on stdout and in bench-results/.

Options (defaults in brackets):
  --sections LIST         throughput,latency,grpc,replicas,rules,memory,control-plane [all]
  --rounds N              rounds over the targets [3]
  --duration S            seconds per target per round [10]
  --warmup S              seconds of warm-up per target, not counted [2]
  --connections N         connections of wrk and of the latency section's generator [50]
  --threads N             wrk and h2load threads [2]
  --rates LIST            open-loop rates of the latency section, req/s [2000,5000]
  --latency-duration S    seconds per latency run [8]
  --latency-rounds N      latency runs per target and rate, alternated [2]
  --grpc-clients N        h2load connections of the gRPC section [10]
  --grpc-streams N        concurrent calls per h2load connection [10]
  --grpc-rate N           open-loop rate of the gRPC latency figure, calls/s [2000]
  --large-calls N         8 MiB Predict calls timed per target and round [5]
  --memory-connections N  connections of the memory figure [1000]
  --replicas N            replicas per pool of the many-replica figure [200]
  --subset N              subsetSize of the many-replica figure's subset run [10]
  --rules N               header rules of the many-rule figure [1000]
  --baseline DIR          another build of the gateway (a checkout with its dist/ built, e.g. a git
                          worktree of an earlier commit) run beside this one in the latency section,
                          with that build's own node flags, its CPU per request and added p99 given
                          as this build's ratio to it; in the gRPC section, one more target
  --out DIR               results directory [bench-results]
  -h, --help
`;

export interface Options {
  readonly sections: ReadonlySet<Section>;
  readonly rounds: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly connections: number;
  readonly threads: number;
  readonly rates: readonly number[];
  readonly latencyDurationS: number;
  readonly latencyRounds: number;
  readonly grpcClients: number;
  readonly grpcStreams: number;
  readonly grpcRate: number;
  readonly largeCalls: number;
  readonly memoryConnections: number;
  readonly replicas: number;
  readonly subset: number;
  readonly rules: number;
  readonly out: string;
  /** The gateway entry point of another build (--baseline), or undefined. */
  readonly baselineMain: string | undefined;
}

export class UsageError extends Error {}

/** The built gateway entry point of the checkout at `dir`. */
export function baselineMain(dir: string): string {
  const main = resolve(dir, 'dist', 'gateway', 'src', 'main.js');
  if (!existsSync(main)) throw new UsageError(`--baseline ${dir}: no ${main} (build that checkout first: npm run build)`);
  return main;
}

/**
 * The node flags a build's launchers pass (its own GATEWAY_NODE_FLAGS, read from beside `main`), so
 * that this build and a baseline build each run as they would be started.
 */
export async function nodeFlagsOf(main: string): Promise<readonly string[]> {
  const heap = resolve(dirname(main), 'runtime', 'heap.js');
  if (!existsSync(heap)) throw new UsageError(`${main}: no ${heap} beside it`);
  const mod = (await import(pathToFileURL(heap).href)) as { GATEWAY_NODE_FLAGS?: readonly string[] };
  return mod.GATEWAY_NODE_FLAGS ?? [];
}

export function readOptions(argv: readonly string[]): Options | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      sections: { type: 'string', default: SECTIONS.join(',') },
      rounds: { type: 'string', default: '3' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string', default: '50' },
      threads: { type: 'string', default: '2' },
      rates: { type: 'string', default: '2000,5000' },
      'latency-duration': { type: 'string', default: '8' },
      'latency-rounds': { type: 'string', default: '2' },
      'grpc-clients': { type: 'string', default: '10' },
      'grpc-streams': { type: 'string', default: '10' },
      'grpc-rate': { type: 'string', default: '2000' },
      'large-calls': { type: 'string', default: '5' },
      'memory-connections': { type: 'string', default: '1000' },
      replicas: { type: 'string', default: '200' },
      subset: { type: 'string', default: '10' },
      rules: { type: 'string', default: '1000' },
      out: { type: 'string', default: 'bench-results' },
      baseline: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help === true) return 'help';
  const int = (name: string, raw: string, min: number, max: number): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${raw}"`);
    return n;
  };
  const sections = new Set<Section>();
  for (const name of values.sections.split(',').map((x) => x.trim()).filter(Boolean)) {
    if (!(SECTIONS as readonly string[]).includes(name)) throw new UsageError(`unknown section "${name}" (sections: ${SECTIONS.join(', ')})`);
    sections.add(name as Section);
  }
  if (sections.size === 0) throw new UsageError('--sections names no section');
  return {
    sections,
    rounds: int('rounds', values.rounds, 1, 100),
    durationS: int('duration', values.duration, 1, 3600),
    warmupS: int('warmup', values.warmup, 0, 600),
    connections: int('connections', values.connections, 1, 10_000),
    threads: int('threads', values.threads, 1, 64),
    rates: values.rates.split(',').map((x) => int('rates', x.trim(), 1, 100_000)),
    latencyDurationS: int('latency-duration', values['latency-duration'], 1, 3600),
    latencyRounds: int('latency-rounds', values['latency-rounds'], 1, 100),
    grpcClients: int('grpc-clients', values['grpc-clients'], 1, 1000),
    grpcStreams: int('grpc-streams', values['grpc-streams'], 1, 1000),
    grpcRate: int('grpc-rate', values['grpc-rate'], 1, 100_000),
    largeCalls: int('large-calls', values['large-calls'], 1, 1000),
    memoryConnections: int('memory-connections', values['memory-connections'], 1, 10_000),
    replicas: int('replicas', values.replicas, 2, 5000),
    subset: int('subset', values.subset, 1, 5000),
    rules: int('rules', values.rules, 2, 10_000),
    out: values.out,
    baselineMain: values.baseline === undefined ? undefined : baselineMain(values.baseline),
  };
}
