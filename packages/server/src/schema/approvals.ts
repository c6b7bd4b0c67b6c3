import {
  type Approval,
  type ApprovalDecision,
  type Approvers,
  approvalDecisions,
  approvalStates,
} from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';
import type { addAccessIdentity } from './access-identity.js';
import { actorRefType } from './actor.js';
import { defined, mutationErrors } from './errors.js';
import { connectionOf, forwardPage } from './pages.js';
import { loadGroup, loadUser } from './people.js';

const upper = <T extends string>(values: readonly T[]) =>
  Object.fromEntries(values.map((v) => [v.toUpperCase(), { value: v }])) as Record<
    Uppercase<T>,
    { value: T }
  >;

// The SDK decides what each caller sees of approvals (the subject type's read permission, or being an
// approver of the step); the types need a signed-in caller.
const signedIn = { authenticated: true } as const;

/** Generic approvals: `approvals` (incl. "pending for me"), `approval`, `decideApproval`. */
export function addApprovals(
  builder: OpsGraphBuilder,
  { User, Group }: Pick<ReturnType<typeof addAccessIdentity>, 'User' | 'Group'>,
) {
  const ActorRef = actorRefType(builder);
  const State = builder.enumType('ApprovalState', {
    description:
      'WAITING for the steps before it, PENDING (its approvers may decide), APPROVED (quorum reached), REJECTED, CANCELLED.',
    values: upper(approvalStates),
  });
  const Decision = builder.enumType('ApprovalDecisionKind', { values: upper(approvalDecisions) });

  const ApproversRef = builder.objectRef<Approvers>('Approvers').implement({
    description: 'Who may decide a step: exactly one of a group (its members at any depth), a role, a user.',
    authScopes: signedIn,
    fields: (t) => ({
      groupId: t.exposeID('groupId', { nullable: true }),
      group: t.field({
        type: Group,
        nullable: true,
        description: 'With access:read; a page of approvals loads its groups in one query.',
        resolve: (a, _args, context) => loadGroup(context, a.groupId),
      }),
      role: t.exposeString('role', { nullable: true }),
      userId: t.exposeID('userId', { nullable: true }),
      user: t.field({
        type: User,
        nullable: true,
        description: 'With access:read (or yourself); a page of approvals loads its users in one query.',
        resolve: (a, _args, context) => loadUser(context, a.userId),
      }),
    }),
  });

  const DecisionRef = builder.objectRef<ApprovalDecision>('ApprovalDecision').implement({
    description: 'One approver’s decision on a step.',
    authScopes: signedIn,
    fields: (t) => ({
      id: t.exposeID('id'),
      userId: t.exposeID('userId'),
      user: t.field({
        type: User,
        nullable: true,
        description: 'Who decided, with access:read (or yourself); loaded in one query per response.',
        resolve: (d, _args, context) => loadUser(context, d.userId),
      }),
      decision: t.field({ type: Decision, resolve: (d) => d.decision }),
      comment: t.exposeString('comment'),
      decidedBy: t.field({ type: ActorRef, resolve: (d) => d.decidedBy }),
      decidedAt: t.field({ type: 'DateTime', resolve: (d) => d.decidedAt }),
    }),
  });

  const ApprovalRef = builder.objectRef<Approval>('Approval').implement({
    description:
      'One step of the approvals of a subject (a change, a request …): steps run in order, each approved by `quorum` eligible users or rejected by one.',
    authScopes: signedIn,
    fields: (t) => ({
      id: t.exposeID('id'),
      subjectType: t.string({ resolve: (a) => a.subject.type }),
      subjectId: t.id({ resolve: (a) => a.subject.id }),
      round: t.exposeInt('round', { description: 'Opening a subject’s approvals again starts a new round.' }),
      step: t.exposeInt('step', { description: '1, 2, …: step n+1 is pending once step n is approved.' }),
      name: t.exposeString('name'),
      approvers: t.field({ type: ApproversRef, resolve: (a) => a.approvers }),
      quorum: t.exposeInt('quorum'),
      approvals: t.exposeInt('approvals', { description: 'Approvals given so far (of `quorum`).' }),
      state: t.field({ type: State, resolve: (a) => a.state }),
      requesterId: t.exposeID('requesterId', {
        nullable: true,
        description: 'Who asked for the subject: never an approver of it.',
      }),
      decisions: t.field({ type: [DecisionRef], resolve: (a) => [...a.decisions] }),
      canDecide: t.boolean({
        description: 'Whether you may decide it now (eligible, pending, not yours, not decided by you).',
        resolve: (a, _args, { og, actor }) => og.approvals.mayDecide(a, actor),
      }),
      openedBy: t.field({ type: ActorRef, resolve: (a) => a.openedBy }),
      pendingSince: t.field({ type: 'DateTime', nullable: true, resolve: (a) => a.pendingSince }),
      settledAt: t.field({ type: 'DateTime', nullable: true, resolve: (a) => a.settledAt }),
      version: t.exposeInt('version', {
        description: 'Send it back with a decision: a stale one is refused.',
      }),
      createdAt: t.field({ type: 'DateTime', resolve: (a) => a.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (a) => a.updatedAt }),
    }),
  });

  const Filter = builder.inputType('ApprovalFilter', {
    fields: (t) => ({
      pendingForMe: t.boolean({ description: 'Steps you may decide now: your approvals to do.' }),
      pendingFor: t.id({ description: 'Steps this user may decide now (another user’s needs read access).' }),
      subjectType: t.string({ description: 'e.g. change, request.' }),
      subjectId: t.id(),
      state: t.field({ type: [State] }),
    }),
  });

  builder.queryFields((t) => ({
    approvals: t.connection({
      type: ApprovalRef,
      description:
        'Approval steps you may see, newest first: of subject types you may read, or that you may decide.',
      authScopes: signedIn,
      args: { filter: t.arg({ type: Filter }) },
      resolve: async (_root, { filter: f, first, after, last, before }, { og, actor }) => {
        // Only a user (or a token of one) has approvals to do.
        if (f?.pendingForMe && !actor.userId)
          return connectionOf<Approval>({ edges: [], hasNextPage: false, endCursor: null }, after);
        const pendingFor = f?.pendingForMe
          ? actor.userId
          : f?.pendingFor == null
            ? undefined
            : String(f.pendingFor);
        return connectionOf(
          await og.approvals.list(
            defined({
              pendingFor,
              subjectType: f?.subjectType,
              subjectId: f?.subjectId == null ? undefined : String(f.subjectId),
              state: f?.state,
            }),
            forwardPage({ first, after, last, before }),
            { actor },
          ),
          after,
        );
      },
    }),
    approval: t.field({
      type: ApprovalRef,
      nullable: true,
      authScopes: signedIn,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) => og.approvals.approval(String(id), { actor }),
    }),
  }));

  builder.mutationFields((t) => ({
    decideApproval: t.field({
      type: ApprovalRef,
      errors: { types: mutationErrors },
      description:
        'Approves or rejects a pending step: only its eligible approvers, once each, never the requester of the subject.',
      authScopes: signedIn,
      args: {
        id: t.arg.id({ required: true }),
        decision: t.arg({ type: Decision, required: true }),
        comment: t.arg.string(),
        version: t.arg.int(),
      },
      resolve: (_root, { id, decision, comment, version }, { og, actor }) =>
        og.approvals.decide(String(id), { decision, ...defined({ comment, version }) }, { actor }),
    }),
  }));

  return { Approval: ApprovalRef };
}
