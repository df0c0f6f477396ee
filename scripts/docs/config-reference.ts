#!/usr/bin/env node
/**
 * The configuration reference, docs/configuration.md, generated from what the gateway itself uses:
 * the TypeBox schema of the file (gateway/src/config/schema.ts: structure, types, bounds and the
 * `description` of each field), the loader's defaults (gateway/src/config/load.ts: DEFAULT_PROXY,
 * DEFAULT_HEALTH_CHECK, DEFAULT_RESILIENCE, and the inline ones, read by resolving a minimal file)
 * and the environment variables (gateway/src/config/env.ts). A test compares the committed file with
 * what this script renders, so a schema change without `npm run docs:config` fails the build.
 *
 *   npm run docs:config                                  writes docs/configuration.md
 *   node dist/scripts/docs/config-reference.js --check        exits 1 if the file is not up to date
 *
 * Fields whose schema has no description get one from FIELD_NOTES below; the test also fails on a
 * note that names no field or that the schema's own description has made useless, so move such
 * texts into the schema's `description` and delete them here.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENV_VARIABLES } from '../../gateway/src/config/env.js';
import { DEFAULT_HEALTH_CHECK, DEFAULT_PROXY, DEFAULT_RESILIENCE, resolveConfig } from '../../gateway/src/config/load.js';
import { GatewayConfigSchema } from '../../gateway/src/config/schema.js';

/** The generated file, from the repository root. */
export const CONFIG_REFERENCE_PATH = 'docs/configuration.md';

/** The JSON Schema keywords TypeBox emits that the reference reads. */
interface SchemaNode {
  readonly type?: string | readonly string[];
  readonly description?: string;
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly required?: readonly string[];
  readonly patternProperties?: Readonly<Record<string, SchemaNode>>;
  readonly items?: SchemaNode;
  readonly anyOf?: readonly SchemaNode[];
  readonly const?: unknown;
  readonly default?: unknown;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly exclusiveMinimum?: number;
  readonly exclusiveMaximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: string;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly minProperties?: number;
}

/** How a map's keys are written in a field path. */
const KEY_PLACEHOLDERS: Readonly<Record<string, string>> = {
  models: '<model>',
  'models.<model>.pools': '<version>',
};

/** Meanings for fields whose schema has no `description` (the schema's text wins when it has one). */
const FIELD_NOTES: Readonly<Record<string, string>> = {
  listeners: 'The two ports the gateway opens.',
  'listeners.rest': 'TF Serving\'s REST API: where clients send `/v1/models/...` requests.',
  'listeners.rest.host': 'Address the REST listener binds (`GATEWAY_REST_HOST` overrides it).',
  'listeners.rest.port': 'Port of the REST listener (`GATEWAY_REST_PORT` overrides it).',
  'listeners.admin': 'Admin API, admin UI, `/metrics`, `/healthz` and `/readyz`. Keep it off public networks.',
  'listeners.admin.host': 'Address the admin listener binds (`GATEWAY_ADMIN_HOST` overrides it).',
  'listeners.admin.port': 'Port of the admin listener (`GATEWAY_ADMIN_PORT` overrides it).',
  admin: 'Who may use the admin API.',
  'admin.tokens': 'Bearer tokens for the admin API. `ADMIN_TOKEN` and `ADMIN_VIEWER_TOKEN` add (or replace) the tokens named `admin` and `viewer`.',
  'admin.tokens[].token': 'The secret itself, sent as `Authorization: Bearer <token>`; unique among the tokens.',
  'admin.cors.origins': 'Origins such as `https://ops.example.com` (scheme, host and port, no path).',
  'store.sentinels': 'Redis Sentinel nodes (with `sentinelName`); ioredis follows failovers.',
  'store.sentinels[].host': 'Host name or address of a node.',
  'store.sentinels[].port': 'Port of a node.',
  'store.cluster[].host': 'Host name or address of a node.',
  'store.cluster[].port': 'Port of a node.',
  'labels.stable': 'Label that pins the stable version: `/v1/models/{m}/labels/{stable}`.',
  'labels.canary': 'Label that pins the canary version: `/v1/models/{m}/labels/{canary}`.',
  proxy: 'How requests are forwarded to replicas.',
  'proxy.connectionsPerReplica': 'Keep-alive connections the gateway may open to one replica.',
  healthCheck:
    'Active health checks: `GET /v1/models/{m}/versions/{N}` on every replica, healthy when the version is `AVAILABLE`. Default for every model; a model\'s own `healthCheck` overrides it field by field.',
  'resilience.retry': 'One retry of an attempt that failed before any byte reached the client.',
  'resilience.ejection': 'Passive outlier ejection of a replica after consecutive failures.',
  'resilience.drain': 'Unpinned canary-bound requests go to stable while the canary pool is failing.',
  'resilience.drain.windowSeconds': 'Window over which the canary pool\'s error rate is measured.',
  'resilience.drain.minRequests': 'Attempts in the window before the error rate may drain the canary.',
  'resilience.analysis': 'Automatic rollback: the canary compared with stable over a sliding window.',
  'resilience.analysis.windowSeconds': 'Window the canary and stable are compared over.',
  'resilience.analysis.errorRatio': 'Roll back when the canary error rate is above errorRatio x stable\'s (and above maxErrorRate).',
  'resilience.analysis.latencyMarginMs': 'Added to latencyRatio x stable p99 before comparing the canary p99.',
  'models.<model>': 'One model, by the name clients use in `/v1/models/{name}`.',
  'models.<model>.pools.<version>': 'The pool serving one version of the model.',
  'models.<model>.pools.<version>.replicas': 'Replicas of the pool. A host name that resolves to several addresses (a headless Service) stands for one replica per address.',
  'models.<model>.policy': 'The initial traffic policy. The store keeps the one in force: the file\'s policy is only stored for a model the store has none for.',
  'models.<model>.policy.stable': 'Version that serves unpinned traffic not sent to the canary; a pool must serve it.',
  'models.<model>.policy.canary': 'Version under test (a pool must serve it, other than stable), or null for none.',
  'models.<model>.policy.headerRules': 'Header rules, tested in order before cookie rules, sticky cohorts and the split.',
  'models.<model>.policy.cookieRules': 'Cookie rules, tested in order after the header rules.',
  'models.<model>.policy.sticky.header': 'Request header holding the cohort key, e.g. a user id.',
  'models.<model>.policy.sticky.cookie': 'Cookie holding the cohort key, read when the header is absent.',
  'models.<model>.healthCheck': 'This model\'s health checks: the fields of the top-level `healthCheck`, overriding it field by field.',
  'models.<model>.resilience': 'This model\'s resilience settings: the fields of the top-level `resilience`, overriding them field by field.',
};

/** Defaults the loader does not fill in itself (they are applied where the value is used). */
const DEFAULT_NOTES: Readonly<Record<string, string>> = {
  'admin.tokens': 'none: one operator token is generated and printed at start',
  'admin.cors': 'none: CORS off',
  store: '`type: memory`',
  'models.<model>.policy.headerRules[].to': '`canary`',
  'models.<model>.policy.cookieRules[].to': '`canary`',
  'models.<model>.healthCheck': 'the top-level `healthCheck`',
  'models.<model>.resilience': 'the top-level `resilience`',
};

interface Row {
  readonly path: string;
  readonly type: string;
  readonly defaultValue: string;
  readonly meaning: string;
}

/** The model name used to resolve a minimal file, so that "defaults to the model name" shows. */
const PROBE_MODEL = 'probe-model-name';

/** Every default the loader applies, shaped like the file (path -> value). */
function defaultsTree(): Record<string, unknown> {
  const minimal = { models: { [PROBE_MODEL]: { pools: { '1': { replicas: ['http://replica:8501'] } }, policy: { stable: 1 } } } };
  // An empty environment: variables set in the shell running this script must not leak in.
  const base = resolveConfig(minimal, 'defaults', {});
  const redis = resolveConfig({ ...minimal, store: { type: 'redis', url: 'redis://probe:6379' } }, 'defaults', {});
  const { url: _url, type: _type, ...redisDefaults } = redis.store as unknown as Record<string, unknown>;
  const model = base.models[0];
  if (model === undefined) throw new Error('the minimal configuration resolved to no model');
  const { stable: _stable, ...policyDefaults } = model.policy;
  const tree: Record<string, unknown> = {};
  // Sections the loader resolves under the file's own name (proxy, labels, and any added later).
  const fileSections = new Set(Object.keys(GatewayConfigSchema.properties));
  for (const [key, value] of Object.entries(base)) {
    if (fileSections.has(key) && !['admin', 'store', 'models', 'listeners'].includes(key)) tree[key] = value;
  }
  tree['listeners'] = { rest: base.rest, admin: base.admin };
  tree['store'] = { ...redisDefaults, type: base.store.type };
  tree['proxy'] = DEFAULT_PROXY;
  tree['healthCheck'] = DEFAULT_HEALTH_CHECK;
  tree['resilience'] = DEFAULT_RESILIENCE;
  tree['models'] = { '<model>': { policy: policyDefaults } };
  return tree;
}

function lookup(tree: unknown, path: string): unknown {
  let node = tree;
  for (const segment of path.split('.')) {
    if (node === null || typeof node !== 'object' || !(segment in node)) return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

function number(n: number): string {
  return n === Number.MAX_SAFE_INTEGER ? 'no limit' : n.toLocaleString('en-US');
}

/** Markdown inline code that survives backticks and table pipes in the content. */
function code(text: string): string {
  const fence = text.includes('`') ? '``' : '`';
  const pad = fence.length > 1 ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

function literal(value: unknown): string {
  if (typeof value === 'string') return code(value);
  return code(JSON.stringify(value));
}

function bounds(node: SchemaNode): string {
  const parts: string[] = [];
  const lower = node.exclusiveMinimum !== undefined ? `> ${number(node.exclusiveMinimum)}` : node.minimum !== undefined ? `${number(node.minimum)}` : undefined;
  if (node.exclusiveMinimum === undefined && node.minimum !== undefined && node.maximum !== undefined) {
    parts.push(node.maximum === Number.MAX_SAFE_INTEGER ? `≥ ${number(node.minimum)}` : `${number(node.minimum)} to ${number(node.maximum)}`);
  } else {
    if (lower !== undefined) parts.push(node.exclusiveMinimum !== undefined ? lower : `≥ ${lower}`);
    if (node.maximum !== undefined) parts.push(`≤ ${number(node.maximum)}`);
    if (node.exclusiveMaximum !== undefined) parts.push(`< ${number(node.exclusiveMaximum)}`);
  }
  return parts.join(' and ');
}

function lengths(min: number | undefined, max: number | undefined, unit: string): string {
  if (min !== undefined && max !== undefined) return `${number(min)} to ${number(max)} ${unit}`;
  if (min !== undefined) return `at least ${number(min)} ${unit}`;
  if (max !== undefined) return `at most ${number(max)} ${unit}`;
  return '';
}

function typeOf(node: SchemaNode): string {
  if (node.const !== undefined) return literal(node.const);
  if (node.anyOf !== undefined) {
    const options = node.anyOf.map(typeOf);
    if (node.anyOf.every((n) => n.const !== undefined)) return `one of ${options.join(', ')}`;
    return options.join(' or ');
  }
  const type = Array.isArray(node.type) ? node.type.join(' or ') : (node.type as string | undefined) ?? 'any';
  switch (type) {
    case 'integer':
    case 'number': {
      const range = bounds(node);
      return range === '' ? type : `${type}, ${range}`;
    }
    case 'string': {
      const details = [lengths(node.minLength, node.maxLength, 'characters'), node.pattern !== undefined ? `matching ${code(node.pattern)}` : ''].filter(Boolean);
      return details.length === 0 ? 'string' : `string (${details.join(', ')})`;
    }
    case 'array': {
      const count = lengths(node.minItems, node.maxItems, 'items');
      const list = count === '' ? 'list' : `list (${count})`;
      if (node.items === undefined) return list;
      return isObject(node.items) ? `${list} of objects` : `${list} of: ${typeOf(node.items)}`;
    }
    case 'object': {
      if (node.patternProperties === undefined) return 'object';
      const keys = Object.keys(node.patternProperties).map(code).join(' or ');
      const count = node.minProperties !== undefined ? `, at least ${number(node.minProperties)}` : '';
      return `map (keys matching ${keys}${count})`;
    }
    default:
      return type;
  }
}

function isObject(node: SchemaNode): boolean {
  return node.type === 'object' && (node.properties !== undefined || node.patternProperties !== undefined);
}

/** A nested object that repeats a top-level section (a model's healthCheck, resilience). */
function repeatsSection(node: SchemaNode, path: string): string | undefined {
  if (!path.includes('.')) return undefined;
  const text = JSON.stringify(node);
  return Object.entries(GatewayConfigSchema.properties as Record<string, SchemaNode>).find(([, section]) => JSON.stringify(section) === text)?.[0];
}

interface Walk {
  readonly rows: Row[];
  readonly defaults: Record<string, unknown>;
  readonly usedNotes: Set<string>;
  readonly shadowedNotes: Set<string>;
}

function meaningOf(node: SchemaNode, path: string, walk: Walk, repeated: boolean): string {
  // An object-or-null field (sticky, plan) is described by its object.
  const description = node.description ?? node.anyOf?.find(isObject)?.description;
  const note = FIELD_NOTES[path];
  if (note !== undefined) {
    walk.usedNotes.add(path);
    // A repeated section's own description is about the section, not about this place of it.
    if (repeated) return note;
    if (description !== undefined) walk.shadowedNotes.add(path);
  }
  return description ?? note ?? '';
}

function defaultOf(node: SchemaNode, path: string, required: boolean, walk: Walk): string {
  if (required) {
    // Inside an optional object (not a list item, not a map entry): required when that object is given.
    const parent = path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '';
    return parent === '' || parent.endsWith('[]') || parent.endsWith('>') ? '**required**' : `**required** in ${code(parent)}`;
  }
  const note = DEFAULT_NOTES[path];
  if (note !== undefined) {
    walk.usedNotes.add(`default:${path}`);
    return note;
  }
  if (node.default !== undefined) return literal(node.default);
  const value = lookup(walk.defaults, path);
  if (value === undefined || (typeof value === 'object' && value !== null && !Array.isArray(value))) return '';
  if (value === PROBE_MODEL) return 'the model name';
  return literal(value);
}

function visit(node: SchemaNode, path: string, required: boolean, walk: Walk): void {
  const section = repeatsSection(node, path);
  const meaning = meaningOf(node, path, walk, section !== undefined);
  const object = isObject(node) || (node.type === 'array' && node.items !== undefined && isObject(node.items));
  if (section !== undefined) {
    walk.rows.push({ path, type: `object (as ${code(section)})`, defaultValue: defaultOf(node, path, required, walk), meaning });
    return;
  }
  // Objects get a row of their own only when there is something to say about them.
  if (!object || meaning !== '' || required || node.patternProperties !== undefined || node.type === 'array') {
    walk.rows.push({ path, type: typeOf(node), defaultValue: defaultOf(node, path, required, walk), meaning });
  }
  if (node.type === 'array' && node.items !== undefined && isObject(node.items)) {
    visitChildren(node.items, `${path}[]`, walk);
  } else if (node.anyOf !== undefined) {
    // An object-or-null field (sticky, plan): its object's fields.
    const inner = node.anyOf.find(isObject);
    if (inner !== undefined) visitChildren(inner, path, walk);
  } else if (isObject(node)) {
    visitChildren(node, path, walk);
  }
}

function visitChildren(node: SchemaNode, path: string, walk: Walk): void {
  const required = new Set(node.required ?? []);
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    visit(child, path === '' ? key : `${path}.${key}`, required.has(key), walk);
  }
  for (const value of Object.values(node.patternProperties ?? {})) {
    const key = KEY_PLACEHOLDERS[path] ?? '<key>';
    visit(value, `${path}.${key}`, false, walk);
  }
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function table(rows: readonly Row[]): string {
  const lines = ['| field | type | default | meaning |', '|---|---|---|---|'];
  for (const row of rows) lines.push(`| ${cell(code(row.path))} | ${cell(row.type)} | ${cell(row.defaultValue)} | ${cell(row.meaning)} |`);
  return lines.join('\n');
}

export interface ConfigReference {
  readonly markdown: string;
  /** FIELD_NOTES and DEFAULT_NOTES entries that name no field (delete them). */
  readonly unusedNotes: readonly string[];
  /** FIELD_NOTES entries for fields the schema now describes itself (delete them). */
  readonly shadowedNotes: readonly string[];
}

export function buildConfigReference(): ConfigReference {
  const schema = GatewayConfigSchema as unknown as SchemaNode;
  const walk: Walk = { rows: [], defaults: defaultsTree(), usedNotes: new Set(), shadowedNotes: new Set() };
  const out: string[] = [
    '# Configuration reference',
    '',
    '<!-- Generated by `npm run docs:config` (scripts/docs/config-reference.ts) from gateway/src/config/schema.ts,',
    '     the defaults in gateway/src/config/load.ts and gateway/src/config/env.ts. Do not edit by hand:',
    '     a test fails when this file and the schema disagree. -->',
    '',
    'The gateway reads one YAML or JSON file (`--config FILE` or `GATEWAY_CONFIG`) and checks it whole',
    'before anything starts: every error names the field by its path and the process exits with code 1.',
    'Every field but `models` is optional; an empty default cell means the field is unset unless given.',
    'Fields are written as paths: `a.b` is `b` inside `a`, `a[]` an item of the list `a`, and',
    '`<model>`, `<version>` are keys you choose (`models.half_plus_two.pools."1"`). Unknown fields are errors.',
    '',
    'A minimal file:',
    '',
    '```yaml',
    'models:',
    '  half_plus_two:',
    '    pools:',
    '      "1": { replicas: [ "http://10.0.0.11:8501", "http://10.0.0.12:8501" ] }',
    '      "2": { replicas: [ "http://10.0.0.21:8501" ] }',
    '    policy: { stable: 1, canary: 2, percent: 10 }',
    '```',
    '',
  ];
  const required = new Set(schema.required ?? []);
  for (const [key, section] of Object.entries(schema.properties ?? {})) {
    walk.rows.length = 0;
    visit(section, key, required.has(key), walk);
    const rows = [...walk.rows];
    out.push(`## \`${key}\``, '');
    const children = Object.entries(section.properties ?? {});
    const split = rows.length > 15 && children.length > 0 && children.every(([, child]) => isObject(child));
    if (!split) {
      out.push(table(rows), '');
      continue;
    }
    const head = rows.filter((r) => r.path === key);
    if (head.length > 0) out.push(table(head), '');
    for (const [child] of children) {
      const prefix = `${key}.${child}`;
      out.push(`### \`${prefix}\``, '', table(rows.filter((r) => r.path === prefix || r.path.startsWith(`${prefix}.`))), '');
    }
  }
  out.push(
    '## Environment variables',
    '',
    'They override the file, so that one file serves every instance of a deployment.',
    '',
    '| variable | sets |',
    '|---|---|',
    ...Object.entries(ENV_VARIABLES).map(([name, text]) => `| ${code(name)} | ${cell(text)} |`),
    `| ${code('LOG_LEVEL')} | pino log level: trace, debug, info (default), warn, error, fatal. |`,
    '',
  );
  const allNotes = [...Object.keys(FIELD_NOTES), ...Object.keys(DEFAULT_NOTES).map((p) => `default:${p}`)];
  return {
    markdown: out.join('\n'),
    unusedNotes: allNotes.filter((n) => !walk.usedNotes.has(n)),
    shadowedNotes: [...walk.shadowedNotes],
  };
}

export function renderConfigReference(): string {
  return buildConfigReference().markdown;
}

function main(): number {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const target = resolve(root, CONFIG_REFERENCE_PATH);
  const { markdown, unusedNotes, shadowedNotes } = buildConfigReference();
  for (const note of unusedNotes) process.stderr.write(`config-reference: note for ${note} names no field; delete it\n`);
  for (const note of shadowedNotes) process.stderr.write(`config-reference: ${note} has a schema description now; delete its note\n`);
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(target, 'utf8');
    } catch {
      // missing: not up to date
    }
    if (current !== markdown) {
      process.stderr.write(`config-reference: ${CONFIG_REFERENCE_PATH} is out of date; run npm run docs:config\n`);
      return 1;
    }
    process.stdout.write(`config-reference: ${CONFIG_REFERENCE_PATH} is up to date\n`);
    return 0;
  }
  writeFileSync(target, markdown);
  process.stdout.write(`config-reference: wrote ${CONFIG_REFERENCE_PATH}\n`);
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main();
}
