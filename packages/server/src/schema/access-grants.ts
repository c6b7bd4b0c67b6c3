import {
  type AccessRequest,
  type AccessRequestChange,
  type AccessRequestState,
  accessRequestEventTypes,
  accessRequestStates,
  type Grant,
  permissions,
} from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';
import type { addAccessIdentity } from './access-identity.js';
import { scopeOf } from './access-identity.js';
import type { addActivity } from './activity.js';
import { defined, mutationErrors } from './errors.js';
import { loadGroup, loadUser } from './people.js';
import { liveStream, unwrap } from './streams.js';

type Refs = ReturnType<typeof addAccessIdentity> & Pick<ReturnType<typeof addActivity>, 'ActivityEvent'>;

const readAccess = { permission: permissions.accessRead };
const admin = { permission: permissions.accessAdmin };

/** Grants (who holds which role where, until when) and access requests (ask, approve, reject). */
export function addAccessGrants(
  builder: OpsGraphBuilder,
  { User, Group, Scope, ScopeInput, ActivityEvent }: Refs,
): void {
  const GrantRef = builder.objectRef<Grant>('Grant').implement({
    description: 'A role given to a user or a group, everywhere or on a scope, maybe until a time.',
    // Holders see their own grants, and whoever made one (e.g. by approving a request) sees it.
    authScopes: (grant) => ({ $any: { self: grant.userId, actorIs: grant.createdBy, ...readAccess } }),
    fields: (t) => ({
      id: t.exposeID('id'),
      role: t.exposeString('role'),
      userId: t.exposeID('userId', { nullable: true }),
      groupId: t.exposeID('groupId', { nullable: true }),
      user: t.field({
        type: User,
        nullable: true,
        resolve: (g, _args, context) => loadUser(context, g.userId),
      }),
      group: t.field({
        type: Group,
        nullable: true,
        resolve: (g, _args, context) => loadGroup(context, g.groupId),
      }),
      scope: t.field({
        type: Scope,
        nullable: true,
        description: 'Null: everywhere.',
        resolve: (g) => g.scope,
      }),
      expiresAt: t.field({ type: 'DateTime', nullable: true, resolve: (g) => g.expiresAt }),
      reason: t.exposeString('reason', { nullable: true }),
      requestId: t.exposeID('requestId', { nullable: true }),
      createdBy: t.exposeString('createdBy'),
      createdAt: t.field({ type: 'DateTime', resolve: (g) => g.createdAt }),
      revokedAt: t.field({ type: 'DateTime', nullable: true, resolve: (g) => g.revokedAt }),
      revokedBy: t.exposeString('revokedBy', { nullable: true }),
      expiredAt: t.field({ type: 'DateTime', nullable: true, resolve: (g) => g.expiredAt }),
      active: t.boolean({
        description: 'Whether it counts now: not revoked, not past its expiry.',
        resolve: (g, _args, { og }) =>
          !g.revokedAt && (!g.expiresAt || g.expiresAt.getTime() > og.clock.now().getTime()),
      }),
    }),
  });

  const State = builder.enumType('AccessRequestState', {
    values: Object.fromEntries(accessRequestStates.map((s) => [s.toUpperCase(), { value: s }])) as Record<
      Uppercase<AccessRequestState>,
      { value: AccessRequestState }
    >,
  });

  const Request = builder.objectRef<AccessRequest>('AccessRequest').implement({
    description:
      'A user asking for a role (on a scope, for a time). Its approvers approve (making the grant) or reject it; the requester may cancel it while pending.',
    // Only the SDK's checked reads (requester, approvers, access:read) hand requests out.
    authScopes: { authenticated: true },
    fields: (t) => ({
      id: t.exposeID('id'),
      requesterId: t.exposeID('requesterId'),
      requester: t.field({
        type: User,
        nullable: true,
        resolve: (r, _args, context) => loadUser(context, r.requesterId),
      }),
      role: t.exposeString('role'),
      scope: t.field({ type: Scope, nullable: true, resolve: (r) => r.scope }),
      reason: t.exposeString('reason'),
      durationSeconds: t.exposeInt('durationSeconds', { nullable: true }),
      until: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.until }),
      state: t.field({ type: State, resolve: (r) => r.state }),
      version: t.exposeInt('version'),
      decidedBy: t.exposeString('decidedBy', { nullable: true }),
      decidedAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.decidedAt }),
      decisionNote: t.exposeString('decisionNote', { nullable: true }),
      grant: t.field({
        type: GrantRef,
        nullable: true,
        description: 'The grant its approval made.',
        resolve: (r, _args, { og, actor }) => (r.grantId ? og.access.grantById(r.grantId, { actor }) : null),
      }),
      createdAt: t.field({ type: 'DateTime', resolve: (r) => r.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (r) => r.updatedAt }),
      history: t.field({
        type: [ActivityEvent],
        description: 'Its audit trail: who asked, approved, rejected or cancelled, and its grant’s fate.',
        authScopes: readAccess,
        resolve: (r, _args, { og, actor }) => og.access.accessRequestHistory(r.id, { actor }),
      }),
    }),
  });

  const Decision = builder
    .objectRef<{ request: AccessRequest; grant: Grant }>('AccessRequestApproval')
    .implement({
      fields: (t) => ({
        request: t.field({ type: Request, resolve: (d) => d.request }),
        grant: t.field({ type: GrantRef, resolve: (d) => d.grant }),
      }),
    });

  builder.queryFields((t) => ({
    grants: t.field({
      type: [GrantRef],
      description: 'Grants, newest first; without access:read, only your own (`userId` yours).',
      authScopes: { authenticated: true },
      args: {
        userId: t.arg.id(),
        groupId: t.arg.id(),
        role: t.arg.string(),
        active: t.arg.boolean(),
      },
      resolve: (_root, args, { og, actor }) =>
        og.access.grants(
          defined({
            userId: args.userId == null ? undefined : String(args.userId),
            groupId: args.groupId == null ? undefined : String(args.groupId),
            role: args.role,
            active: args.active,
          }),
          { actor },
        ),
    }),
    accessRequests: t.field({
      type: [Request],
      description:
        'Access requests, newest first: with access:read, anyone’s; otherwise your own, or with `decidable`, the pending ones you may decide.',
      authScopes: { authenticated: true },
      args: {
        state: t.arg({ type: State }),
        requesterId: t.arg.id(),
        decidable: t.arg.boolean(),
        first: t.arg.int(),
      },
      resolve: (_root, args, { og, actor }) =>
        og.access.accessRequests(
          defined({
            state: args.state,
            requesterId: args.requesterId == null ? undefined : String(args.requesterId),
            decidable: args.decidable,
            first: args.first,
          }),
          { actor },
        ),
    }),
    accessRequest: t.field({
      type: Request,
      nullable: true,
      authScopes: { authenticated: true },
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) => og.access.accessRequest(String(id), { actor }),
    }),
  }));

  builder.mutationFields((t) => ({
    grantRole: t.field({
      type: GrantRef,
      errors: { types: mutationErrors },
      authScopes: admin,
      description: 'Gives a role to a user or a group (exactly one), everywhere or on a scope.',
      args: {
        role: t.arg.string({ required: true }),
        userId: t.arg.id(),
        groupId: t.arg.id(),
        scope: t.arg({ type: ScopeInput }),
        expiresAt: t.arg({ type: 'DateTime' }),
        reason: t.arg.string(),
      },
      resolve: (_root, args, { og, actor }) =>
        og.access.grant(
          {
            role: args.role,
            ...defined({
              userId: args.userId == null ? undefined : String(args.userId),
              groupId: args.groupId == null ? undefined : String(args.groupId),
              expiresAt: args.expiresAt,
              reason: args.reason,
            }),
            scope: scopeOf(args.scope),
          },
          { actor },
        ),
    }),
    revokeGrant: t.field({
      type: GrantRef,
      errors: { types: mutationErrors },
      authScopes: admin,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) => og.access.revokeGrant(String(id), { actor }),
    }),
    requestAccess: t.field({
      type: Request,
      errors: { types: mutationErrors },
      authScopes: { permission: permissions.accessRequest },
      description: 'Asks for a role, maybe on a scope, for `durationSeconds` or `until` a time, saying why.',
      args: {
        role: t.arg.string({ required: true }),
        scope: t.arg({ type: ScopeInput }),
        reason: t.arg.string({ required: true }),
        durationSeconds: t.arg.int(),
        until: t.arg({ type: 'DateTime' }),
      },
      resolve: (_root, args, { og, actor }) =>
        og.access.requestAccess(
          {
            role: args.role,
            reason: args.reason,
            scope: scopeOf(args.scope),
            ...defined({ durationSeconds: args.durationSeconds, until: args.until }),
          },
          { actor },
        ),
    }),
    approveAccessRequest: t.field({
      type: Decision,
      errors: { types: mutationErrors },
      authScopes: { authenticated: true },
      description: 'Approves a pending request and grants the role, in one transaction.',
      args: { id: t.arg.id({ required: true }), note: t.arg.string(), version: t.arg.int() },
      resolve: (_root, args, { og, actor }) =>
        og.access.approveAccessRequest(String(args.id), defined({ note: args.note, version: args.version }), {
          actor,
        }),
    }),
    rejectAccessRequest: t.field({
      type: Request,
      errors: { types: mutationErrors },
      authScopes: { authenticated: true },
      args: {
        id: t.arg.id({ required: true }),
        note: t.arg.string({ required: true }),
        version: t.arg.int(),
      },
      resolve: (_root, args, { og, actor }) =>
        og.access.rejectAccessRequest(String(args.id), defined({ note: args.note, version: args.version }), {
          actor,
        }),
    }),
    cancelAccessRequest: t.field({
      type: Request,
      errors: { types: mutationErrors },
      authScopes: { authenticated: true },
      args: { id: t.arg.id({ required: true }), version: t.arg.int() },
      resolve: (_root, args, { og, actor }) =>
        og.access.cancelAccessRequest(String(args.id), {
          actor,
          ...(args.version != null ? { version: args.version } : {}),
        }),
    }),
  }));

  const Kind = builder.enumType('AccessRequestChangeKind', {
    values: { CREATED: {}, APPROVED: {}, REJECTED: {}, CANCELLED: {} } as const,
  });
  const Change = builder.objectRef<AccessRequestChange>('AccessRequestChange').implement({
    description: 'An access request was made or decided.',
    authScopes: { authenticated: true },
    fields: (t) => ({
      seq: t.field({ type: 'Seq', resolve: (c) => c.seq }),
      kind: t.field({ type: Kind, resolve: (c) => c.kind.toUpperCase() as 'CREATED' }),
      request: t.field({ type: Request, resolve: (c) => c.request }),
      grant: t.field({ type: GrantRef, nullable: true, resolve: (c) => c.grant }),
      occurredAt: t.field({ type: 'DateTime', resolve: (c) => c.occurredAt }),
    }),
  });

  builder.subscriptionField('accessRequestChanged', (t) =>
    t.field({
      type: Change,
      description:
        'Access requests made and decided after `after` (default: from now on), in order: yours, those you may decide, or all with access:read. Checked on every event with your permissions as they are then.',
      authScopes: { authenticated: true },
      args: { after: t.arg({ type: 'Seq' }) },
      subscribe: async (_root, { after }, context) => {
        const { og, actor } = context;
        // The starting point is fixed before the subscription answers, so nothing after it is missed.
        const from = after ?? (await og.activity.latestSeq({ types: accessRequestEventTypes }));
        return liveStream(context, og.access.followAccessRequests({ after: from, actor }));
      },
      resolve: unwrap,
    }),
  );
}
