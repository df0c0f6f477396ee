/**
 * The configuration schema's defaults field by field, read from the schema alone, and where the
 * loaded configuration keeps each field: what the loader tests and the reference test hold the
 * loader and docs/configuration.md to.
 */
import { resolveConfig, type GatewayConfig } from '../../gateway/src/config/load.js';
import { GatewayConfigSchema } from '../../gateway/src/config/schema.js';

interface Node {
  readonly default?: unknown;
  readonly properties?: Readonly<Record<string, Node>>;
  readonly patternProperties?: Readonly<Record<string, Node>>;
  readonly items?: Node;
  readonly anyOf?: readonly Node[];
}

/** Map keys as the reference writes them. */
const KEYS: Readonly<Record<string, string>> = { models: '<model>', 'models.<model>.pools': '<version>' };

export interface SchemaDefault {
  /** As docs/configuration.md writes it: `proxy.deadlineMs`, `models.<model>.policy.percent`. */
  readonly path: string;
  readonly value: unknown;
}

/** Every field a default stands in for, an object's default spelt out field by field. */
export function schemaDefaults(node: Node = GatewayConfigSchema as unknown as Node, path = ''): SchemaDefault[] {
  const out: SchemaDefault[] = [];
  const join = (key: string) => (path === '' ? key : `${path}.${key}`);
  const value = node.default;
  if (value !== undefined) {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      for (const [key, inner] of Object.entries(value)) out.push({ path: join(key), value: inner });
    } else {
      out.push({ path, value });
    }
  }
  for (const [key, child] of Object.entries(node.properties ?? {})) out.push(...schemaDefaults(child, join(key)));
  for (const child of Object.values(node.patternProperties ?? {})) out.push(...schemaDefaults(child, join(KEYS[path] ?? '<key>')));
  if (node.items !== undefined) out.push(...schemaDefaults(node.items, `${path}[]`));
  // A union that is null by default (a policy's shadow): its options' defaults apply only once one is given.
  if (value !== null) for (const option of node.anyOf ?? []) out.push(...schemaDefaults(option, path));
  return out;
}

export const PROBE_MODEL = 'probe-model';

/** The smallest file: one model whose policy names only its stable version. */
export const MINIMAL_FILE = { models: { [PROBE_MODEL]: { pools: { '1': { replicas: ['http://10.0.0.1:8501'] } }, policy: { stable: 1 } } } };

/** The smallest Redis store that has every Redis-only section (tls, sentinelTls) given, empty. */
export const REDIS_STORE = { type: 'redis', sentinels: [{ host: '10.0.0.9', port: 26379 }], sentinelName: 'main', tls: {}, sentinelTls: {} };

/** Where a loaded configuration keeps what a file's field sets, where it is not under the same name. */
const PLACES: ReadonlyArray<[string, (config: GatewayConfig) => unknown]> = [
  ['listeners.rest', (c) => c.rest],
  ['listeners.grpc', (c) => c.grpc],
  ['listeners.admin', (c) => c.admin],
  ['admin.tokens', (c) => c.adminTokens],
  ['admin.cors.origins', (c) => c.adminCorsOrigins],
  // The minimal file's first model, its first pool (the loader lists pools by version).
  [`models.<model>.pools.<version>`, (c) => c.models[0]?.pools[0]],
  [`models.<model>.discover`, (c) => c.models[0]?.discover],
  [`models.<model>`, (c) => c.models[0]],
  // The top-level sections that only stand in for a model's own: seen in a model that has none.
  ['healthCheck', (c) => c.models[0]?.healthCheck],
  ['resilience', (c) => c.models[0]?.resilience],
];

/** The loaded value of the field at `path` (a path as schemaDefaults writes it). */
export function loadedAt(config: GatewayConfig, path: string): unknown {
  const place = PLACES.find(([prefix]) => path === prefix || path.startsWith(`${prefix}.`));
  let value: unknown = place === undefined ? config : place[1](config);
  const rest = place === undefined ? path : path.slice(place[0].length + 1);
  for (const segment of rest === '' ? [] : rest.split('.')) {
    if (segment.endsWith('[]') || segment.startsWith('<')) throw new Error(`${path}: no single loaded value for a list item or a map entry`);
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

/** What the loader makes of a file with nothing but the models (and `extra`), in an empty environment. */
export function loadMinimal(extra: Record<string, unknown> = {}): GatewayConfig {
  return resolveConfig({ ...MINIMAL_FILE, ...extra }, 'test', {});
}
