import type { Logger, OpsGraph, QueryEvent } from '@opsgraph/core';
import type { Plugin } from 'graphql-yoga';
import type { GraphQLContext } from './context.js';

/** What one query or mutation cost in SQL, reported after it ran. */
export interface OperationQueries {
  readonly operationName: string | null;
  readonly requestId: string;
  /** The statements its execution ran, DataLoader batches included (authentication is not counted). */
  readonly queries: readonly QueryEvent[];
}

/**
 * Counts the SQL statements each operation's execution runs, attributed through async context so
 * concurrent requests keep apart; reports them to `report` and the debug log. Subscriptions are left
 * out: they run for as long as they are open.
 */
export function useQueryCount(
  og: OpsGraph,
  logger: Logger,
  report: ((queries: OperationQueries) => void) | undefined,
): Plugin<GraphQLContext> {
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      setExecuteFn(async (execArgs) => {
        const { result, queries } = await og.queries.measure(() => executeFn(execArgs));
        const operationName = args.operationName ?? null;
        const requestId = args.contextValue.requestId;
        logger.debug({ requestId, operationName, sqlQueries: queries.length }, 'operation executed');
        report?.({ operationName, requestId, queries });
        return result;
      });
    },
  };
}
