import type { Page } from '../cmdb/model.js';
import type { Incident } from '../incidents/model.js';
import {
  type Actor,
  actorRef,
  can,
  canOn,
  canSomewhere,
  permissions,
  type ReadOptions,
  systemActor,
  type WriteOptions,
} from '../kernel/actor.js';
import { ForbiddenError, NotFoundError, ValidationError } from '../kernel/errors.js';
import type { Kernel, WriteScope } from '../kernel/kernel.js';
import type { Logger } from '../kernel/logger.js';
import { afterTimeId, pageSize, timeIdPage } from '../kernel/pagination.js';
import { CiReach } from '../kernel/reach.js';
import { isUuid, parseInput } from '../kernel/validation.js';
import {
  type IncidentWatcher,
  type MajorDeclaration,
  type Notification,
  type NotificationContent,
  type NotificationFilter,
  type NotificationKind,
  type NotificationPageRequest,
  type Notifier,
  notificationFilterInput,
  type OutgoingNotification,
  type ResolvedNotificationsOptions,
  resolveNotificationsOptions,
  retryDelayMs,
  type ServiceSubscription,
  type SubscriptionFilter,
  type SweepNotificationsResult,
  subscriptionFilterInput,
  type UserTargetInput,
  userTargetInput,
} from './model.js';
import * as store from './store.js';

/** Who the retry sweep acts as. */
export const notificationSweepActor: Actor = systemActor('notification-sweep');

/** What every kernel's notifications service shares: the channels, settings and deliveries in flight. */
export class NotificationRuntime {
  readonly options: ResolvedNotificationsOptions;
  readonly #inflight = new Set<Promise<unknown>>();

  constructor(
    readonly notifiers: readonly Notifier[] = [],
    options: Parameters<typeof resolveNotificationsOptions>[0] = {},
  ) {
    this.options = resolveNotificationsOptions(options, notifiers);
  }

  track<T>(work: Promise<T>): Promise<T> {
    this.#inflight.add(work);
    const done = () => this.#inflight.delete(work);
    work.then(done, done);
    return work;
  }

  /** Resolves when the deliveries started so far have ended (and those they started). */
  async settled(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  async close(logger: Logger): Promise<void> {
    await this.settled();
    for (const notifier of this.notifiers) {
      try {
        await notifier.close?.();
      } catch (error) {
        logger.warn({ err: error, notifier: notifier.name }, 'closing a notifier failed');
      }
    }
  }
}

/** incident:read on the incident's CI, or everywhere for an incident on no CI. */
const mayRead = (actor: Actor, incident: { ciId: string | null }) =>
  incident.ciId
    ? canOn(actor, permissions.incidentRead, incident.ciId)
    : can(actor, permissions.incidentRead);
const holdsOn = (actor: Actor, permission: string, incident: { ciId: string | null }) =>
  incident.ciId ? canOn(actor, permission, incident.ciId) : can(actor, permission);

const readGate = (actor: Actor | undefined) => {
  if (actor && !canSomewhere(actor, permissions.incidentRead))
    throw new ForbiddenError(permissions.incidentRead, actor.name);
};

const subjects: Record<NotificationKind, string> = {
  major_declared: 'Major incident',
  major_update: 'Major incident update',
  major_resolved: 'Resolved',
  major_closed: 'Closed',
  major_cleared: 'No longer a major incident',
};

const headlines: Record<NotificationKind, (number: string) => string> = {
  major_declared: (n) => `${n} has been declared a major incident.`,
  major_update: (n) => `There is a status update on major incident ${n}.`,
  major_resolved: (n) => `Major incident ${n} has been resolved.`,
  major_closed: (n) => `Major incident ${n} has been closed.`,
  major_cleared: (n) => `${n} is no longer a major incident.`,
};

const messageLabels: Record<NotificationKind, string> = {
  major_declared: 'Why',
  major_update: 'Update',
  major_resolved: 'Resolution',
  major_closed: 'Resolution',
  major_cleared: 'Why',
};

/**
 * Who is told about major incidents, and the telling: watchers of an incident, users' subscriptions to
 * business services, and the notifications written when an incident is declared major (and on its
 * updates, resolution, closure and clearing). Notifications are written in the incident's own
 * transaction (an outbox), delivered after commit through the configured notifiers, and retried with
 * backoff by `sweep()`; `og.notifications`.
 */
export class NotificationsService {
  constructor(
    private readonly kernel: Kernel,
    private readonly runtime: NotificationRuntime = new NotificationRuntime(),
  ) {}

  /** The configured channels' names. */
  get channels(): string[] {
    return this.runtime.notifiers.map((n) => n.name);
  }

  // Watchers -----------------------------------------------------------------------------------------

  /**
   * Adds a watcher to an incident: yourself (incident:read on it), or another user (incident:write on
   * it) who may read it too. Watching twice is watching once.
   */
  async watch(
    incidentId: string,
    input: UserTargetInput,
    { actor }: WriteOptions,
  ): Promise<IncidentWatcher[]> {
    const t = parseInput(userTargetInput, input);
    return this.kernel.write(actor, async (scope) => {
      const { incident, userId } = await this.#watchTarget(scope, incidentId, t.userId, actor);
      if (userId !== actor.userId) {
        const user = await scope.kernel.services.access.actorForUser({ id: userId });
        if (!user) throw ValidationError.field('userId', `no active user ${userId}`);
        if (!mayRead(user, incident))
          throw ValidationError.field('userId', `${user.name} may not read incident ${incident.number}`);
      }
      const added = await store.addWatcher(scope.db, {
        incidentId: incident.id,
        userId,
        at: scope.now,
        by: actorRef(actor),
      });
      if (added)
        scope.emit('incident.watcher_added', { type: 'incident', id: incident.id }, { incident, userId });
      return store.watchersOf(scope.db, [incident.id]);
    });
  }

  /** Removes a watcher: yourself, or another user with incident:write on the incident. */
  async unwatch(
    incidentId: string,
    input: UserTargetInput,
    { actor }: WriteOptions,
  ): Promise<IncidentWatcher[]> {
    const t = parseInput(userTargetInput, input);
    return this.kernel.write(actor, async (scope) => {
      const { incident, userId } = await this.#watchTarget(scope, incidentId, t.userId, actor);
      if (await store.removeWatcher(scope.db, incident.id, userId))
        scope.emit('incident.watcher_removed', { type: 'incident', id: incident.id }, { incident, userId });
      return store.watchersOf(scope.db, [incident.id]);
    });
  }

  /** The incident's watchers, first added first (incident:read on it). */
  async watchers(incidentId: string, { actor }: ReadOptions = {}): Promise<IncidentWatcher[]> {
    const incident = await this.kernel.services.incidents.incident(incidentId, { actor });
    if (!incident) throw new NotFoundError('incident', incidentId, 'incidentId');
    return store.watchersOf(this.kernel.db, [incident.id]);
  }

  /** Watchers of several incidents the caller already read (a page), in one query. */
  async watchersOfIncidents(
    incidentIds: readonly string[],
    { actor }: ReadOptions = {},
  ): Promise<Map<string, IncidentWatcher[]>> {
    readGate(actor);
    const ids = lowerUuids(incidentIds);
    const byIncident = new Map<string, IncidentWatcher[]>(ids.map((id) => [id, []]));
    for (const w of await store.watchersOf(this.kernel.db, ids)) byIncident.get(w.incidentId)?.push(w);
    return byIncident;
  }

  async #watchTarget(scope: WriteScope, incidentId: string, userId: string | undefined, actor: Actor) {
    const incident = await scope.kernel.services.incidents.incident(incidentId, { actor });
    if (!incident) throw new NotFoundError('incident', incidentId, 'incidentId');
    const target = userId?.toLowerCase() ?? actor.userId;
    if (!target) throw ValidationError.field('userId', `${actor.name} is no user: name the user`);
    if (target !== actor.userId && !holdsOn(actor, permissions.incidentWrite, incident))
      throw new ForbiddenError(permissions.incidentWrite, actor.name, 'userId');
    return { incident, userId: target };
  }

  // Service subscriptions ----------------------------------------------------------------------------

  /**
   * Subscribes a user to outage notifications of a business service (class `business_service` or
   * below): yourself (incident:read somewhere), or another user (incident:major). Twice is once.
   */
  async subscribe(
    serviceId: string,
    input: UserTargetInput,
    { actor }: WriteOptions,
  ): Promise<ServiceSubscription> {
    const t = parseInput(userTargetInput, input);
    const userId = this.#subscriber(actor, t.userId);
    if (!isUuid(serviceId)) throw ValidationError.field('serviceId', 'must be a UUID');
    const service = serviceId.toLowerCase();
    return this.kernel.write(actor, async (scope) => {
      if (!(await store.businessServiceName(scope.db, service)))
        throw ValidationError.field('serviceId', `no live business service ${serviceId}`);
      if (userId !== actor.userId) {
        const user = await scope.kernel.services.access.actorForUser({ id: userId });
        if (!user) throw ValidationError.field('userId', `no active user ${userId}`);
      }
      const added = await store.addSubscription(scope.db, {
        serviceId: service,
        userId,
        at: scope.now,
        by: actorRef(actor),
      });
      const subscription = (await store.findSubscription(scope.db, service, userId))!;
      if (added) scope.emit('service_subscription.created', { type: 'ci', id: service }, { subscription });
      return subscription;
    });
  }

  /** Ends a subscription (yourself, or another user's with incident:major); true when there was one. */
  async unsubscribe(serviceId: string, input: UserTargetInput, { actor }: WriteOptions): Promise<boolean> {
    const t = parseInput(userTargetInput, input);
    const userId = this.#subscriber(actor, t.userId);
    if (!isUuid(serviceId)) throw ValidationError.field('serviceId', 'must be a UUID');
    return this.kernel.write(actor, async (scope) => {
      const subscription = await store.findSubscription(scope.db, serviceId.toLowerCase(), userId);
      if (!subscription) return false;
      await store.removeSubscription(scope.db, subscription.id);
      scope.emit(
        'service_subscription.removed',
        { type: 'ci', id: subscription.serviceId },
        { subscription },
      );
      return true;
    });
  }

  /**
   * Subscriptions by service then user: your own (incident:read), anyone's with incident:major. Without
   * `userId`, yours, or every one with incident:major.
   */
  async subscriptions(
    filter: SubscriptionFilter = {},
    { actor }: ReadOptions = {},
  ): Promise<ServiceSubscription[]> {
    const f = parseInput(subscriptionFilterInput, filter, 'filter');
    readGate(actor);
    let userId = f.userId?.toLowerCase();
    if (actor && !can(actor, permissions.incidentMajor)) {
      if (userId && userId !== actor.userId)
        throw new ForbiddenError(permissions.incidentMajor, actor.name, 'filter.userId');
      if (!actor.userId) return [];
      userId = actor.userId;
    }
    return store.listSubscriptions(this.kernel.db, {
      ...(userId ? { userId } : {}),
      ...(f.serviceId ? { serviceId: f.serviceId.toLowerCase() } : {}),
    });
  }

  #subscriber(actor: Actor, userId: string | undefined): string {
    if (!canSomewhere(actor, permissions.incidentRead))
      throw new ForbiddenError(permissions.incidentRead, actor.name);
    const target = userId?.toLowerCase() ?? actor.userId;
    if (!target) throw ValidationError.field('userId', `${actor.name} is no user: name the user`);
    if (target !== actor.userId && !can(actor, permissions.incidentMajor))
      throw new ForbiddenError(permissions.incidentMajor, actor.name, 'userId');
    return target;
  }

  // Major declarations -------------------------------------------------------------------------------

  /** Records the start of a major period, inside the declaring write (the incidents service calls it). */
  openMajorPeriod(scope: WriteScope, incident: Incident, reason: string): Promise<MajorDeclaration> {
    return store.openPeriod(scope.db, {
      incidentId: incident.id,
      at: scope.now,
      by: actorRef(scope.actor),
      reason,
    });
  }

  /** Records the end of the open major period, inside the clearing write. */
  async closeMajorPeriod(scope: WriteScope, incident: Incident, reason: string): Promise<MajorDeclaration> {
    const closed = await store.closePeriod(scope.db, {
      incidentId: incident.id,
      at: scope.now,
      by: actorRef(scope.actor),
      reason,
    });
    // Declaring writes the flag and an open period together, so a major incident has one.
    if (!closed) throw new Error(`incident ${incident.number} is major without an open major period`);
    return closed;
  }

  /** The latest major period of each incident (open or cleared), for incidents the caller already read. */
  async majorDeclarationsOfIncidents(
    incidentIds: readonly string[],
    { actor }: ReadOptions = {},
  ): Promise<Map<string, MajorDeclaration>> {
    readGate(actor);
    return store.latestPeriods(this.kernel.db, lowerUuids(incidentIds));
  }

  /** Every period the incident was major, oldest first (incident:read on it). */
  async majorHistory(incidentId: string, { actor }: ReadOptions = {}): Promise<MajorDeclaration[]> {
    const incident = await this.kernel.services.incidents.incident(incidentId, { actor });
    if (!incident) throw new NotFoundError('incident', incidentId, 'incidentId');
    return store.periodsOf(this.kernel.db, incident.id);
  }

  // The record -----------------------------------------------------------------------------------------

  /**
   * Notifications, newest first, of incidents you may read: your own, or everyone's with incident:major.
   */
  async notifications(
    filter: NotificationFilter = {},
    page: NotificationPageRequest = {},
    { actor }: ReadOptions = {},
  ): Promise<Page<Notification>> {
    const reach = CiReach.of(actor, permissions.incidentRead);
    const f = parseInput(notificationFilterInput, filter, 'filter');
    const recipientId = this.#recipientScope(actor, f.recipientId?.toLowerCase());
    if (recipientId === null) return { edges: [], hasNextPage: false, endCursor: null };
    const first = pageSize(page.first);
    const rows = await store.listNotifications(this.kernel.db, {
      ...(f.incidentId ? { incidentIds: [f.incidentId.toLowerCase()] } : {}),
      ...(recipientId ? { recipientId } : {}),
      ...(f.status ? { status: f.status } : {}),
      ...(f.kind ? { kind: f.kind } : {}),
      ...(f.channel ? { channel: f.channel } : {}),
      reach: reach.where('incidents.ci_id'),
      after: afterTimeId(page.after),
      limit: first + 1,
    });
    return timeIdPage(rows, first, (n) => n.createdAt);
  }

  /** Notifications of several incidents the caller already read, newest first, as `notifications` filters them. */
  async notificationsOfIncidents(
    incidentIds: readonly string[],
    { actor }: ReadOptions = {},
  ): Promise<Map<string, Notification[]>> {
    readGate(actor);
    const ids = lowerUuids(incidentIds);
    const byIncident = new Map<string, Notification[]>(ids.map((id) => [id, []]));
    const recipientId = this.#recipientScope(actor, undefined);
    if (recipientId === null || ids.length === 0) return byIncident;
    const rows = await store.listNotifications(this.kernel.db, {
      incidentIds: ids,
      ...(recipientId ? { recipientId } : {}),
      reach: null,
      limit: 10_000,
    });
    for (const n of rows) byIncident.get(n.incidentId)?.push(n);
    return byIncident;
  }

  /** undefined: everyone's; a user id: only theirs; null: nobody's (an actor that is no user). */
  #recipientScope(actor: Actor | undefined, wanted: string | undefined): string | undefined | null {
    if (!actor || can(actor, permissions.incidentMajor)) return wanted;
    if (wanted && wanted !== actor.userId)
      throw new ForbiddenError(permissions.incidentMajor, actor.name, 'filter.recipientId');
    return actor.userId ?? null;
  }

  // Writing and delivering -----------------------------------------------------------------------------

  /**
   * Writes the notifications of `kind` about `incident` inside the caller's write (the outbox): one per
   * configured channel for each active user who watches the incident or subscribes to one of its
   * business services and may read it. Delivered after commit. Returns how many users are told.
   */
  async enqueue(
    scope: WriteScope,
    incident: Incident,
    kind: NotificationKind,
    message: string | null,
  ): Promise<number> {
    const { notifiers } = this.runtime;
    if (notifiers.length === 0) return 0;
    const candidates = await store.candidatesOf(scope.db, incident.id, incident.serviceIds);
    const recipients = [];
    for (const user of candidates) {
      const actor = await scope.kernel.services.access.actorForUser({ id: user.id });
      if (actor && mayRead(actor, incident)) recipients.push(user);
    }
    if (recipients.length === 0) return 0;
    const services = await store.serviceNames(scope.db, incident.serviceIds);
    const occasionId = crypto.randomUUID();
    const rows = recipients.flatMap((user) => {
      const content = compose(kind, incident, services, message, {
        userId: user.id,
        name: user.name,
        email: user.email,
      });
      return notifiers.map((notifier) => ({
        occasionId,
        incidentId: incident.id,
        kind,
        recipientId: user.id,
        channel: notifier.name,
        content,
      }));
    });
    await store.insertNotifications(scope.db, rows, scope.now);
    return recipients.length;
  }

  /**
   * Delivers the notifications due now (of one incident, when given): claims them (so no other process
   * sends them), sends each through its channel outside any transaction, and records sent or failed
   * (with the next attempt's time, by exponential backoff, until `maxAttempts`).
   */
  deliver(options: { readonly incidentId?: string } = {}): Promise<SweepNotificationsResult> {
    if (this.kernel.inTransaction)
      throw new Error('notifications are delivered after commit: call deliver() outside a transaction');
    return this.runtime.track(
      (async () => {
        const now = this.kernel.clock.now();
        const claimed = await store.claimDue(this.kernel.db, {
          now,
          leaseUntil: new Date(now.getTime() + this.runtime.options.leaseMs),
          limit: this.runtime.options.batchSize,
          ...(options.incidentId ? { incidentId: options.incidentId } : {}),
        });
        return this.#send(claimed);
      })(),
    );
  }

  /**
   * Retries what is due (failed ones after their backoff, and any a dead process had claimed), once
   * across replicas: an advisory lock lets one sweep claim while the others return empty-handed, and
   * each claimed notification is sent by its claimer only. What a timer calls.
   */
  sweep(): Promise<SweepNotificationsResult> {
    if (this.kernel.inTransaction)
      throw new Error('notifications are delivered after commit: call sweep() outside a transaction');
    return this.runtime.track(
      (async () => {
        if (this.runtime.notifiers.length === 0) return { sent: [], failed: [] };
        const claimed = await this.kernel.db.transaction().execute(async (trx) => {
          if (!(await store.trySweepLock(trx))) return [];
          const now = this.kernel.clock.now();
          return store.claimDue(trx, {
            now,
            leaseUntil: new Date(now.getTime() + this.runtime.options.leaseMs),
            limit: this.runtime.options.batchSize,
          });
        });
        return this.#send(claimed);
      })(),
    );
  }

  /** Resolves when every delivery started so far has ended: for tests and graceful shutdown. */
  settled(): Promise<void> {
    return this.runtime.settled();
  }

  async #send(claimed: readonly store.Claimed[]): Promise<SweepNotificationsResult> {
    const sent: Notification[] = [];
    const failed: Notification[] = [];
    const byName = new Map(this.runtime.notifiers.map((n) => [n.name, n]));
    const { options } = this.runtime;
    await Promise.all(
      claimed.map(async ({ row, claimId }) => {
        const content = row.content as NotificationContent;
        const attempts = Number(row.attempts);
        const notifier = byName.get(row.channel as string);
        let error: string | undefined;
        if (!notifier) error = `no notifier named ${row.channel} is configured`;
        else {
          const outgoing: OutgoingNotification = {
            id: row.id as string,
            kind: row.kind as NotificationKind,
            channel: notifier.name,
            attempt: attempts,
            recipient: content.recipient,
            incident: content.incident,
            services: content.services,
            subject: content.subject,
            text: content.text,
            message: content.message,
            createdAt: new Date(row.createdAt as string),
          };
          try {
            await notifier.send(outgoing);
          } catch (e) {
            error = (e instanceof Error ? e.message : String(e)) || 'the notifier failed';
          }
        }
        const at = this.kernel.clock.now();
        const retryAt =
          attempts >= options.maxAttempts ? null : new Date(at.getTime() + retryDelayMs(attempts, options));
        const settled = await store
          .settle(
            this.kernel.db,
            row.id as string,
            claimId,
            error === undefined ? { sent: true, at } : { sent: false, at, error, retryAt },
          )
          .catch((e) => {
            this.kernel.logger.error({ err: e, notification: row.id }, 'recording a delivery failed');
            return undefined;
          });
        if (!settled) return;
        if (settled.status === 'sent') sent.push(settled);
        else {
          failed.push(settled);
          this.kernel.logger.warn(
            { notification: settled.id, channel: settled.channel, attempts, error },
            settled.nextAttemptAt ? 'notification failed; will retry' : 'notification failed; giving up',
          );
        }
      }),
    );
    return { sent, failed };
  }
}

/** Delivers after each commit that wrote notifications; returns a function that stops it. */
export function deliverAfterCommit(kernel: Kernel, runtime: NotificationRuntime): () => void {
  if (runtime.notifiers.length === 0) return () => {};
  const types = [
    'incident.major_declared',
    'incident.major_cleared',
    'incident.major_update',
    'incident.state_changed',
  ] as const;
  const offs = types.map((type) =>
    kernel.bus.on(type, (event) => {
      if (type === 'incident.state_changed') {
        const incident = (event.payload as { incident?: { major?: boolean } }).incident;
        if (!incident?.major) return;
      }
      const id = event.subject?.id;
      if (!id) return;
      kernel.services.notifications.deliver({ incidentId: id }).catch((error) => {
        kernel.logger.warn(
          { err: error, incident: id },
          'delivering notifications failed; the sweep retries',
        );
      });
    }),
  );
  return () => {
    for (const off of offs) off();
  };
}

function lowerUuids(ids: readonly string[]): string[] {
  return [...new Set(ids.filter((id) => isUuid(id)).map((id) => id.toLowerCase()))];
}

function compose(
  kind: NotificationKind,
  incident: Incident,
  services: readonly { id: string; name: string }[],
  message: string | null,
  recipient: NotificationContent['recipient'],
): NotificationContent {
  const subject = `[${subjects[kind]}] ${incident.number}: ${incident.shortDescription}`;
  const lines = [
    `Hello ${recipient.name},`,
    '',
    headlines[kind](incident.number),
    '',
    `${incident.number}: ${incident.shortDescription}`,
    `Priority: P${incident.priority}. State: ${incident.state.replace('_', ' ')}.`,
    `Affected services: ${services.length > 0 ? services.map((s) => s.name).join(', ') : 'none identified'}.`,
  ];
  if (message) lines.push('', `${messageLabels[kind]}: ${message}`);
  if (kind === 'major_resolved' && incident.resolutionNotes)
    lines.push('', `Resolution: ${incident.resolutionNotes}`);
  lines.push(
    '',
    'You receive this because you watch this incident or subscribe to one of the affected services.',
  );
  return {
    recipient,
    incident: {
      id: incident.id,
      number: incident.number,
      shortDescription: incident.shortDescription,
      priority: incident.priority,
      state: incident.state,
      major: incident.major,
      ciId: incident.ciId,
    },
    services: services.map((s) => ({ id: s.id, name: s.name })),
    subject,
    text: lines.join('\n'),
    message,
  };
}
