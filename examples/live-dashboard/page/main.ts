import { createOpsGraphClient } from '@opsgraph/client';
import { AlertList } from './alerts.js';
import { byId } from './dom.js';
import { IncidentList } from './incidents.js';
import { ServiceMapView } from './map.js';
import { HealthTiles } from './tiles.js';

/** What the example server hands the page: where the API is, and a read-only viewer token. */
interface DashboardConfig {
  readonly graphqlPath: string;
  readonly token: string;
}

const status = byId('status');
const setStatus = (state: 'loading' | 'live' | 'error', text: string) => {
  status.dataset.state = state;
  status.textContent = text;
};
const fail = (error: unknown) => {
  console.error(error);
  setStatus('error', `Error: ${error instanceof Error ? error.message : String(error)}`);
};

async function main(): Promise<void> {
  const response = await fetch('/dashboard/config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`/dashboard/config.json answered HTTP ${response.status}`);
  const config = (await response.json()) as DashboardConfig;
  const client = createOpsGraphClient({
    url: new URL(config.graphqlPath, location.href).href,
    token: config.token,
  });

  const alerts = new AlertList(byId('alerts'), byId('alert-count'));
  const incidents = new IncidentList(byId('incidents'), byId('incident-count'));
  const map = new ServiceMapView(byId('map'), byId('map-title'), client, () => alerts.severityByCi());
  const tiles = new HealthTiles(byId('tiles'), (id, name) => void map.show(id, name));
  for (const part of [alerts, incidents, map, tiles]) part.onError = fail;
  alerts.onChange(() => map.markAlerts());

  await Promise.all([tiles.start(client), alerts.start(client), incidents.start(client)]);
  setStatus('live', 'Live');
}

main().catch(fail);
