// Payloads as the upstream projects document them, shared by the tests.

/** A firing group as Alertmanager's webhook (version 4) sends it: two alerts of one group. */
export const alertmanagerFiring = () => ({
  receiver: 'opsgraph',
  status: 'firing',
  alerts: [
    {
      status: 'firing',
      labels: {
        alertname: 'NodeFilesystemAlmostFull',
        device: '/dev/sda1',
        instance: 'web-01:9100',
        job: 'node',
        mountpoint: '/',
        severity: 'critical',
      },
      annotations: {
        description: 'Filesystem on /dev/sda1 at web-01:9100 has only 3% available space left.',
        summary: 'Filesystem has less than 5% space left.',
      },
      startsAt: '2026-03-01T08:52:26.739266876Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.example:9090/graph?g0.expr=node_filesystem_avail_bytes&g0.tab=1',
      fingerprint: '1a30ba71cca2921f',
    },
    {
      status: 'firing',
      labels: { alertname: 'NodeHighLoad', instance: '10.0.0.12:9100', job: 'node', severity: 'warning' },
      annotations: { summary: 'Load is high' },
      startsAt: '2026-03-01T08:53:00Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.example:9090/graph?g0.expr=node_load1',
      fingerprint: 'c6eadffa33fcdf37',
    },
  ],
  groupLabels: { job: 'node' },
  commonLabels: { job: 'node' },
  commonAnnotations: {},
  externalURL: 'http://alertmanager.example:9093',
  version: '4',
  groupKey: '{}/{severity=~"critical|warning"}:{job="node"}',
  truncatedAlerts: 0,
});

/** The same group, resolved a few minutes later. */
export const alertmanagerResolved = () => {
  const body = alertmanagerFiring();
  body.status = 'resolved';
  for (const alert of body.alerts) {
    alert.status = 'resolved';
    alert.endsAt = '2026-03-01T09:05:26Z';
  }
  return body;
};

/** A PagerDuty Events API v2 trigger as its documentation shows one. */
export const pagerDutyTrigger = (dedupKey = 'srv01/HTTP') => ({
  routing_key: 'e93facc04764012d7bfb002500d5d1a6',
  event_action: 'trigger',
  dedup_key: dedupKey,
  payload: {
    summary: 'DISK at 99% on machine prod-datapipe03.example.com',
    timestamp: '2026-03-01T08:42:58.315+0000',
    severity: 'critical',
    source: 'prod-datapipe03.example.com',
    component: 'mysql',
    group: 'prod-datapipe',
    class: 'disk',
    custom_details: { free_space: '1%', ping_time: '1500ms' },
  },
  client: 'Sample Monitoring Service',
  client_url: 'https://monitoring.service.com',
  links: [{ href: 'http://acme.pagerduty.com', text: 'An example link.' }],
  images: [
    { src: 'https://chart.googleapis.com/chart?chs=600x400', href: 'https://google.com', alt: 'chart' },
  ],
});
