import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AlertsDocument,
  createOpsGraphClient,
  IncidentsDocument,
  IngestEventsDocument,
  type OpsGraphClient,
  OpsGraphClientError,
  ServiceHealthDocument,
  unwrap,
} from '@opsgraph/client';
import { systemActor } from '@opsgraph/core';
import { type Browser, chromium, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOperatorToken, VIEWER_PERMISSIONS } from './seed.js';
import { CONFIG_PATH, type Dashboard, startDashboard } from './server.js';

// Debian's chromium driven by playwright-core; never a browser download of Playwright's own.
const CHROMIUM = '/usr/bin/chromium';
// The machine's network is closed: without the background-networking flags Chromium keeps trying
// to reach Google's hosts. launch() gives each run a new empty user-data-dir of its own.
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const viteConfig = fileURLToPath(new URL('../vite.config.ts', import.meta.url));
const actor = systemActor('dashboard-test');

let distDir: string;
let dashboard: Dashboard;
let browser: Browser | undefined;
let opened: Page | undefined;
let viewer: OpsGraphClient;
const pageErrors: string[] = [];

const ciId = async (name: string) => {
  const found = (await dashboard.opsgraph.cmdb.list({ search: name }, { first: 10 }, { actor })).edges.find(
    (e) => e.node.name === name,
  );
  if (!found) throw new Error(`No CI named ${name}`);
  return found.node.id;
};

// Without the browser every test that needs the page fails with this (never a skip): CI must run them.
const missing = existsSync(CHROMIUM)
  ? undefined
  : `${CHROMIUM} is missing: the live dashboard's browser test needs Debian's chromium (apt-get install -y chromium; .ci/run installs it).`;

/** The page in Chromium; throws the reason when there is no browser. */
function pageOf(): Page {
  if (missing) throw new Error(missing);
  if (!opened) throw new Error('The page did not open (see the error of beforeAll)');
  return opened;
}

/** The tiles as the page shows them: name, state, and background colour. */
const tiles = () =>
  pageOf().$$eval('[data-service-id]', (elements) =>
    elements.map((e) => ({
      id: (e as HTMLElement).dataset.serviceId,
      name: e.querySelector('.name')?.textContent,
      state: (e as HTMLElement).dataset.state,
      background: getComputedStyle(e).backgroundColor,
    })),
  );

beforeAll(async () => {
  distDir = mkdtempSync(join(tmpdir(), 'opsgraph-dashboard-'));
  await build({ configFile: viteConfig, build: { outDir: distDir, emptyOutDir: true }, logLevel: 'warn' });
  dashboard = await startDashboard({ distDir, port: 0, host: '127.0.0.1' });
  viewer = createOpsGraphClient({ url: dashboard.graphqlUrl, token: dashboard.viewerToken });
  if (missing) return;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  const page = await browser.newPage();
  opened = page;
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
  await page.goto(dashboard.url);
  await page.waitForSelector('#status[data-state="live"]', { timeout: 30_000 });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await viewer?.close();
  await dashboard?.close();
  if (distDir) rmSync(distDir, { recursive: true, force: true });
});

describe('live dashboard in headless Chromium', () => {
  it('bundles the typed client for the browser without ws or Node modules', () => {
    const assets = join(distDir, 'assets');
    const scripts = readdirSync(assets).filter((f) => f.endsWith('.js'));
    expect(scripts.length).toBeGreaterThan(0);
    const code = scripts.map((f) => readFileSync(join(assets, f), 'utf8')).join('\n');
    expect(code).toContain('serviceHealthChanged'); // the client's documents are in
    expect(code).not.toContain('ws does not work in the browser'); // ws's browser stub
    expect(code).not.toMatch(/from\s*["']node:|require\(["'](ws|node:)/);
  });

  it('type-checks the page (Vite only strips its types)', () => {
    const tsc = fileURLToPath(new URL('../../../node_modules/.bin/tsc', import.meta.url));
    const project = fileURLToPath(new URL('../tsconfig.page.json', import.meta.url));
    const result = spawnSync(tsc, ['-p', project], { encoding: 'utf8' });
    expect(`${result.stdout}${result.stderr}`).toBe('');
    expect(result.status).toBe(0);
  });

  it('shows a tile per business service in the colour of its health', async () => {
    const { serviceHealth } = await viewer.request(ServiceHealthDocument);
    const shown = await tiles();
    expect(shown.map(({ id, name, state }) => ({ id, name, state }))).toEqual(
      serviceHealth
        .map((h) => ({ id: h.service.id, name: h.service.name, state: h.state }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    );
    const portal = shown.find((t) => t.name === 'Customer Portal');
    expect(portal?.state).toBe('UP');
    expect(portal?.background).toBe('rgb(46, 125, 50)'); // green
  });

  it('lists the open alerts and incidents the API has', async () => {
    const page = pageOf();
    const { alerts } = await viewer.request(AlertsDocument, {
      first: 100,
      filter: { status: ['OPEN', 'ACKNOWLEDGED'] },
    });
    const { incidents } = await viewer.request(IncidentsDocument, {
      first: 100,
      filter: { state: ['NEW', 'IN_PROGRESS', 'ON_HOLD'] },
    });
    const ids = (selector: string, attribute: string) =>
      page.$$eval(selector, (elements, a) => elements.map((e) => e.getAttribute(a)).sort(), attribute);
    expect(alerts.edges.length).toBe(2); // the demo's database server and API alerts
    expect(await ids('[data-alert-id]', 'data-alert-id')).toEqual(alerts.edges.map((e) => e.node.id).sort());
    expect(incidents.edges.length).toBe(1);
    expect(await ids('[data-incident-id]', 'data-incident-id')).toEqual(
      incidents.edges.map((e) => e.node.id).sort(),
    );
  });

  it('turns a tile red within a second of a critical event on a CI its service depends on', async () => {
    const page = pageOf();
    const portalId = await ciId('Customer Portal');
    const serverId = await ciId('portal-01');
    // Records in the page when the tile turns DOWN, on the same clock as this process.
    await page.evaluate((id) => {
      const w = window as unknown as { downAt?: number };
      const observer = new MutationObserver(() => {
        if (document.querySelector(`[data-service-id="${id}"][data-state="DOWN"]`)) {
          w.downAt = Date.now();
          observer.disconnect();
        }
      });
      observer.observe(document.getElementById('tiles')!, {
        subtree: true,
        childList: true,
        attributes: true,
      });
    }, portalId);
    expect((await tiles()).find((t) => t.id === portalId)?.state).toBe('UP');

    const operator = createOpsGraphClient({
      url: dashboard.graphqlUrl,
      token: await createOperatorToken(dashboard.opsgraph),
    });
    try {
      const [outcome] = unwrap(
        (
          await operator.request(IngestEventsDocument, {
            events: [
              {
                source: 'dashboard-test',
                node: 'portal-01',
                ciId: serverId,
                type: 'cpu_high',
                severity: 'CRITICAL',
                message: 'CPU at 100% for 5 minutes',
              },
            ],
          })
        ).ingestEvents,
      );
      const answeredAt = Date.now();
      expect(outcome?.alertId).toBeTruthy();

      await page.waitForFunction(() => (window as unknown as { downAt?: number }).downAt, undefined, {
        timeout: 10_000,
      });
      const downAt = await page.evaluate(() => (window as unknown as { downAt: number }).downAt);
      const elapsed = downAt - answeredAt;
      expect(elapsed, `the tile turned DOWN ${elapsed} ms after the ingest answered`).toBeLessThan(1000);
      const tile = (await tiles()).find((t) => t.id === portalId);
      expect(tile?.state).toBe('DOWN');
      expect(tile?.background).toBe('rgb(198, 40, 40)'); // red

      // The new alert is listed too (critical first), and the tier-1 rule's incident appears.
      await page.waitForSelector(`[data-alert-id="${outcome!.alertId}"][data-severity="CRITICAL"]`, {
        timeout: 2000,
      });
      const incident = page.locator('[data-incident-id]', { hasText: 'cpu_high on portal-01' });
      await incident.waitFor({ timeout: 5000 });
      expect(await incident.getAttribute('data-priority')).toBe('1');
    } finally {
      await operator.close();
    }
  });

  it('draws the service map of a tile clicked', async () => {
    const page = pageOf();
    const portalId = await ciId('Customer Portal');
    await page.click(`[data-service-id="${portalId}"]`);
    await page.waitForSelector(`#map svg[data-root-id="${portalId}"]`, { timeout: 5000 });
    const nodes = await page.$$eval('#map g[data-ci-id]', (elements) =>
      elements.map((e) => ({
        name: e.querySelector('text.name')?.textContent,
        alert: (e as SVGGElement).dataset.alertSeverity ?? null,
      })),
    );
    expect(nodes.sort((a, b) => String(a.name).localeCompare(String(b.name)))).toEqual([
      { name: 'Customer Portal', alert: null },
      { name: 'portal-01', alert: 'CRITICAL' },
      { name: 'portal-web', alert: null },
    ]);
    const edges = await page.$$eval('#map g[data-type]', (elements) =>
      elements.map((e) => (e as SVGGElement).dataset.type).sort(),
    );
    expect(edges).toEqual(['depends_on', 'runs_on']);
    expect(await page.textContent('#map-title')).toBe('Service map: Customer Portal');
  });

  it('gives the page a token that only reads', async () => {
    const config = (await (await fetch(new URL(CONFIG_PATH, dashboard.url))).json()) as { token: string };
    expect(config.token).toBe(dashboard.viewerToken);
    const held = await dashboard.opsgraph.access.authenticate(config.token);
    expect([...(held?.permissions ?? [])].sort()).toEqual([...VIEWER_PERMISSIONS].sort());
    const error = await viewer
      .request(IngestEventsDocument, {
        events: [{ source: 'page', node: 'portal-01', type: 'x', severity: 'CRITICAL' }],
      })
      .then((r) => unwrap(r.ingestEvents))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpsGraphClientError);
    expect((error as OpsGraphClientError).code).toBe('FORBIDDEN');
  });

  it('logged no error in the page', () => {
    pageOf();
    expect(pageErrors).toEqual([]);
  });
});
