/**
 * The admin API's failures: an AdminError becomes the one error shape, `{error, details}` (ErrorBody
 * in api-schemas.ts), each detail naming a field by JSON pointer.
 */
import type { Issue } from '../../validation.js';

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
