import type { z } from 'zod';
import { ValidationError, type ValidationIssue } from './errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Whether `value` is a uuid in any case: ids are checked before they reach a uuid column. */
export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value);

/** Parses input with a zod schema, turning every issue into a `ValidationError` naming its field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, prefix = ''): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fieldPath = (...segments: PropertyKey[]) =>
    [prefix, ...segments.map(String)].filter(Boolean).join('.');
  throw new ValidationError(
    result.error.issues.flatMap((issue): ValidationIssue[] =>
      // zod reports unknown keys on the object that holds them; name each key as the field at fault.
      issue.code === 'unrecognized_keys'
        ? issue.keys.map((key) => ({ path: fieldPath(...issue.path, key), message: 'is not a known field' }))
        : [{ path: fieldPath(...issue.path), message: issue.message }],
    ),
  );
}
