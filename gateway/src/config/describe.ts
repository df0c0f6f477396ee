/**
 * What `canary-gateway validate` prints for a valid file: what it declares, as the gateway would
 * run it (defaults filled in, environment overrides applied), so an operator can compare it with
 * what they meant before rolling it out. Secrets never appear: tokens by name and role only, a
 * Redis URL without its password.
 */
import type { GatewayConfig, ListenerSettings, ModelSpec, StoreSettings } from './load.js';
import { ENV_VARIABLES } from './env.js';

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable url)';
  }
}

function describeStore(store: StoreSettings): string {
  if (store.type === 'memory') return 'memory (this gateway only)';
  const where =
    store.url !== undefined
      ? redactUrl(store.url)
      : store.sentinels !== undefined
        ? `sentinels ${store.sentinels.map((s) => `${s.host}:${s.port}`).join(', ')} (master ${store.sentinelName ?? '?'})`
        : `cluster ${(store.cluster ?? []).map((s) => `${s.host}:${s.port}`).join(', ')}`;
  const extras = [
    store.tls !== undefined ? 'TLS' : '',
    store.password !== undefined ? 'password set' : '',
    `key prefix ${store.keyPrefix}`,
  ].filter((s) => s !== '');
  return `redis ${where} (${extras.join(', ')})`;
}

function describePolicy(model: ModelSpec): string {
  const p = model.policy;
  const parts = [`stable ${p.stable}`];
  if (p.canary !== null) parts.push(`canary ${p.canary} at ${p.percent}%`);
  else parts.push('no canary');
  if (p.headerRules.length > 0) parts.push(plural(p.headerRules.length, 'header rule'));
  if (p.cookieRules.length > 0) parts.push(plural(p.cookieRules.length, 'cookie rule'));
  if (p.sticky !== null) {
    const keys = [p.sticky.header && `header ${p.sticky.header}`, p.sticky.cookie && `cookie ${p.sticky.cookie}`].filter(Boolean);
    parts.push(`sticky by ${keys.join(', then ')}`);
  }
  if (p.plan !== null) parts.push(`rollout plan ${p.plan.steps.join(' > ')}%`);
  return parts.join(', ');
}

function describeListener(name: string, listener: ListenerSettings): string {
  const tls = listener.tls === undefined ? '' : listener.tls.clientCaFile === undefined ? ' (TLS)' : ' (TLS, client certificates required)';
  return `${name} ${listener.host}:${listener.port}${tls}`;
}

/** Said when some replica is https or the section sets anything: the default for none is no line. */
function describeReplicaTls(config: GatewayConfig): string | undefined {
  const tls = config.replicaTls;
  const https = config.models.some((m) => m.pools.some((p) => p.replicas.some((r) => r.url.startsWith('https:'))));
  if (!https && tls.caFile === undefined && tls.certFile === undefined && tls.servername === undefined && tls.rejectUnauthorized) return undefined;
  const parts = [
    `CA ${tls.caFile ?? "Node's bundled"}`,
    `client certificate ${tls.certFile ?? 'none'}`,
    ...(tls.servername === undefined ? [] : [`server name ${tls.servername}`]),
    ...(tls.rejectUnauthorized ? [] : ['server certificates NOT verified']),
  ];
  return `  replicas   TLS: ${parts.join(', ')}`;
}

export function describeConfig(file: string, config: GatewayConfig, env: NodeJS.ProcessEnv): string {
  const tokens =
    config.adminTokens.length === 0
      ? 'none given: one operator token is generated at start and printed once'
      : config.adminTokens.map((t) => `${t.name} (${t.role})`).join(', ');
  const lines = [
    `${file}: valid`,
    `  listeners  ${describeListener('REST', config.rest)}, ${describeListener('gRPC', config.grpc)}, ${describeListener('admin', config.admin)}`,
    `  store      ${describeStore(config.store)}`,
    `  tokens     ${tokens}`,
    `  CORS       ${config.adminCorsOrigins.length === 0 ? 'off' : config.adminCorsOrigins.join(', ')}`,
    `  labels     stable "${config.labels.stable}", canary "${config.labels.canary}"`,
    `  models     ${config.models.length}`,
  ];
  const replicaTls = describeReplicaTls(config);
  if (replicaTls !== undefined) lines.splice(lines.length - 1, 0, replicaTls);
  for (const model of config.models) {
    const pools = model.pools.map((p) => `${p.version} (${plural(p.replicas.length, 'replica')})`).join(', ');
    lines.push(`    ${model.name}`, `      pools   ${pools}`, `      policy  ${describePolicy(model)}`);
  }
  const overrides = Object.keys(ENV_VARIABLES).filter((name) => name !== 'GATEWAY_CONFIG' && (env[name] ?? '') !== '');
  if (overrides.length > 0) lines.push(`  environment overrides: ${overrides.join(', ')}`);
  lines.push('  not checked: that replicas answer, that host names resolve, what the store holds');
  return lines.join('\n') + '\n';
}
