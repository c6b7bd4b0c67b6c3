import { isObjectType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { buildSchema } from './schema/index.js';

/**
 * Authorization is declared, not remembered: every root field and every type carrying domain data says
 * which permission it needs. What may go without is listed here, with why; a new field or type that
 * forgets its `authScopes` fails this test.
 */
const schema = buildSchema();
const ROOT_FIELDS_FOR_EVERYONE = new Set([
  'Query.me', // who is calling: answered to anyone, anonymous included
]);
/** Types reached only through a guarded field, holding nothing of their own to guard. */
const UNGUARDED_TYPES: [RegExp, string][] = [
  [/^Mutation\w+Success$/, 'the result wrapper of a guarded mutation'],
  [/^Query\w+Connection(Edge)?$/, 'the page wrapper of a guarded list'],
  [/^PageInfo$/, 'cursors of a guarded page'],
  [
    /^(ConflictError|ForbiddenError|NotFoundError|ValidationError|ValidationIssue)$/,
    'an error of your own call',
  ],
  [/^(Actor|ActorScope)$/, '`me`: what the caller itself holds'],
  [/^ActorRef$/, 'who made a change, shown with a guarded record'],
  [/^AccessScope$/, 'where a guarded grant, request or token applies'],
  [/^(CreatedApiToken|AccessRequestApproval)$/, 'the result of a guarded mutation'],
  [/^Reconcile(Report|Item|Conflict|RelationshipCounts)$/, 'the report of a guarded reconciliation'],
];

const options = (extensions: unknown) =>
  (extensions as { pothosOptions?: { authScopes?: unknown } } | undefined)?.pothosOptions;

describe('authorization coverage of the schema', () => {
  it('every root field declares the permission it needs', () => {
    const missing: string[] = [];
    for (const root of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) {
      for (const field of Object.values(root?.getFields() ?? {})) {
        const coordinate = `${root!.name}.${field.name}`;
        if (!options(field.extensions)?.authScopes && !ROOT_FIELDS_FOR_EVERYONE.has(coordinate))
          missing.push(coordinate);
      }
    }
    expect(missing).toEqual([]);
  });

  it('every object type carrying domain data declares the permission it needs', () => {
    const missing: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('__')) continue;
      if (['Query', 'Mutation', 'Subscription'].includes(type.name)) continue;
      if (options(type.extensions)?.authScopes) continue;
      if (UNGUARDED_TYPES.some(([pattern]) => pattern.test(type.name))) continue;
      missing.push(type.name);
    }
    expect(missing).toEqual([]);
  });
});
