import { describe, expect, it } from 'vitest';
import { isOpsGraphError, type ValidationError } from '../kernel/errors.js';
import { alertmanagerFiring, alertmanagerResolved, pagerDutyTrigger } from './fixtures.js';
import { hostOfInstance, normalizeAlertmanager, normalizeGeneric, normalizePagerDuty } from './normalize.js';

function fieldsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (isOpsGraphError(error) && error.code === 'VALIDATION')
      return (error as ValidationError).issues.map((i) => i.path);
    throw error;
  }
  throw new Error('expected a ValidationError');
}

describe('normalizeAlertmanager', () => {
  it('turns each alert of a firing group into an event', () => {
    const [disk, load] = normalizeAlertmanager(alertmanagerFiring());
    expect(disk).toMatchObject({
      source: 'alertmanager',
      node: 'web-01',
      resource: '/dev/sda1',
      type: 'NodeFilesystemAlmostFull',
      severity: 'critical',
      action: 'trigger',
      message: 'Filesystem has less than 5% space left.',
      dedupKey: 'alertmanager:1a30ba71cca2921f',
      ciId: null,
    });
    expect(disk!.labels.mountpoint).toBe('/');
    expect(disk!.occurredAt?.toISOString()).toBe('2026-03-01T08:52:26.739Z');
    expect(disk!.raw).toMatchObject({ fingerprint: '1a30ba71cca2921f', receiver: 'opsgraph' });
    expect(load).toMatchObject({ node: '10.0.0.12', severity: 'warning', resource: 'node' });
  });

  it('makes resolved alerts clear, at their end time, with the same dedup key', () => {
    const events = normalizeAlertmanager(alertmanagerResolved());
    expect(events.map((e) => [e.severity, e.action, e.dedupKey])).toEqual([
      ['clear', 'resolve', 'alertmanager:1a30ba71cca2921f'],
      ['clear', 'resolve', 'alertmanager:c6eadffa33fcdf37'],
    ]);
    expect(events[0]!.occurredAt?.toISOString()).toBe('2026-03-01T09:05:26.000Z');
  });

  it('derives a stable key from the labels when the sender gives no fingerprint', () => {
    const firing = alertmanagerFiring();
    const resolved = alertmanagerResolved();
    for (const body of [firing, resolved])
      for (const a of body.alerts) delete (a as { fingerprint?: string }).fingerprint;
    const [a] = normalizeAlertmanager(firing);
    const [b] = normalizeAlertmanager(resolved);
    expect(a!.dedupKey).toMatch(/^alertmanager:[0-9a-f]{16}$/);
    expect(b!.dedupKey).toBe(a!.dedupKey);
    // Unknown or missing severity labels default to warning.
    const odd = alertmanagerFiring();
    odd.alerts[0]!.labels.severity = 'whatever';
    expect(normalizeAlertmanager(odd)[0]!.severity).toBe('warning');
  });

  it('names the field at fault in a bad body', () => {
    const body = alertmanagerFiring() as unknown as { alerts: unknown[] };
    body.alerts.push({ ...(body.alerts[0] as object), labels: 'web-01' });
    expect(fieldsOf(() => normalizeAlertmanager(body))).toEqual(['alerts.2.labels']);
    expect(fieldsOf(() => normalizeAlertmanager({ ...alertmanagerFiring(), version: '3' }))).toEqual([
      'version',
    ]);
    const late = alertmanagerFiring();
    late.alerts[1]!.startsAt = 'yesterday';
    expect(fieldsOf(() => normalizeAlertmanager(late))).toEqual(['alerts.1.startsAt']);
    expect(fieldsOf(() => normalizeAlertmanager('nope'))).toEqual(['']);
  });

  it('finds the host in instance labels', () => {
    expect(hostOfInstance('web-01:9100')).toBe('web-01');
    expect(hostOfInstance('https://shop.example/health')).toBe('shop.example');
    expect(hostOfInstance('[2001:db8::1]:9100')).toBe('2001:db8::1');
    expect(hostOfInstance('2001:db8::1')).toBe('2001:db8::1');
    expect(hostOfInstance('db-01')).toBe('db-01');
  });
});

describe('normalizePagerDuty', () => {
  it('maps a trigger, and keeps no routing key', () => {
    const [event] = normalizePagerDuty(pagerDutyTrigger());
    expect(event).toMatchObject({
      source: 'pagerduty',
      node: 'prod-datapipe03.example.com',
      resource: 'mysql',
      type: 'disk',
      severity: 'critical',
      action: 'trigger',
      message: 'DISK at 99% on machine prod-datapipe03.example.com',
      dedupKey: 'srv01/HTTP',
      labels: { component: 'mysql', group: 'prod-datapipe', class: 'disk' },
    });
    expect(event!.occurredAt?.toISOString()).toBe('2026-03-01T08:42:58.315Z');
    expect(JSON.stringify(event!.raw)).not.toContain('e93facc0');
    const error = pagerDutyTrigger();
    error.payload.severity = 'error';
    expect(normalizePagerDuty(error)[0]!.severity).toBe('major');
  });

  it('maps acknowledge and resolve, which need only the dedup key', () => {
    const ack = {
      routing_key: 'e93facc04764012d7bfb002500d5d1a6',
      event_action: 'acknowledge',
      dedup_key: 'srv01/HTTP',
    };
    expect(normalizePagerDuty(ack)[0]).toMatchObject({ action: 'acknowledge', dedupKey: 'srv01/HTTP' });
    expect(normalizePagerDuty({ ...ack, event_action: 'resolve' })[0]).toMatchObject({
      action: 'resolve',
      severity: 'clear',
      dedupKey: 'srv01/HTTP',
    });
  });

  it('names the field at fault', () => {
    expect(fieldsOf(() => normalizePagerDuty({ routing_key: 'k', event_action: 'resolve' }))).toEqual([
      'dedup_key',
    ]);
    expect(fieldsOf(() => normalizePagerDuty({ routing_key: 'k', event_action: 'trigger' }))).toEqual([
      'payload',
    ]);
    const bad = pagerDutyTrigger() as { payload: Record<string, unknown> };
    bad.payload.severity = 'fatal';
    delete bad.payload.source;
    expect(fieldsOf(() => normalizePagerDuty(bad)).sort()).toEqual(['payload.severity', 'payload.source']);
    expect(fieldsOf(() => normalizePagerDuty({ ...pagerDutyTrigger(), event_action: 'snooze' }))).toEqual([
      'event_action',
    ]);
  });

  it('derives a dedup key for a trigger without one', () => {
    const { dedup_key: _, ...body } = pagerDutyTrigger();
    expect(normalizePagerDuty(body)[0]!.dedupKey).toBe('pagerduty|prod-datapipe03.example.com|disk|mysql');
  });
});

describe('normalizeGeneric', () => {
  it('fills in defaults and derives the dedup key', () => {
    const [event] = normalizeGeneric({ source: 'nagios', node: 'DB-01', type: 'ping', severity: 'major' });
    expect(event).toMatchObject({
      resource: '',
      action: 'trigger',
      message: '',
      dedupKey: 'nagios|db-01|ping|',
      labels: {},
      occurredAt: null,
      ciId: null,
    });
    expect(
      normalizeGeneric({ source: 'nagios', node: 'db-01', type: 'ping', severity: 'clear' })[0]!.action,
    ).toBe('resolve');
  });

  it('names each bad event of an array by its index', () => {
    const ok = { source: 'nagios', node: 'db-01', type: 'ping', severity: 'major' };
    expect(
      fieldsOf(() =>
        normalizeGeneric([ok, { ...ok, severity: 'bad' }, { ...ok, node: '' }, { ...ok, colour: 1 }]),
      ),
    ).toEqual(['1.severity', '2.node', '3.colour']);
    expect(fieldsOf(() => normalizeGeneric({ ...ok, ciId: 'web-01' }))).toEqual(['ciId']);
  });
});
