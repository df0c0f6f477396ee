/**
 * One error vocabulary for everything a person writes (config file, admin API bodies): a list of
 * issues, each naming the field by JSON pointer and saying what is expected there.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

export interface Issue {
  /** JSON pointer of the offending field, e.g. `/models/half_plus_two/policy/percent`. */
  readonly path: string;
  readonly message: string;
}

export class ValidationError extends Error {
  readonly issues: readonly Issue[];
  constructor(summary: string, issues: readonly Issue[]) {
    super(`${summary}: ${issues.map((i) => `${i.path || '/'} ${i.message}`).join('; ')}`);
    this.name = 'ValidationError';
    this.issues = issues;
  }
}

/**
 * No coercion and no silent removal: a value of the wrong type or an unknown field is an error a
 * person should see, not something we quietly fix.
 */
export const ajv = new Ajv({ allErrors: true, coerceTypes: false, removeAdditional: false, useDefaults: false });

export function compileSchema<T>(schema: object): ValidateFunction<T> {
  return ajv.compile<T>(schema);
}

export function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Ajv's errors as issues: one per field, alternatives (anyOf) merged into one sentence. */
export function issuesFromAjv(errors: readonly ErrorObject[] | null | undefined, base = ''): Issue[] {
  if (!errors) return [];
  const byPath = new Map<string, string[]>();
  const add = (path: string, message: string): void => {
    const list = byPath.get(path) ?? [];
    if (!list.includes(message)) list.push(message);
    byPath.set(path, list);
  };
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  for (const e of errors) {
    const path = base + e.instancePath;
    if (e.keyword === 'anyOf' || e.keyword === 'propertyNames') continue;
    if (e.propertyName !== undefined) {
      add(`${path}/${escapePointer(e.propertyName)}`, `is not a valid name here: ${e.message ?? 'invalid'}`);
      continue;
    }
    if (e.keyword === 'additionalProperties' && anyPropertyNameError(errors, e.instancePath)) continue;
    if (e.keyword === 'additionalProperties') {
      const extra = String((e.params as { additionalProperty?: unknown }).additionalProperty);
      add(`${path}/${escapePointer(extra)}`, 'is not a known field');
      continue;
    }
    if (e.keyword === 'required') {
      const missing = String((e.params as { missingProperty?: unknown }).missingProperty);
      add(`${path}/${escapePointer(missing)}`, 'is required');
      continue;
    }
    if (anyOfPaths.has(e.instancePath) && e.keyword === 'type') {
      add(path, `must be ${String((e.params as { type?: unknown }).type)}`);
      continue;
    }
    add(path, e.message ?? 'is invalid');
  }
  const issues: Issue[] = [];
  for (const [path, messages] of byPath) {
    const types = messages.filter((m) => m.startsWith('must be ') && !/[<>=]/.test(m));
    if (anyOfPaths.has(path.slice(base.length)) && types.length > 0 && types.length < messages.length) {
      // The value has the type of one alternative and breaks it (a string not matching a
      // pattern): that is the news; "must be object" from the other alternative is not.
      for (const m of messages) if (!types.includes(m)) issues.push({ path, message: m });
    } else if (types.length > 1) {
      const rest = messages.filter((m) => !types.includes(m));
      issues.push({ path, message: `must be ${types.map((t) => t.slice(8)).join(' or ')}` });
      for (const m of rest) issues.push({ path, message: m });
    } else {
      for (const m of messages) issues.push({ path, message: m });
    }
  }
  return issues;
}

/** A key refused by propertyNames is also "additional": report it once, as a bad name. */
function anyPropertyNameError(errors: readonly ErrorObject[], instancePath: string): boolean {
  return errors.some((e) => e.instancePath === instancePath && e.propertyName !== undefined);
}
