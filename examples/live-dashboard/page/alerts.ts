import {
  AlertChangedDocument,
  AlertChangedHeadDocument,
  type AlertFieldsFragment,
  type AlertStatus,
  AlertsDocument,
  type OpsGraphClient,
} from '@opsgraph/client';
import { ago, h } from './dom.js';
import { follow } from './live.js';

const OPEN: AlertStatus[] = ['OPEN', 'ACKNOWLEDGED'];
const SEVERITY_RANK: Record<string, number> = { CRITICAL: 0, MAJOR: 1, MINOR: 2, WARNING: 3, INFO: 4 };

/** The open (and acknowledged) alerts: read once, then kept current by `alertChanged`. */
export class AlertList {
  readonly #alerts = new Map<string, AlertFieldsFragment>();
  readonly #listeners = new Set<() => void>();

  constructor(
    private readonly list: HTMLElement,
    private readonly count: HTMLElement,
  ) {}

  /** Reads the head first, then the list, then follows from the head: nothing in between is missed. */
  async start(client: OpsGraphClient): Promise<void> {
    const { alertChangedHead } = await client.request(AlertChangedHeadDocument);
    const { alerts } = await client.request(AlertsDocument, { first: 100, filter: { status: OPEN } });
    for (const { node } of alerts.edges) this.#put(node);
    this.#render();
    // `status` matches the status a change left or came from, so closes of open alerts arrive too.
    void follow(
      client.subscribe(AlertChangedDocument, { after: alertChangedHead, filter: { status: OPEN } }),
      (data) => data.alertChanged,
      (change) => {
        this.#put(change.alert);
        this.#render();
      },
    ).catch((error) => this.onError?.(error));
  }

  onError: ((error: unknown) => void) | undefined;

  /** Called after each change (the service map marks the CIs with open alerts). */
  onChange(listener: () => void): void {
    this.#listeners.add(listener);
  }

  /** CIs with an open alert, by the worst severity on each. */
  severityByCi(): Map<string, string> {
    const worst = new Map<string, string>();
    for (const alert of this.#alerts.values()) {
      if (!alert.ciId) continue;
      const seen = worst.get(alert.ciId);
      if (!seen || (SEVERITY_RANK[alert.severity] ?? 9) < (SEVERITY_RANK[seen] ?? 9))
        worst.set(alert.ciId, alert.severity);
    }
    return worst;
  }

  #put(alert: AlertFieldsFragment): void {
    const known = this.#alerts.get(alert.id);
    if (known && known.version > alert.version) return; // an older state than the one shown
    if (OPEN.includes(alert.status)) this.#alerts.set(alert.id, alert);
    else this.#alerts.delete(alert.id);
  }

  #render(): void {
    const alerts = [...this.#alerts.values()].sort(
      (a, b) =>
        (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9) ||
        b.lastSeen.localeCompare(a.lastSeen),
    );
    this.list.replaceChildren(
      ...alerts.map((alert) =>
        h(
          'li',
          {
            'data-alert-id': alert.id,
            'data-severity': alert.severity,
            'data-status': alert.status,
            class: `row severity-${alert.severity.toLowerCase()}`,
          },
          h('span', { class: 'badge' }, alert.severity),
          h('strong', {}, alert.node || alert.resource || alert.source),
          h('span', { class: 'message' }, alert.message || alert.type),
          h(
            'span',
            { class: 'meta' },
            `${alert.count > 1 ? `×${alert.count} · ` : ''}${alert.status === 'ACKNOWLEDGED' ? 'acknowledged · ' : ''}${ago(alert.lastSeen)}`,
          ),
        ),
      ),
    );
    this.count.textContent = String(alerts.length);
    for (const listener of this.#listeners) listener();
  }
}
