import type { Group, User } from '@opsgraph/core';
import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import type { GraphQLContext } from '../context.js';

// Per request, and per subscription event (Pothos's context cache is reset for each one): every user or
// group a response names is read in one query, however many records name them (a page of incidents with
// callers and assignees costs one query of users, not two per incident).
const users = createContextCache(
  ({ og, actor }: GraphQLContext) =>
    new DataLoader((ids: readonly string[]) => og.access.usersById(ids, { actor })),
);
const groups = createContextCache(
  ({ og, actor }: GraphQLContext) =>
    new DataLoader((ids: readonly string[]) => og.access.groupsById(ids, { actor })),
);

/** The user with this id, batched; null when there is none or the actor may not see them. */
export const loadUser = (
  context: GraphQLContext,
  id: string | null | undefined,
): Promise<User | null> | null => (id ? users(context).load(id) : null);

/** The group with this id, batched; null when there is none or the actor may not see it. */
export const loadGroup = (
  context: GraphQLContext,
  id: string | null | undefined,
): Promise<Group | null> | null => (id ? groups(context).load(id) : null);
