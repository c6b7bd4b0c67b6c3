import { type MaintenanceWindow, permissions } from '@opsgraph/core';
import { type OpsGraphBuilder, onCis } from '../builder.js';
import { actorRefType } from './actor.js';
import type { addCmdb } from './cmdb.js';
import { defined, mutationErrors } from './errors.js';
import { connectionOf, forwardPage } from './pages.js';

type CiRef = ReturnType<typeof addCmdb>['CI'];

/** Maintenance windows: spans of time on CIs during which their alerts are kept but suppressed. */
export function addMaintenance(builder: OpsGraphBuilder, CI: CiRef) {
  const ActorRef = actorRefType(builder);
  const Window = builder.objectRef<MaintenanceWindow>('MaintenanceWindow').implement({
    description:
      'A span of time on CIs (and what they contain) during which alerts on them are kept but marked suppressed.',
    authScopes: onCis(permissions.changeRead, (w: MaintenanceWindow) => w.ciIds),
    fields: (t) => ({
      id: t.exposeID('id'),
      name: t.exposeString('name'),
      reason: t.exposeString('reason'),
      ciIds: t.exposeIDList('ciIds'),
      cis: t.field({
        type: [CI],
        description: 'The CIs named (each covers what it contains).',
        resolve: (w) => [...w.ciIds],
      }),
      startsAt: t.field({ type: 'DateTime', resolve: (w) => w.startsAt }),
      endsAt: t.field({ type: 'DateTime', resolve: (w) => w.endsAt }),
      changeId: t.exposeID('changeId', { nullable: true }),
      active: t.boolean({
        description: 'Started, not ended, not cancelled: now.',
        resolve: (w, _args, { og }) => {
          const now = og.clock.now().getTime();
          return !w.cancelledAt && w.startsAt.getTime() <= now && now < w.endsAt.getTime();
        },
      }),
      createdBy: t.field({ type: ActorRef, resolve: (w) => w.createdBy }),
      cancelledAt: t.field({ type: 'DateTime', nullable: true, resolve: (w) => w.cancelledAt }),
      cancelledBy: t.field({ type: ActorRef, nullable: true, resolve: (w) => w.cancelledBy }),
      version: t.exposeInt('version'),
      createdAt: t.field({ type: 'DateTime', resolve: (w) => w.createdAt }),
    }),
  });

  const Filter = builder.inputType('MaintenanceWindowFilter', {
    fields: (t) => ({
      activeAt: t.field({ type: 'DateTime', description: 'Active at this time.' }),
      ciId: t.id({ description: 'Naming this CI directly.' }),
      includeCancelled: t.boolean(),
    }),
  });

  builder.queryFields((t) => ({
    maintenanceWindows: t.connection({
      type: Window,
      description: 'Maintenance windows you may read (change:read on each CI they name), latest start first.',
      authScopes: { permissionSomewhere: permissions.changeRead },
      args: { filter: t.arg({ type: Filter }) },
      resolve: async (_root, { filter, first, after, last, before }, { og, actor }) => {
        const page = forwardPage({ first, after, last, before });
        const found = await og.changes.maintenanceWindows(
          defined({
            activeAt: filter?.activeAt,
            ciId: filter?.ciId == null ? undefined : String(filter.ciId),
            includeCancelled: filter?.includeCancelled,
          }),
          page,
          { actor },
        );
        return connectionOf(found, after);
      },
    }),
    maintenanceWindow: t.field({
      type: Window,
      nullable: true,
      authScopes: { permissionSomewhere: permissions.changeRead },
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) => og.changes.maintenanceWindow(String(id), { actor }),
    }),
  }));

  builder.mutationFields((t) => ({
    scheduleMaintenance: t.field({
      type: Window,
      errors: { types: mutationErrors },
      description: 'Schedules a maintenance window (change:write on each CI).',
      authScopes: { permissionSomewhere: permissions.changeWrite },
      args: {
        name: t.arg.string({ required: true }),
        reason: t.arg.string(),
        ciIds: t.arg.idList({ required: true }),
        startsAt: t.arg({ type: 'DateTime', required: true }),
        endsAt: t.arg({ type: 'DateTime', required: true }),
        changeId: t.arg.id(),
      },
      resolve: (_root, args, { og, actor }) =>
        og.changes.scheduleMaintenance(
          {
            name: args.name,
            ciIds: args.ciIds.map(String),
            startsAt: args.startsAt,
            endsAt: args.endsAt,
            ...defined({
              reason: args.reason,
              changeId: args.changeId == null ? undefined : String(args.changeId),
            }),
          },
          { actor },
        ),
    }),
    cancelMaintenance: t.field({
      type: Window,
      errors: { types: mutationErrors },
      description: 'Ends a window early (change:write on each CI it names).',
      authScopes: { permissionSomewhere: permissions.changeWrite },
      args: { id: t.arg.id({ required: true }), version: t.arg.int() },
      resolve: (_root, { id, version }, { og, actor }) =>
        og.changes.cancelMaintenance(String(id), { actor, ...(version != null ? { version } : {}) }),
    }),
  }));

  return { MaintenanceWindow: Window };
}
