import type { ColumnType, Generated } from 'kysely';
import { z } from 'zod';
import type { PageRequest } from '../cmdb/model.js';
import type { ActorRef, WriteOptions } from '../kernel/actor.js';

/** Most CIs one maintenance window may name (what they contain is covered too, without limit). */
export const MAX_WINDOW_CIS = 1000;
/** Longest maintenance window: beyond a month, it is a retirement, not maintenance. */
export const MAX_WINDOW_DAYS = 31;

export const maintenanceWindowInput = z
  .strictObject({
    name: z.string().trim().min(1, 'must not be empty').max(200),
    reason: z.string().max(4000).default(''),
    /** The CIs under maintenance; each covers what it contains (`contains`, transitively). */
    ciIds: z.array(z.uuid()).min(1, 'must name at least one CI').max(MAX_WINDOW_CIS),
    startsAt: z.coerce.date(),
    endsAt: z.coerce.date(),
    /** The change request behind it, when there is one. */
    changeId: z.uuid().nullish(),
  })
  .superRefine((w, ctx) => {
    if (w.endsAt <= w.startsAt)
      ctx.addIssue({ code: 'custom', path: ['endsAt'], message: 'must be after startsAt' });
    else if (w.endsAt.getTime() - w.startsAt.getTime() > MAX_WINDOW_DAYS * 86_400_000)
      ctx.addIssue({
        code: 'custom',
        path: ['endsAt'],
        message: `must be at most ${MAX_WINDOW_DAYS} days after startsAt`,
      });
  });
export type MaintenanceWindowInput = z.input<typeof maintenanceWindowInput>;

export const maintenanceFilterInput = z.strictObject({
  /** Windows active at this time (started, not ended, not cancelled). */
  activeAt: z.coerce.date().optional(),
  /** Windows naming this CI directly. */
  ciId: z.uuid().optional(),
  /** Include cancelled windows (default: no). */
  includeCancelled: z.boolean().optional(),
});
export type MaintenanceFilter = z.input<typeof maintenanceFilterInput>;

export interface MaintenanceWindowTable {
  id: string;
  name: string;
  reason: string;
  startsAt: Date;
  endsAt: Date;
  changeId: string | null;
  createdBy: ColumnType<ActorRef, string, string>;
  cancelledAt: Date | null;
  cancelledBy: ColumnType<ActorRef | null, string | null, string | null>;
  version: Generated<number>;
  createdAt: Date;
  updatedAt: Date;
}

export interface MaintenanceWindowCiTable {
  windowId: string;
  ciId: string;
}

export interface MaintenanceWindow {
  readonly id: string;
  readonly name: string;
  readonly reason: string;
  readonly ciIds: readonly string[];
  readonly startsAt: Date;
  readonly endsAt: Date;
  readonly changeId: string | null;
  readonly createdBy: ActorRef;
  readonly cancelledAt: Date | null;
  readonly cancelledBy: ActorRef | null;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** Cancel names the version read (optional: without it, no conflict check). */
export interface CancelMaintenanceOptions extends WriteOptions {
  readonly version?: number;
}

/** A page of windows, latest start first. */
export interface MaintenancePageRequest extends PageRequest {}

declare module '../kernel/events.js' {
  interface DomainEventMap {
    'maintenance.scheduled': { window: MaintenanceWindow };
    'maintenance.cancelled': { window: MaintenanceWindow };
  }
}
