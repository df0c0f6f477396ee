/**
 * The admin API's one error shape: `{error, details}`, each detail naming a field by JSON pointer
 * (`/body/...` fields are given relative to the body, as `/percent`).
 */
import Type from 'typebox';
import type { Issue } from '../../validation.js';

const Detail = Type.Object({ path: Type.String(), message: Type.String() });

export const ErrorBody = Type.Object({
  error: Type.String(),
  details: Type.Array(Detail),
});

/** The revision as an entity tag: what If-Match takes back. */
export const ETAG_HEADER = {
  etag: { type: 'string', description: 'The revision of the policy, quoted ("7"): send it back as If-Match to write only on that revision.' },
} as const;

/** A 409 of a model action: a revision conflict says which revision is stored now, as data. */
export const ConflictBody = Type.Object(
  {
    ...ErrorBody.properties,
    currentRevision: Type.Optional(
      Type.Integer({ minimum: 0, description: 'On a revision conflict (If-Match): the revision stored now, also the ETag header. Absent for other conflicts.' }),
    ),
  },
  // Read by @fastify/swagger only: the OpenAPI document lists the header.
  { headers: { etag: { ...ETAG_HEADER.etag, description: 'On a revision conflict: the revision stored now, quoted.' } } },
);

export class AdminError extends Error {
  readonly statusCode: number;
  readonly details: readonly Issue[];
  /** A revision conflict: the stored revision, sent as `currentRevision` and the ETag header. */
  readonly currentRevision: number | undefined;
  constructor(statusCode: number, message: string, details: readonly Issue[] = [], options: { currentRevision?: number } = {}) {
    super(message);
    this.statusCode = statusCode;
    this.details = details;
    this.currentRevision = options.currentRevision;
  }
}

export function unknownModel(model: string): AdminError {
  return new AdminError(404, `unknown model ${model}`, [{ path: '/params/model', message: 'is not a model this gateway serves' }]);
}
