/**
 * The admin API's one error shape: `{error, details}`, each detail naming a field by JSON pointer
 * (`/body/...` fields are given relative to the body, as `/percent`).
 */
import Type from 'typebox';
import type { Issue } from '../../validation.js';

export const ErrorBody = Type.Object({
  error: Type.String(),
  details: Type.Array(Type.Object({ path: Type.String(), message: Type.String() })),
});

export class AdminError extends Error {
  readonly statusCode: number;
  readonly details: readonly Issue[];
  constructor(statusCode: number, message: string, details: readonly Issue[] = []) {
    super(message);
    this.statusCode = statusCode;
    this.details = details;
  }
}

export function unknownModel(model: string): AdminError {
  return new AdminError(404, `unknown model ${model}`, [{ path: '/params/model', message: 'is not a model this gateway serves' }]);
}
