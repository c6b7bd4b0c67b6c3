import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ValidationError, type ValidationIssue } from '../kernel/errors.js';
import { parseInput } from '../kernel/validation.js';
import {
  type EventAction,
  type EventInput,
  type EventSeverity,
  eventInput,
  MAX_EVENTS_PER_INGEST,
  type NormalizedEvent,
} from './model.js';

/**
 * Normalisers: pure functions from what a source sends to OpsGraph's one event shape. A bad body is a
 * ValidationError naming the field at fault (e.g. `alerts.2.labels`); nothing is ingested.
 */

/** The dedup key of an event that brings none: its source, node (any case), type and resource. */
export function deriveDedupKey(e: { source: string; node: string; type: string; resource?: string }): string {
  return [e.source, e.node.toLowerCase(), e.type, e.resource ?? ''].join('|');
}

function complete(data: z.output<typeof eventInput>): NormalizedEvent {
  const severity = data.severity;
  return {
    source: data.source,
    node: data.node,
    resource: data.resource,
    type: data.type,
    severity,
    action: data.action ?? (severity === 'clear' ? 'resolve' : 'trigger'),
    message: data.message,
    dedupKey: data.dedupKey ?? deriveDedupKey(data),
    labels: data.labels,
    occurredAt: data.occurredAt ?? null,
    ciId: data.ciId ? data.ciId.toLowerCase() : null,
    raw: data.raw ?? null,
  };
}

/**
 * OpsGraph's own JSON: one event or an array of them, in the shape of `EventInput`. Errors name the
 * field (`node`, or `3.severity` in an array).
 */
export function normalizeGeneric(body: unknown): NormalizedEvent[] {
  if (Array.isArray(body)) {
    if (body.length > MAX_EVENTS_PER_INGEST)
      throw ValidationError.field('', `at most ${MAX_EVENTS_PER_INGEST} events at once`);
    const issues: ValidationIssue[] = [];
    const events: NormalizedEvent[] = [];
    body.forEach((item, i) => {
      try {
        events.push(complete(parseInput(eventInput, item, String(i))));
      } catch (error) {
        if (error instanceof ValidationError) issues.push(...error.issues);
        else throw error;
      }
    });
    if (issues.length > 0) throw new ValidationError(issues);
    return events;
  }
  if (typeof body !== 'object' || body === null)
    throw ValidationError.field('', 'must be an event (an object) or an array of events');
  return [complete(parseInput(eventInput, body))];
}

// Alertmanager -----------------------------------------------------------------------------------

const isoTime = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), 'must be an RFC 3339 time')
  .transform((s) => new Date(s));
const stringMap = z.record(z.string(), z.string());

const alertmanagerAlert = z.looseObject({
  status: z.enum(['firing', 'resolved']),
  labels: stringMap,
  annotations: stringMap.default({}),
  startsAt: isoTime,
  endsAt: isoTime.optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().min(1).optional(),
});

/** The Alertmanager webhook body (`webhook_config`), version 4; fields it may add later are kept. */
const alertmanagerBody = z.looseObject({
  version: z.literal('4', 'must be "4" (the Alertmanager webhook version this reads)'),
  groupKey: z.string(),
  truncatedAlerts: z.int().min(0).optional(),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string(),
  groupLabels: stringMap.default({}),
  commonLabels: stringMap.default({}),
  commonAnnotations: stringMap.default({}),
  externalURL: z.string().optional(),
  alerts: z.array(alertmanagerAlert).max(MAX_EVENTS_PER_INGEST),
});

/** Prometheus's customary `severity` label values (and a few common others) to ours. */
const severityWords: Record<string, EventSeverity> = {
  critical: 'critical',
  crit: 'critical',
  fatal: 'critical',
  page: 'critical',
  p1: 'critical',
  error: 'major',
  major: 'major',
  high: 'major',
  p2: 'major',
  minor: 'minor',
  medium: 'minor',
  p3: 'minor',
  warning: 'warning',
  warn: 'warning',
  p4: 'warning',
  info: 'info',
  informational: 'info',
  low: 'info',
  none: 'info',
  p5: 'info',
};

/** `web-01:9100` → `web-01`, `https://shop.example/health` → `shop.example`, `[::1]:9100` → `::1`. */
export function hostOfInstance(instance: string): string {
  const value = instance.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    try {
      return new URL(value).hostname.replace(/^\[(.*)\]$/, '$1');
    } catch {
      return value;
    }
  }
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(value);
  if (bracketed) return bracketed[1]!;
  // One colon: host:port. More: a bare IPv6 address, kept whole.
  const parts = value.split(':');
  if (parts.length === 2 && /^\d+$/.test(parts[1]!)) return parts[0]!;
  return value;
}

const labelsHash = (labels: Record<string, string>): string =>
  createHash('sha256')
    .update(JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))))
    .digest('hex')
    .slice(0, 16);

/**
 * A Prometheus Alertmanager webhook (version 4): one event per alert of the group. A firing alert's
 * severity comes from its `severity` label (`warning` when it has none or an unknown one); a resolved
 * alert is `clear`. Node: the `hostname`, `host`, `node` or `nodename` label, else the host of
 * `instance`, else `job`; type: `alertname`; resource: `device`, `mountpoint`, `service` or `job`;
 * message: the `summary`, `description` or `message` annotation. Dedup key: `alertmanager:` and the
 * alert's fingerprint, or a hash of its labels when the sender gives none (Alertmanager's fingerprint
 * is itself a hash of the labels, so both stay stable between firing and resolved).
 */
export function normalizeAlertmanager(body: unknown): NormalizedEvent[] {
  const group = parseInput(alertmanagerBody, body);
  return group.alerts.map((alert, i) => {
    const labels = { ...alert.labels };
    const annotations = { ...group.commonAnnotations, ...alert.annotations };
    const resolved = alert.status === 'resolved';
    const word = labels.severity?.toLowerCase();
    const severity: EventSeverity = resolved ? 'clear' : (severityWords[word ?? ''] ?? 'warning');
    const instance = labels.instance ? hostOfInstance(labels.instance) : undefined;
    const node =
      labels.hostname ??
      labels.host ??
      labels.node ??
      labels.nodename ??
      instance ??
      labels.job ??
      group.receiver;
    const type = labels.alertname ?? 'alert';
    const ends = alert.endsAt && alert.endsAt.getUTCFullYear() > 1 ? alert.endsAt : undefined;
    const input: EventInput = {
      source: 'alertmanager',
      node: node || group.receiver || 'alertmanager',
      resource: labels.device ?? labels.mountpoint ?? labels.service ?? labels.job ?? '',
      type,
      severity,
      message: annotations.summary ?? annotations.description ?? annotations.message ?? type,
      dedupKey: `alertmanager:${alert.fingerprint ?? labelsHash(labels)}`,
      labels,
      occurredAt: resolved ? (ends ?? alert.startsAt) : alert.startsAt,
      raw: { ...alert, groupKey: group.groupKey, receiver: group.receiver, externalURL: group.externalURL },
    };
    return complete(parseInput(eventInput, input, `alerts.${i}`));
  });
}

// PagerDuty Events API v2 --------------------------------------------------------------------------

const pagerDutyPayload = z.looseObject({
  summary: z.string().min(1).max(1024),
  source: z.string().min(1).max(255),
  severity: z.enum(['critical', 'error', 'warning', 'info']),
  timestamp: isoTime.optional(),
  component: z.string().optional(),
  group: z.string().optional(),
  class: z.string().optional(),
  custom_details: z.unknown().optional(),
});

/** An alert event of the PagerDuty Events API v2 (what `POST /v2/enqueue` takes). */
const pagerDutyBody = z
  .looseObject({
    routing_key: z.string().min(1),
    event_action: z.enum(['trigger', 'acknowledge', 'resolve']),
    dedup_key: z.string().min(1).max(255).optional(),
    payload: pagerDutyPayload.optional(),
    client: z.string().optional(),
    client_url: z.string().optional(),
    links: z.array(z.unknown()).optional(),
    images: z.array(z.unknown()).optional(),
  })
  .superRefine((body, ctx) => {
    if (body.event_action === 'trigger' && !body.payload)
      ctx.addIssue({ code: 'custom', path: ['payload'], message: 'is required to trigger' });
    if (body.event_action !== 'trigger' && !body.dedup_key)
      ctx.addIssue({ code: 'custom', path: ['dedup_key'], message: `is required to ${body.event_action}` });
  });

const pagerDutySeverity: Record<string, EventSeverity> = {
  critical: 'critical',
  error: 'major',
  warning: 'warning',
  info: 'info',
};

/**
 * A PagerDuty Events API v2 alert event: `trigger` opens or repeats (severity critical, error → major,
 * warning, info), `acknowledge` acknowledges, `resolve` closes (severity `clear`). Node: `payload.source`;
 * type: `payload.class` (else the summary); resource: `payload.component`; `component`, `group` and
 * `class` become labels. Dedup key: `dedup_key`, else derived (PagerDuty would make up a random one,
 * which could never be resolved). The routing key is not kept in `raw`.
 */
export function normalizePagerDuty(body: unknown): NormalizedEvent[] {
  const data = parseInput(pagerDutyBody, body);
  const payload = data.payload;
  const action: EventAction = data.event_action;
  const labels: Record<string, string> = {};
  for (const key of ['component', 'group', 'class'] as const) {
    const value = payload?.[key];
    if (value) labels[key] = value;
  }
  const node = payload?.source ?? 'pagerduty';
  const type = payload?.class || payload?.summary || action;
  const resource = payload?.component ?? '';
  const input: EventInput = {
    source: 'pagerduty',
    node,
    resource,
    type,
    severity:
      action === 'resolve' ? 'clear' : payload ? (pagerDutySeverity[payload.severity] ?? 'warning') : 'info',
    action,
    message: payload?.summary ?? '',
    dedupKey: data.dedup_key ?? deriveDedupKey({ source: 'pagerduty', node, type, resource }),
    labels,
    occurredAt: payload?.timestamp ?? null,
    raw: { ...data, routing_key: '[redacted]' },
  };
  return [complete(parseInput(eventInput, input))];
}
