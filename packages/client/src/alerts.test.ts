import { systemActor } from '@opsgraph/core';
import { createTestOpsGraph, type TestOpsGraph } from '@opsgraph/core/testing';
import { createOpsGraphServer, type OpsGraphServer } from '@opsgraph/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AcknowledgeAlertDocument,
  AlertChangedDocument,
  AlertChangedHeadDocument,
  AlertDocument,
  AlertsDocument,
  CloseAlertDocument,
  createOpsGraphClient,
  IngestEventsDocument,
  type OpsGraphClient,
  unwrap,
} from './index.js';

const actor = systemActor('client-test');

describe('@opsgraph/client alert operations against a real server', () => {
  let og: TestOpsGraph;
  let server: OpsGraphServer;
  let client: OpsGraphClient;

  beforeAll(async () => {
    og = await createTestOpsGraph();
    const { secret: token } = await og.access.createToken({ name: 'alerts', permissions: ['*'] }, { actor });
    server = createOpsGraphServer({ opsgraph: og });
    const { url } = await server.listen(0, '127.0.0.1');
    client = createOpsGraphClient({ url, token });
  });
  afterAll(async () => {
    await client?.close();
    await server?.close();
    await og?.close();
  });

  it('ingests, lists, acknowledges and closes over HTTP while a subscription follows over WebSocket', async () => {
    const { alertChangedHead } = await client.request(AlertChangedHeadDocument);
    const controller = new AbortController();
    const stream = client.subscribe(
      AlertChangedDocument,
      { after: alertChangedHead, filter: { dedupKey: 'client-disk' } },
      { signal: controller.signal },
    );

    const [result] = unwrap(
      (
        await client.request(IngestEventsDocument, {
          events: [
            { source: 'client', node: 'web-01', type: 'disk', severity: 'CRITICAL', dedupKey: 'client-disk' },
          ],
        })
      ).ingestEvents,
    );
    expect(result).toMatchObject({ outcome: 'OPENED', dedupKey: 'client-disk' });
    const { alerts } = await client.request(AlertsDocument, {
      first: 5,
      filter: { status: ['OPEN'], severity: ['CRITICAL'] },
      orderBy: { field: 'SEVERITY' },
    });
    const alert = alerts.edges.find((e) => e.node.id === result!.alertId)!.node;
    expect(alert).toMatchObject({ status: 'OPEN', severity: 'CRITICAL', version: 1, ci: null });

    const acked = unwrap(
      (await client.request(AcknowledgeAlertDocument, { id: alert.id, version: alert.version }))
        .acknowledgeAlert,
    );
    expect(acked).toMatchObject({ status: 'ACKNOWLEDGED', version: 2 });
    const stale = (await client.request(CloseAlertDocument, { id: alert.id, version: 1 })).closeAlert;
    expect(stale).toMatchObject({ __typename: 'ConflictError', field: 'version', currentVersion: 2 });
    unwrap((await client.request(CloseAlertDocument, { id: alert.id, version: 2 })).closeAlert);

    const kinds: string[] = [];
    for await (const { alertChanged } of stream) {
      kinds.push(alertChanged.kind);
      if (alertChanged.kind === 'CLOSED') break;
    }
    expect(kinds).toEqual(['OPENED', 'ACKNOWLEDGED', 'CLOSED']);
    const { alert: detail } = await client.request(AlertDocument, { id: alert.id, events: 5 });
    expect(detail).toMatchObject({
      status: 'CLOSED',
      closeReason: 'MANUAL',
      closedBy: { name: 'token "alerts"' },
    });
    expect(detail?.events.map((e) => [e.severity, e.action])).toEqual([['CRITICAL', 'TRIGGER']]);
  });
});
