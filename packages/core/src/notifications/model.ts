import type { ColumnType, Generated } from 'kysely';
import { z } from 'zod';
import type { PageRequest } from '../cmdb/model.js';
import type { Incident } from '../incidents/model.js';
import type { ActorRef } from '../kernel/actor.js';

/**
 * What a notification is about: an incident declared major, a status update posted on it, it resolved,
 * closed, or no longer major.
 */
export const notificationKinds = [
  'major_declared',
  'major_update',
  'major_resolved',
  'major_closed',
  'major_cleared',
] as const;
export type NotificationKind = (typeof notificationKinds)[number];

/**
 * `pending`: not yet delivered (new, or being delivered); `sent`: delivered; `failed`: the last attempt
 * failed (retried by the sweep with backoff until `maxAttempts`, then given up: `nextAttemptAt` null).
 */
export const notificationStatuses = ['pending', 'sent', 'failed'] as const;
export type NotificationStatus = (typeof notificationStatuses)[number];

/** Who a notification goes to. */
export interface NotificationRecipient {
  readonly userId: string;
  readonly name: string;
  readonly email: string;
}

/** The incident as it was when the notification was written (what the message says). */
export interface NotifiedIncident {
  readonly id: string;
  readonly number: string;
  readonly shortDescription: string;
  readonly priority: number;
  readonly state: string;
  readonly major: boolean;
  readonly ciId: string | null;
}

/** What a notifier sends: one message to one user through one channel. */
export interface OutgoingNotification {
  readonly id: string;
  readonly kind: NotificationKind;
  /** The notifier's name. */
  readonly channel: string;
  /** 1 on the first try. */
  readonly attempt: number;
  readonly recipient: NotificationRecipient;
  readonly incident: NotifiedIncident;
  /** The affected business services (by impact analysis), with their names. */
  readonly services: readonly { readonly id: string; readonly name: string }[];
  readonly subject: string;
  /** Plain text, ready to send. */
  readonly text: string;
  /** Why it was declared or cleared, or the status update posted; null otherwise. */
  readonly message: string | null;
  readonly createdAt: Date;
}

/**
 * A channel that delivers notifications (email, a webhook, chat …). `send` resolves when delivered and
 * rejects with the reason when not; the delivery is then recorded as failed and retried later, so a
 * notifier should be idempotent by `notification.id` where its channel allows it.
 */
export interface Notifier {
  /** Unique among the configured notifiers; recorded as each notification's `channel`. */
  readonly name: string;
  send(notification: OutgoingNotification): Promise<void>;
  /** Releases connections (called by `og.close()`). */
  close?(): Promise<void> | void;
}

export interface NotificationsOptions {
  /** Attempts before a notification is given up. Default 8. */
  readonly maxAttempts?: number;
  /** Wait before the first retry, doubled after each failure. Default 60,000 ms. */
  readonly retryBaseMs?: number;
  /** The longest wait between retries. Default 3,600,000 ms (an hour). */
  readonly retryMaxMs?: number;
  /**
   * How long a delivery may take before another process may take it over (it is presumed dead). Default
   * 300,000 ms; keep it well above the notifiers' own timeouts.
   */
  readonly leaseMs?: number;
  /** Notifications one delivery round or sweep claims at most. Default 100. */
  readonly batchSize?: number;
}

export type ResolvedNotificationsOptions = Required<NotificationsOptions>;

export function resolveNotificationsOptions(
  options: NotificationsOptions = {},
  notifiers: readonly Notifier[] = [],
): ResolvedNotificationsOptions {
  const resolved = {
    maxAttempts: options.maxAttempts ?? 8,
    retryBaseMs: options.retryBaseMs ?? 60_000,
    retryMaxMs: options.retryMaxMs ?? 3_600_000,
    leaseMs: options.leaseMs ?? 300_000,
    batchSize: options.batchSize ?? 100,
  };
  for (const [key, value] of Object.entries(resolved))
    if (!Number.isSafeInteger(value) || value < 1)
      throw new TypeError(`notifications.${key} must be a positive integer; got ${value}`);
  const names = new Set<string>();
  for (const notifier of notifiers) {
    if (typeof notifier?.name !== 'string' || !/^[a-z][a-z0-9_-]{0,62}$/.test(notifier.name))
      throw new TypeError(
        `each notifier needs a name of lower-case letters, digits, - and _; got ${notifier?.name}`,
      );
    if (typeof notifier.send !== 'function') throw new TypeError(`notifier ${notifier.name} has no send()`);
    if (names.has(notifier.name)) throw new TypeError(`two notifiers are named ${notifier.name}`);
    names.add(notifier.name);
  }
  return resolved;
}

/** The wait before retry number `attempts + 1`: base × 2^(attempts − 1), capped. */
export function retryDelayMs(attempts: number, o: ResolvedNotificationsOptions): number {
  return Math.min(o.retryMaxMs, o.retryBaseMs * 2 ** Math.max(0, attempts - 1));
}

const text = (max: number) => z.string().trim().min(1, 'must not be empty').max(max);

export const majorInput = z.strictObject({
  /** Why: shown to who is notified, kept in the incident's major history. */
  reason: text(4000),
});
export type MajorInput = z.input<typeof majorInput>;

export const majorUpdateInput = z.strictObject({
  /** The status update, for everyone affected: also kept as a comment on the incident. */
  message: text(4000),
});
export type MajorUpdateInput = z.input<typeof majorUpdateInput>;

export const userTargetInput = z.strictObject({
  /** The user; default: the acting user. */
  userId: z.uuid().optional(),
});
export type UserTargetInput = z.input<typeof userTargetInput>;

export const subscriptionFilterInput = z.strictObject({
  userId: z.uuid().optional(),
  serviceId: z.uuid().optional(),
});
export type SubscriptionFilter = z.input<typeof subscriptionFilterInput>;

export const notificationFilterInput = z.strictObject({
  incidentId: z.uuid().optional(),
  recipientId: z.uuid().optional(),
  status: z.array(z.enum(notificationStatuses)).min(1).optional(),
  kind: z.array(z.enum(notificationKinds)).min(1).optional(),
  channel: z.string().max(63).optional(),
});
export type NotificationFilter = z.input<typeof notificationFilterInput>;

export interface NotificationPageRequest extends PageRequest {}

/** One period an incident was major: declared (who, when, why) and, once over, cleared. */
export interface MajorDeclaration {
  readonly id: string;
  readonly incidentId: string;
  readonly declaredAt: Date;
  readonly declaredBy: ActorRef;
  readonly reason: string;
  readonly clearedAt: Date | null;
  readonly clearedBy: ActorRef | null;
  readonly clearReason: string | null;
}

export interface IncidentWatcher {
  readonly incidentId: string;
  readonly userId: string;
  readonly userName: string;
  readonly addedAt: Date;
  readonly addedBy: ActorRef;
}

export interface ServiceSubscription {
  readonly id: string;
  readonly serviceId: string;
  readonly serviceName: string;
  readonly userId: string;
  readonly userName: string;
  readonly createdAt: Date;
  readonly createdBy: ActorRef;
}

/** The record of one notification: what, to whom, through which channel, and how delivery went. */
export interface Notification {
  readonly id: string;
  readonly incidentId: string;
  readonly kind: NotificationKind;
  readonly recipientId: string;
  readonly channel: string;
  readonly status: NotificationStatus;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly sentAt: Date | null;
  /** When the next attempt is due; null once sent or given up. */
  readonly nextAttemptAt: Date | null;
  readonly subject: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface SweepNotificationsResult {
  readonly sent: readonly Notification[];
  readonly failed: readonly Notification[];
}

export interface IncidentMajorPeriodTable {
  id: string;
  incidentId: string;
  declaredAt: Date;
  declaredBy: ColumnType<ActorRef, string, string>;
  reason: string;
  clearedAt: Date | null;
  clearedBy: ColumnType<ActorRef | null, string | null, string | null>;
  clearReason: string | null;
}

export interface IncidentWatcherTable {
  incidentId: string;
  userId: string;
  addedAt: Date;
  addedBy: ColumnType<ActorRef, string, string>;
}

export interface ServiceSubscriptionTable {
  id: string;
  serviceId: string;
  userId: string;
  createdAt: Date;
  createdBy: ColumnType<ActorRef, string, string>;
}

export interface NotificationContent {
  readonly recipient: NotificationRecipient;
  readonly incident: NotifiedIncident;
  readonly services: readonly { readonly id: string; readonly name: string }[];
  readonly subject: string;
  readonly text: string;
  readonly message: string | null;
}

export interface NotificationTable {
  id: string;
  /** One fan-out (a declaration, an update …): a user gets one notification per channel in each. */
  occasionId: string;
  incidentId: string;
  kind: NotificationKind;
  recipientId: string;
  channel: string;
  status: NotificationStatus;
  attempts: Generated<number>;
  lastError: string | null;
  sentAt: Date | null;
  nextAttemptAt: Date | null;
  claimId: string | null;
  claimedUntil: Date | null;
  content: ColumnType<NotificationContent, string, string>;
  createdAt: Date;
  updatedAt: Date;
}

declare module '../kernel/events.js' {
  interface DomainEventMap {
    'incident.major_declared': { incident: Incident; declaration: MajorDeclaration; notified: number };
    'incident.major_cleared': { incident: Incident; declaration: MajorDeclaration; notified: number };
    'incident.major_update': { incident: Incident; message: string; notified: number };
    'incident.watcher_added': { incident: Incident; userId: string };
    'incident.watcher_removed': { incident: Incident; userId: string };
    'service_subscription.created': { subscription: ServiceSubscription };
    'service_subscription.removed': { subscription: ServiceSubscription };
  }
}
