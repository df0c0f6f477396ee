#!/usr/bin/env node
/**
 * The configuration reference, docs/configuration.md, generated from what the gateway itself uses:
 * the TypeBox schema of the file (gateway/src/config/schema.ts: structure, types, bounds, defaults
 * and the `description` of each field; the loader fills its defaults from the same schema) and the
 * environment variables (gateway/src/config/env.ts). A test compares the committed file with what
 * this script renders, so a schema change without `npm run docs:config` fails the build.
 *
 *   npm run docs:config                                  writes docs/configuration.md
 *   node dist/scripts/docs/config-reference.js --check        exits 1 if the file is not up to date
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENV_VARIABLES } from '../../gateway/src/config/env.js';
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

interface Row {
  readonly path: string;
  readonly type: string;
  readonly defaultValue: string;
  readonly meaning: string;
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

/**
 * A model's section with the fields of a top-level one (healthCheck, resilience), which it overrides
 * field by field. Elsewhere the same fields mean nothing of the kind (store.tls is not replicaTls).
 */
function repeatsSection(node: SchemaNode, path: string): string | undefined {
  if (!path.startsWith('models.<model>.') || node.properties === undefined) return undefined;
  const fields = JSON.stringify(node.properties);
  return Object.entries(GatewayConfigSchema.properties as Record<string, SchemaNode>).find(([, section]) => JSON.stringify(section.properties) === fields)?.[0];
}

function meaningOf(node: SchemaNode): string {
  // An object-or-null field (sticky, plan) is described by its object.
  return node.description ?? node.anyOf?.find(isObject)?.description ?? '';
}

function defaultOf(node: SchemaNode, path: string, required: boolean, section: string | undefined): string {
  if (required) {
    // Inside an optional object (not a list item, not a map entry): required when that object is given.
    const parent = path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '';
    return parent === '' || parent.endsWith('[]') || parent.endsWith('>') ? '**required**' : `**required** in ${code(parent)}`;
  }
  if (section !== undefined) return `the top-level ${code(section)}`;
  // An object that stands in empty: its fields show what stands in for each.
  const value = node.default;
  if (value === undefined || (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0)) return '';
  return literal(value);
}

function visit(node: SchemaNode, path: string, required: boolean, rows: Row[]): void {
  const section = repeatsSection(node, path);
  const meaning = meaningOf(node);
  const row = (type: string): Row => ({ path, type, defaultValue: defaultOf(node, path, required, section), meaning });
  if (section !== undefined) {
    rows.push(row(`object (as ${code(section)})`));
    return;
  }
  const object = isObject(node) || (node.type === 'array' && node.items !== undefined && isObject(node.items));
  // Objects get a row of their own only when there is something to say about them.
  if (!object || meaning !== '' || required || node.patternProperties !== undefined || node.type === 'array') rows.push(row(typeOf(node)));
  if (node.type === 'array' && node.items !== undefined && isObject(node.items)) {
    visitChildren(node.items, `${path}[]`, rows);
  } else if (node.anyOf !== undefined) {
    // An object-or-null field (sticky, plan): its object's fields.
    const inner = node.anyOf.find(isObject);
    if (inner !== undefined) visitChildren(inner, path, rows);
  } else if (isObject(node)) {
    visitChildren(node, path, rows);
  }
}

function visitChildren(node: SchemaNode, path: string, rows: Row[]): void {
  const required = new Set(node.required ?? []);
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    visit(child, path === '' ? key : `${path}.${key}`, required.has(key), rows);
  }
  for (const value of Object.values(node.patternProperties ?? {})) {
    const key = KEY_PLACEHOLDERS[path] ?? '<key>';
    visit(value, `${path}.${key}`, false, rows);
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

export function renderConfigReference(): string {
  const schema = GatewayConfigSchema as unknown as SchemaNode;
  const out: string[] = [
    '# Configuration reference',
    '',
    '<!-- Generated by `npm run docs:config` (scripts/docs/config-reference.ts) from gateway/src/config/schema.ts',
    '     (fields, types, bounds, defaults, meanings) and gateway/src/config/env.ts. Do not edit by hand:',
    '     a test fails when this file and the schema disagree. -->',
    '',
    'The gateway reads one YAML or JSON file (`--config FILE` or `GATEWAY_CONFIG`) and checks it whole',
    'before anything starts: every error names the field by its path and the process exits with code 1.',
    'Every field but `models` is optional. The default is what the gateway uses when the file leaves the',
    'field out; an empty default cell means the field is unset unless given, or, where the meaning says',
    'so, that what stands in depends on other fields (a policy\'s salt, a rule\'s `to`).',
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
    const rows: Row[] = [];
    visit(section, key, required.has(key), rows);
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
  return out.join('\n');
}

function main(): number {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const target = resolve(root, CONFIG_REFERENCE_PATH);
  const markdown = renderConfigReference();
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
