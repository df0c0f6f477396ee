/**
 * docs/reliability.md, from the chaos and adversarial suites' own output: each scenario writes
 * what it measured to test-results/reliability/ (scripts/lib/reliability-records.ts), this script turns
 * those records into one table per suite and adds the security model.
 *
 *   npm run docs:reliability          build, run the suites, write the document
 *   node dist/scripts/docs/reliability-report.js --no-run   only render the last run's records
 *
 * A suite that fails still gets its records published (a missed target shows as missed), and the
 * script then exits non-zero.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RELIABILITY_DIR, type ScenarioRecord } from '../lib/reliability-records.js';

interface SuiteInfo {
  readonly title: string;
  readonly tests: string;
  readonly intro: string;
}

export const SUITES: Readonly<Record<string, SuiteInfo>> = {
  chaos: {
    title: 'Chaos under load',
    tests: 'test/chaos/',
    intro:
      'Two gateway processes share a persistent redis-server (append-only, fsync always) in front of replica simulator processes (3 of version 1, 2 of version 2). ' +
      'Clients reach the gateways through a balancer that sends new requests only to gateways whose `/readyz` answers 200 (polled every 100 ms), as a Kubernetes Service does. ' +
      'Six kinds of request run side by side the whole time: over REST keyless, keyed (sticky cohort), pinned to version 1 and pinned to version 2; over gRPC (grpc-js, a channel per gateway) keyless Predict and Predict pinned to version 2. ' +
      'A request fails when it gets anything but a 200 (gRPC: OK) with the prediction of the version it was meant for. ' +
      'The settings are in test/chaos/chaos-stack.ts (health checks every 250 ms, attempt timeout 400 ms, readiness delay 600 ms); the automatic rollback is off so the only policy writes are the suite\'s.',
  },
  'data-port': {
    title: 'Adversarial input on the data port',
    tests: 'test/adversarial/data-port*.test.ts',
    intro:
      'A gateway process (memory store) in front of simulated replicas and a recording replica that keeps what reached it. ' +
      'Requests are written on raw sockets so nothing is normalised on the way. ' +
      'Each probe must get a clear TF Serving-style error (or a closed connection where HTTP/1.1 allows nothing else), nothing smuggled or injected may reach a replica, and the process must stay up with bounded memory.',
  },
  'default-limits': {
    title: 'Hostile clients at the default limits',
    tests: 'test/adversarial/default-limits*.test.ts',
    intro:
      'A gateway process with every limit at its default (maxBodyBytes 32 MiB, retryBufferBytes 4 MiB...) in front of simulated replicas. ' +
      'Each scenario is what one client, careless or hostile, can send at those limits. ' +
      'Figures are read off the gateway process: its event-loop delay (the largest since the previous scrape of `nodejs_eventloop_lag_max_seconds`, prom-client\'s monitorEventLoopDelay) and the latency of status requests another client sends meanwhile.',
  },
  grpc: {
    title: 'Adversarial input on the gRPC port',
    tests: 'test/adversarial/grpc.test.ts',
    intro:
      'A gateway process (memory store, proxy.maxBodyBytes 1 MiB, deadline 2 s) in front of simulated replicas serving gRPC: two for the good calls, and one for the model the probes name, so whatever reaches it came from a probe. ' +
      'While each scenario runs, a well-behaved grpc-js client keeps calling Predict (two at a time): every one of its calls must succeed. ' +
      'What clients can send is sent with node:http2; what none would (a bad preface, broken frames, streams past the advertised limit, thousands of streams opened and reset at once) is written frame by frame on a raw socket. ' +
      'Each probe must get a clear answer (a gRPC status as TF Serving gives it, or for a broken connection a GOAWAY and a close), nothing may reach a replica that should not, and the process must stay up with bounded memory.',
  },
  'admin-api': {
    title: 'Admin API fuzzing and token attacks',
    tests: 'test/adversarial/admin-api*.test.ts',
    intro:
      'Property-based (fast-check): generated invalid policies and rule sets, each built from a valid document with at least one mutation that must be refused. ' +
      'Every one must get 400 with `details` naming the broken field, and the stored policy (revision, document, audit trail) must be unchanged, on the memory and the Redis store. ' +
      'Token attacks must get 401 (or 403 for a viewer\'s write) and change nothing.',
  },
};

const SECURITY_MODEL = `## Security model

**Ports.**

| port | default bind | exposes | authentication |
|---|---|---|---|
| REST (data) | \`0.0.0.0:8501\` | TF Serving's REST API only: \`/v1/models/...\` (status, metadata, predict, classify, regress). Nothing of the admin API, the UI, metrics or probes is reachable here; every other path gets TF Serving's own 404. | none (as TF Serving): put it behind your network policy or an authenticating ingress |
| gRPC (data) | \`0.0.0.0:8500\` | TF Serving's gRPC API only: \`tensorflow.serving.PredictionService\` (Predict, Classify, Regress, MultiInference, GetModelMetadata) and \`ModelService/GetModelStatus\`; \`HandleReloadConfigRequest\` is answered UNIMPLEMENTED, never forwarded; \`grpc.health.v1.Health\` reports the gateway's readiness; every other method is UNIMPLEMENTED. | none (as TF Serving); TLS with \`listeners.grpc.tls\` |
| admin | \`127.0.0.1:9901\` | \`/api/...\` (admin API, OpenAPI document, event stream), \`/\` (the admin UI's static files), \`/metrics\`, \`/healthz\`, \`/readyz\` | bearer token on \`/api/...\`; the UI holds the token in the browser's session storage; \`/metrics\` and the probes are open (bind the port to a private network) |

**Tokens and roles.** Tokens come from \`admin.tokens\` in the configuration (name, token, role) or
\`ADMIN_TOKEN\` (operator) and \`ADMIN_VIEWER_TOKEN\` (viewer); without any, the gateway generates an
operator token at start and prints it once. A viewer reads (models, audit, events, session, the
OpenAPI document); an operator also writes (percent, rules, policy, rollback, promote, plan, pause,
resume, abort, replicas). Requests carry \`Authorization: Bearer <token>\` (the scheme is
case-insensitive, RFC 9110); anything else gets 401 with \`WWW-Authenticate: Bearer\`, a viewer's
write gets 403. Tokens are compared by hash with \`timingSafeEqual\`, against every configured token,
so the time taken does not tell how much of a token matched or which one. Tokens in the query string
are not accepted. CORS is off unless \`admin.cors.origins\` names the origins.

**What is never logged.** Tokens (configured, generated after their one announcement, or presented),
\`Authorization\` and \`Cookie\` headers, request and response bodies, and header values used by
routing rules or the sticky key. The access log (off by default) records request id, method, URL,
status, version and duration only. The audit trail records the token's *name*, never the token.

**Towards replicas.** Hop-by-hop headers and the headers a \`Connection\` header names are not
forwarded; \`x-request-id\` is set by the gateway (a client's well-formed id is kept); requests whose
framing is ambiguous (\`Content-Length\` with \`Transfer-Encoding\`, repeated lengths) are refused
before anything is forwarded.
`;

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

const n = (value: number): string => value.toLocaleString('en-US');

/** "12 × 400 TF error", most frequent first. */
const counts = (tally: Readonly<Record<string, number>>): string[] =>
  Object.entries(tally)
    .sort((a, b) => b[1] - a[1])
    .map(([what, count]) => `${n(count)} × ${what}`);

export function renderReport(records: readonly ScenarioRecord[], generatedAt: Date, machine: string): string {
  const lines: string[] = [];
  const met = records.filter((r) => r.met).length;
  lines.push('# Reliability and security', '');
  lines.push(
    `Generated by \`npm run docs:reliability\` (scripts/docs/reliability-report.ts) on ${generatedAt.toISOString().slice(0, 10)} ` +
      `from the suites' own records in test-results/reliability/; do not edit by hand. Machine: ${machine}.`,
    '',
  );
  lines.push(`**${met} of ${records.length} scenarios met their target.** The same suites run in CI (\`npm test\`), where a missed target fails the build.`, '');
  for (const [suite, info] of Object.entries(SUITES)) {
    const rows = records.filter((r) => r.suite === suite);
    lines.push(`## ${info.title}`, '', `Tests: \`${info.tests}\`. ${info.intro}`, '');
    if (rows.length === 0) {
      lines.push('_No records: the suite did not run._', '');
      continue;
    }
    lines.push('| scenario | load | fault | requests | failed | excused | result |', '|---|---|---|---:|---:|---:|---|');
    for (const r of rows) {
      const result = r.met ? `met: ${r.target}` : `**missed**: ${r.target}`;
      lines.push(`| ${cell(r.scenario)} | ${cell(r.load)} | ${cell(r.fault)} | ${n(r.requests)} | ${n(r.failures)} | ${n(r.excused ?? 0)} | ${cell(result)} |`);
    }
    lines.push('');
    const details = rows.filter((r) => r.notes !== undefined || Object.keys(r.reasons).length > 0 || Object.keys(r.answers ?? {}).length > 0);
    if (details.length > 0) {
      lines.push('Details:', '');
      for (const r of details) {
        const answers = counts(r.answers ?? {});
        const reasons = counts(r.reasons);
        const parts = [
          r.notes,
          answers.length > 0 ? `answers: ${answers.join('; ')}` : undefined,
          reasons.length > 0 ? `failed or excused: ${reasons.join('; ')}` : undefined,
        ].filter((p) => p !== undefined);
        lines.push(`- **${cell(r.scenario)}** (${(r.durationMs / 1_000).toFixed(1)} s): ${cell(parts.join('. '))}`);
      }
      lines.push('');
    }
  }
  lines.push(SECURITY_MODEL);
  lines.push('## Reproduce', '', '```sh', 'npm install', 'npm run docs:reliability   # runs test/chaos and test/adversarial, rewrites this file', '```', '');
  return lines.join('\n');
}

export function readRecords(dir: string = RELIABILITY_DIR): ScenarioRecord[] {
  if (!existsSync(dir)) return [];
  const order = Object.keys(SUITES);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as ScenarioRecord & { recordedAt: string })
    .sort((a, b) => order.indexOf(a.suite) - order.indexOf(b.suite) || a.recordedAt.localeCompare(b.recordedAt));
}

function main(): void {
  const { values } = parseArgs({ options: { 'no-run': { type: 'boolean', default: false }, out: { type: 'string' } } });
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  let suitesPassed = true;
  if (!values['no-run']) {
    rmSync(RELIABILITY_DIR, { recursive: true, force: true });
    const run = spawnSync(process.execPath, ['--test', '--test-timeout=300000', 'dist/test/chaos/', 'dist/test/adversarial/'], { cwd: root, stdio: 'inherit' });
    suitesPassed = run.status === 0;
  }
  const records = readRecords();
  const missing = Object.keys(SUITES).filter((s) => !records.some((r) => r.suite === s));
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  const out = values.out ?? join(root, 'docs', 'reliability.md');
  writeFileSync(out, renderReport(records, new Date(), `${cpus().length} × ${cpu}, Node ${process.version}`));
  process.stdout.write(`wrote ${out}: ${records.length} scenarios, ${records.filter((r) => r.met).length} met\n`);
  if (missing.length > 0) process.stderr.write(`no records for: ${missing.join(', ')}\n`);
  if (!suitesPassed || missing.length > 0 || records.some((r) => !r.met)) process.exitCode = 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
