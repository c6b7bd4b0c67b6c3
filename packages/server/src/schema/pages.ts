import { ValidationError } from '@opsgraph/core';

/** Relay connection arguments of a forward-only keyset page, as the SDK takes them. */
export function forwardPage(args: {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}) {
  if (args.last != null)
    throw ValidationError.field('last', 'is not supported: page forward with first/after');
  if (args.before != null)
    throw ValidationError.field('before', 'is not supported: page forward with first/after');
  return { ...(args.first != null ? { first: args.first } : {}), after: args.after ?? null };
}

/** An SDK page as a Relay connection (`edges`, `pageInfo`). */
export function connectionOf<T>(
  page: { edges: { cursor: string; node: T }[]; hasNextPage: boolean; endCursor: string | null },
  after: string | null | undefined,
) {
  return {
    edges: page.edges,
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: Boolean(after),
      startCursor: page.edges[0]?.cursor ?? null,
      endCursor: page.endCursor,
    },
  };
}
