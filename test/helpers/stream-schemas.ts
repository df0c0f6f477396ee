/**
 * Checks events read from the admin stream against their schemas (api-schemas.ts StreamEvents),
 * closed: a field the gateway sends but the schema does not declare is a failure too, since the UI
 * types its reads by the schema and would not know of it.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { StreamEvents } from '../../gateway/src/controlplane/admin/api-schemas.js';
import type { SseEvent } from './sse.js';

/** A copy of `schema` where every object with listed properties allows no others. */
function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) out[key] = closed(value);
  if ('properties' in out && !('additionalProperties' in out)) out['additionalProperties'] = false;
  return out;
}

const ajv = new Ajv({ allErrors: true, strict: false });
const validators = new Map<string, ValidateFunction>(
  Object.entries(StreamEvents).map(([event, schema]) => [event, ajv.compile(closed(JSON.parse(JSON.stringify(schema))) as object)]),
);

/** Each event that breaks its schema (or has none), with why; empty when all hold. */
export function streamSchemaViolations(events: readonly SseEvent[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    const validate = validators.get(e.event);
    if (validate === undefined) out.push(`${e.event}: no schema for this event`);
    else if (!validate(e.data)) out.push(`${e.event}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(e.data).slice(0, 300)}`);
  }
  return out;
}
