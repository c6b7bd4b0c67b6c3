import { OpsGraphClientError } from './errors.js';

/** A mutation's result union: `{ __typename, data }` on success, or one of the typed domain errors. */
type MutationResult = { readonly __typename?: string };

type Success<T> = Extract<T, { readonly data: unknown }>;

/**
 * The `data` of a successful mutation result; throws `OpsGraphClientError` (with `code`, `field` and the
 * error's own fields in `errors[0].extensions`) when the result is one of the domain errors.
 *
 *   const ci = unwrap((await client.request(CreateCiDocument, { input })).createCI);
 */
export function unwrap<T extends MutationResult>(result: T | null | undefined): Success<T>['data'] {
  if (result == null) throw new OpsGraphClientError('The mutation returned no result');
  if ('data' in result) return (result as Success<T>).data;
  const { __typename, message, ...extensions } = result as MutationResult & {
    message?: string | null;
    code?: string | null;
    field?: string | null;
  };
  const text = message ?? `The mutation failed with ${__typename ?? 'an error'}`;
  throw new OpsGraphClientError(
    `${text}${extensions.code ? ` [${extensions.code}${extensions.field ? `, field ${extensions.field}` : ''}]` : ''}`,
    {
      errors: [
        {
          message: text,
          extensions: {
            ...(__typename ? { type: __typename } : {}),
            ...Object.fromEntries(Object.entries(extensions).filter(([, v]) => v != null)),
          },
        },
      ],
    },
  );
}
