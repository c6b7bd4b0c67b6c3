import {
  ConflictError,
  ForbiddenError,
  isOpsGraphError,
  NotFoundError,
  type OpsGraphError,
  ValidationError,
} from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';

/** The domain errors a mutation can answer with, as schema types clients can select on. */
export const mutationErrors = [ValidationError, ConflictError, NotFoundError, ForbiddenError];

export function addErrorTypes(builder: OpsGraphBuilder): void {
  const ErrorInterface = builder.interfaceRef<OpsGraphError>('Error').implement({
    description: 'A typed domain error: what went wrong, its code, and the input field at fault.',
    fields: (t) => ({
      message: t.exposeString('message'),
      code: t.exposeString('code'),
      field: t.exposeString('field', { nullable: true, description: 'Dotted path of the input at fault.' }),
    }),
  });

  const Issue = builder.objectRef<{ path: string; message: string }>('ValidationIssue').implement({
    fields: (t) => ({ path: t.exposeString('path'), message: t.exposeString('message') }),
  });
  builder.objectType(ValidationError, {
    name: 'ValidationError',
    interfaces: [ErrorInterface],
    isTypeOf: (value) => value instanceof ValidationError,
    fields: (t) => ({ issues: t.field({ type: [Issue], resolve: (e) => [...e.issues] }) }),
  });
  builder.objectType(ConflictError, {
    name: 'ConflictError',
    interfaces: [ErrorInterface],
    isTypeOf: (value) => value instanceof ConflictError,
    fields: (t) => ({
      currentVersion: t.int({ nullable: true, resolve: (e) => e.currentVersion ?? null }),
    }),
  });
  builder.objectType(NotFoundError, {
    name: 'NotFoundError',
    interfaces: [ErrorInterface],
    isTypeOf: (value) => value instanceof NotFoundError,
    fields: (t) => ({ entity: t.exposeString('entity'), id: t.exposeString('id') }),
  });
  builder.objectType(ForbiddenError, {
    name: 'ForbiddenError',
    interfaces: [ErrorInterface],
    isTypeOf: (value) => value instanceof ForbiddenError,
    fields: (t) => ({ permission: t.exposeString('permission') }),
  });
}

/** GraphQL sends `null` for an omitted optional input; the SDK's inputs want it left out. */
export const defined = <T extends object>(value: T) =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null && v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], null>;
  };

/**
 * Core names an item of a list it was given by its index (`1.severity`); over GraphQL the list is an
 * argument, so the field at fault is named under it (`events.1.severity`).
 */
export async function underArgument<T>(name: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    // By brand and code, not instanceof: an app may hold two copies of core.
    if (!isOpsGraphError(error) || error.code !== 'VALIDATION') throw error;
    const { issues } = error as ValidationError;
    throw new ValidationError(issues.map((i) => ({ ...i, path: i.path ? `${name}.${i.path}` : name })));
  }
}
