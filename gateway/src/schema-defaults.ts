/**
 * Defaults live in the schemas, as each field's `default`, and so does the type of a value once they
 * are filled in: a field with a default may be left out of a file or a request body, and is always
 * there in what the loader hands on. Filling is TypeBox's Value.Default on a copy, done where a
 * caller asks for it; never Ajv's useDefaults, which would also fill what an admin API client left
 * out (validation.ts keeps it off).
 */
import Type, { type Static, type TArray, type TObject, type TProperties, type TSchema } from 'typebox';
import Value from 'typebox/value';

/**
 * A field that may be left out, `value` standing in. The default is typed by the field, so a
 * default the schema would refuse does not compile, and `Filled` sees it.
 */
export function Defaulted<T extends TSchema>(type: T, value: Static<T>) {
  return Type.Optional(Type.With(type, { default: value }));
}

type Evaluate<T> = { [K in keyof T]: T[K] } & {};

/** Optional in the schema and nothing stands in: the only fields that may still be missing once filled. */
type MayBeMissing<S> = S extends { readonly '~optional': true } ? (S extends { readonly default: unknown } ? false : true) : false;

type FilledObject<P extends TProperties> = Evaluate<
  { readonly [K in keyof P as MayBeMissing<P[K]> extends true ? never : K]: Filled<P[K]> } & {
    readonly [K in keyof P as MayBeMissing<P[K]> extends true ? K : never]?: Filled<P[K]>;
  }
>;

/** The value of a schema after `fillDefaults`: every field with a default present, read-only. */
export type Filled<T extends TSchema> =
  T extends TObject<infer P extends TProperties> ? FilledObject<P> : T extends TArray<infer I extends TSchema> ? readonly Filled<I>[] : Static<T>;

/** A checked value with its defaults filled in; the value given is left as it was. */
export function fillDefaults<T extends TSchema>(schema: T, value: Static<T>): Filled<T> {
  // Value.Default writes into what it is given, and fills a field only where it is missing:
  // the cast holds for a value the schema has already accepted.
  return Value.Default(schema, Value.Clone(value)) as Filled<T>;
}

/**
 * A copy of `value` with only the fields `schema` lists, the value given left as it was: for what
 * is read back from storage and answered, which a gateway of another version may have written with
 * fields this one does not know (TypeBox's Value.Clean on a copy). Inside a union, only the
 * variant the value matches is cleaned; a value matching none is left whole.
 */
export function onlyListed<T extends TSchema>(schema: T, value: unknown): Static<T> {
  return Value.Clean(schema, Value.Clone(value)) as Static<T>;
}

/**
 * The same schema with no `default` anywhere: for values shown as they were written (an audit
 * entry), which a serializer filling defaults would otherwise complete with fields never stored.
 */
export function withoutDefaults<T extends TSchema>(schema: T): T {
  const copy = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(copy);
    if (value === null || typeof value !== 'object') return value;
    const out: Record<PropertyKey, unknown> = {};
    // Reflect.ownKeys: TypeBox marks schemas with symbol keys, which a JSON copy would lose.
    for (const key of Reflect.ownKeys(value)) if (key !== 'default') out[key] = copy((value as Record<PropertyKey, unknown>)[key]);
    return out;
  };
  return copy(schema) as T;
}
