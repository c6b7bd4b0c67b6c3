import {
  type AccessScope,
  type Group,
  type GroupMembers,
  permissions,
  type Role,
  type User,
  ValidationError,
} from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';
import { defined, mutationErrors } from './errors.js';
import { connectionOf, forwardPage } from './pages.js';
import { loadUser } from './people.js';

const readAccess = { permission: permissions.accessRead };
const admin = { permission: permissions.accessAdmin };

/** A scope argument as the SDK takes it. */
export const scopeOf = (
  input: { ciId: string | number; mode: 'contains' | 'dependencies' } | null | undefined,
) => (input ? { ciId: String(input.ciId), mode: input.mode } : null);

/** Users, nested groups and roles: who may hold rights. */
export function addAccessIdentity(builder: OpsGraphBuilder) {
  const ScopeMode = builder.enumType('AccessScopeMode', {
    values: {
      CONTAINS: { value: 'contains', description: 'The CI and everything it contains.' },
      DEPENDENCIES: { value: 'dependencies', description: 'The CI and everything it depends on.' },
    } as const,
  });

  const Scope = builder.objectRef<AccessScope>('AccessScope').implement({
    description: 'Where a grant applies: a CI and what it contains, or a service and what it depends on.',
    fields: (t) => ({
      ciId: t.exposeID('ciId'),
      mode: t.field({ type: ScopeMode, resolve: (s) => s.mode }),
    }),
  });

  const ScopeInput = builder.inputType('AccessScopeInput', {
    fields: (t) => ({
      ciId: t.id({ required: true }),
      mode: t.field({ type: ScopeMode, required: true }),
    }),
  });

  const UserRef = builder.objectRef<User>('User');
  const GroupRef = builder.objectRef<Group>('Group');

  UserRef.implement({
    description: 'A person who signs in (mapped from an identity provider by `externalId`).',
    // Everyone may see themselves; others need access:read.
    authScopes: (user) => ({ $any: { self: user.id, ...readAccess } }),
    fields: (t) => ({
      id: t.exposeID('id'),
      externalId: t.exposeString('externalId', { nullable: true }),
      email: t.exposeString('email'),
      name: t.exposeString('name'),
      active: t.exposeBoolean('active', {
        description: 'An inactive user cannot sign in; their tokens stop working at once.',
      }),
      managerId: t.exposeID('managerId', {
        nullable: true,
        description: "The user's line manager (who approves their requests needing manager approval).",
      }),
      manager: t.field({
        type: UserRef,
        nullable: true,
        description: 'The line manager, when you may see them; a page of users loads them in one query.',
        resolve: (u, _args, context) => loadUser(context, u.managerId),
      }),
      version: t.exposeInt('version'),
      createdAt: t.field({ type: 'DateTime', resolve: (u) => u.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (u) => u.updatedAt }),
      groups: t.field({
        type: [GroupRef],
        description: 'Every group the user is in, directly or through nested groups.',
        resolve: (u, _args, { og, actor }) => og.access.groupsOfUser(u.id, { actor }),
      }),
    }),
  });

  const Members = builder.objectRef<GroupMembers>('GroupMembers').implement({
    description: 'The direct members of a group: users, and groups whose members are members too.',
    authScopes: readAccess,
    fields: (t) => ({
      users: t.field({ type: [UserRef], resolve: (m) => m.users }),
      groups: t.field({ type: [GroupRef], resolve: (m) => m.groups }),
    }),
  });

  GroupRef.implement({
    description: 'An assignment group; groups nest (a group can be a member of another).',
    authScopes: readAccess,
    fields: (t) => ({
      id: t.exposeID('id'),
      name: t.exposeString('name'),
      description: t.exposeString('description', { nullable: true }),
      version: t.exposeInt('version'),
      createdAt: t.field({ type: 'DateTime', resolve: (g) => g.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (g) => g.updatedAt }),
      members: t.field({
        type: Members,
        description: 'Direct members; with `transitive`, `users` holds every user at any depth.',
        args: { transitive: t.arg.boolean() },
        resolve: (g, args, { og, actor }) =>
          og.access.groupMembers(g.id, { actor, transitive: args.transitive ?? false }),
      }),
    }),
  });

  const RoleRef = builder.objectRef<Role>('Role').implement({
    description:
      'A named set of permissions, given by grants. Requests for it are decided by `approverGroup` members, `approverRole` holders, or access:admin holders.',
    // Whoever may ask for access may see what there is to ask for.
    authScopes: { $any: { ...readAccess, permission: permissions.accessRequest } },
    fields: (t) => ({
      name: t.exposeString('name'),
      description: t.exposeString('description'),
      permissions: t.exposeStringList('permissions'),
      owner: t.exposeString('owner', { description: '`core`, a plugin name, or `runtime`.' }),
      approverGroup: t.exposeString('approverGroup', { nullable: true }),
      approverRole: t.exposeString('approverRole', { nullable: true }),
      version: t.exposeInt('version'),
    }),
  });

  builder.queryFields((t) => ({
    users: t.connection({
      type: UserRef,
      description: 'Users by name, a page at a time (forward only).',
      authScopes: readAccess,
      args: { search: t.arg.string(), active: t.arg.boolean() },
      resolve: async (_root, args, { og, actor }) =>
        connectionOf(
          await og.access.users(
            { ...forwardPage(args), ...defined({ search: args.search, active: args.active }) },
            { actor },
          ),
          args.after,
        ),
    }),
    user: t.field({
      type: UserRef,
      nullable: true,
      authScopes: { authenticated: true },
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) => og.access.user(String(id), { actor }),
    }),
    groups: t.connection({
      type: GroupRef,
      description: 'Groups by name, a page at a time (forward only).',
      authScopes: readAccess,
      args: { search: t.arg.string() },
      resolve: async (_root, args, { og, actor }) =>
        connectionOf(
          await og.access.groups({ ...forwardPage(args), ...defined({ search: args.search }) }, { actor }),
          args.after,
        ),
    }),
    group: t.field({
      type: GroupRef,
      nullable: true,
      authScopes: readAccess,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) => og.access.group(String(id), { actor }),
    }),
    roles: t.field({
      type: [RoleRef],
      authScopes: { $any: { ...readAccess, permission: permissions.accessRequest } },
      resolve: (_root, _args, { og, actor }) => og.access.roles({ actor }),
    }),
  }));

  const CreateUser = builder.inputType('CreateUserInput', {
    fields: (t) => ({
      email: t.string({ required: true }),
      name: t.string({ required: true }),
      externalId: t.string(),
      active: t.boolean(),
      managerId: t.id({ description: "The user's line manager." }),
    }),
  });
  const UpdateUser = builder.inputType('UpdateUserInput', {
    fields: (t) => ({
      version: t.int({ required: true, description: 'The version you read.' }),
      email: t.string(),
      name: t.string(),
      externalId: t.string(),
      active: t.boolean({ description: 'false deactivates: sign-ins and tokens stop at once.' }),
      managerId: t.id({ description: "The user's line manager; null removes it." }),
    }),
  });
  const CreateGroup = builder.inputType('CreateGroupInput', {
    fields: (t) => ({ name: t.string({ required: true }), description: t.string() }),
  });
  const UpdateGroup = builder.inputType('UpdateGroupInput', {
    fields: (t) => ({
      version: t.int({ required: true, description: 'The version you read.' }),
      name: t.string(),
      description: t.string(),
    }),
  });
  const MemberInput = builder.inputType('GroupMemberInput', {
    description: 'Exactly one of `userId` and `groupId`.',
    fields: (t) => ({ userId: t.id(), groupId: t.id() }),
  });
  const DefineRole = builder.inputType('DefineRoleInput', {
    fields: (t) => ({
      name: t.string({ required: true }),
      description: t.string(),
      permissions: t.stringList({ required: true }),
      approverGroup: t.string(),
      approverRole: t.string(),
      version: t.int({ description: 'When redefining: the version you read.' }),
    }),
  });

  const member = (input: { userId?: string | number | null; groupId?: string | number | null }) => {
    if ((input.userId == null) === (input.groupId == null))
      throw ValidationError.field('member.userId', 'give either userId or groupId');
    return input.userId != null ? { userId: String(input.userId) } : { groupId: String(input.groupId) };
  };

  builder.mutationFields((t) => ({
    createUser: t.field({
      type: UserRef,
      errors: { types: mutationErrors },
      authScopes: admin,
      args: { input: t.arg({ type: CreateUser, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.access.createUser(
          { ...defined(input), ...(input.managerId != null ? { managerId: String(input.managerId) } : {}) },
          { actor },
        ),
    }),
    updateUser: t.field({
      type: UserRef,
      errors: { types: mutationErrors },
      authScopes: admin,
      args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateUser, required: true }) },
      resolve: (_root, { id, input }, { og, actor }) =>
        og.access.updateUser(
          String(id),
          {
            ...defined(input),
            // An explicit null removes the manager; omitted leaves it.
            ...(input.managerId !== undefined
              ? { managerId: input.managerId == null ? null : String(input.managerId) }
              : {}),
          },
          { actor },
        ),
    }),
    createGroup: t.field({
      type: GroupRef,
      errors: { types: mutationErrors },
      authScopes: admin,
      args: { input: t.arg({ type: CreateGroup, required: true }) },
      resolve: (_root, { input }, { og, actor }) => og.access.createGroup(defined(input), { actor }),
    }),
    updateGroup: t.field({
      type: GroupRef,
      errors: { types: mutationErrors },
      authScopes: admin,
      args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateGroup, required: true }) },
      resolve: (_root, { id, input }, { og, actor }) =>
        og.access.updateGroup(String(id), defined(input), { actor }),
    }),
    addGroupMember: t.field({
      type: Members,
      errors: { types: mutationErrors },
      authScopes: admin,
      args: { groupId: t.arg.id({ required: true }), member: t.arg({ type: MemberInput, required: true }) },
      resolve: (_root, args, { og, actor }) =>
        og.access.addGroupMember(String(args.groupId), member(args.member), { actor }),
    }),
    removeGroupMember: t.field({
      type: Members,
      errors: { types: mutationErrors },
      authScopes: admin,
      args: { groupId: t.arg.id({ required: true }), member: t.arg({ type: MemberInput, required: true }) },
      resolve: (_root, args, { og, actor }) =>
        og.access.removeGroupMember(String(args.groupId), member(args.member), { actor }),
    }),
    defineRole: t.field({
      type: RoleRef,
      errors: { types: mutationErrors },
      authScopes: admin,
      args: { input: t.arg({ type: DefineRole, required: true }) },
      resolve: (_root, { input }, { og, actor }) => og.access.defineRole(defined(input), { actor }),
    }),
  }));

  return { User: UserRef, Group: GroupRef, Role: RoleRef, Scope, ScopeInput };
}
