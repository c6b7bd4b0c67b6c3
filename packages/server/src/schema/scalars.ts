import { GraphQLError, Kind } from 'graphql';
import { DateTimeResolver, JSONResolver } from 'graphql-scalars';
import type { OpsGraphBuilder } from '../builder.js';

export function addScalars(builder: OpsGraphBuilder): void {
  builder.addScalarType('DateTime', DateTimeResolver);
  builder.addScalarType('JSON', JSONResolver);
  // GraphQL's Int stops at 2^31; the activity stream does not.
  builder.scalarType('Seq', {
    description: 'A position in the activity stream: a non-negative integer (up to 2^53), in commit order.',
    serialize: (value) => Number(value),
    parseValue: (value) => parseSeq(value),
    parseLiteral: (ast) => {
      if (ast.kind === Kind.INT || ast.kind === Kind.STRING) return parseSeq(ast.value);
      throw new GraphQLError('Seq must be a non-negative integer');
    },
  });
}

function parseSeq(value: unknown): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new GraphQLError('Seq must be a non-negative integer');
  }
  return n;
}
