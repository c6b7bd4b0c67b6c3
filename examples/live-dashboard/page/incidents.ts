import {
  ActivityHeadDocument,
  IncidentChangedDocument,
  type IncidentFieldsFragment,
  type IncidentState,
  IncidentsDocument,
  type OpsGraphClient,
} from '@opsgraph/client';
import { ago, h } from './dom.js';
import { follow } from './live.js';

const OPEN: IncidentState[] = ['NEW', 'IN_PROGRESS', 'ON_HOLD'];

/** The open incidents: read once, then kept current by `incidentChanged`. */
export class IncidentList {
  readonly #incidents = new Map<string, IncidentFieldsFragment>();
  onError: ((error: unknown) => void) | undefined;

  constructor(
    private readonly list: HTMLElement,
    private readonly count: HTMLElement,
  ) {}

  /** Head first (incidentChanged counts in the activity stream's seq), then the list, then follow. */
  async start(client: OpsGraphClient): Promise<void> {
    const { activityHead } = await client.request(ActivityHeadDocument);
    const { incidents } = await client.request(IncidentsDocument, { first: 100, filter: { state: OPEN } });
    for (const { node } of incidents.edges) this.#put(node);
    this.#render();
    // No state filter: an incident leaving the open states (resolved, cancelled) must be heard too.
    void follow(
      client.subscribe(IncidentChangedDocument, { after: activityHead }),
      (data) => data.incidentChanged,
      (change) => {
        this.#put(change.incident);
        this.#render();
      },
    ).catch((error) => this.onError?.(error));
  }

  #put(incident: IncidentFieldsFragment): void {
    const known = this.#incidents.get(incident.id);
    if (known && known.version > incident.version) return;
    if (OPEN.includes(incident.state)) this.#incidents.set(incident.id, incident);
    else this.#incidents.delete(incident.id);
  }

  #render(): void {
    const incidents = [...this.#incidents.values()].sort(
      (a, b) => a.priority - b.priority || b.createdAt.localeCompare(a.createdAt),
    );
    this.list.replaceChildren(
      ...incidents.map((incident) =>
        h(
          'li',
          {
            'data-incident-id': incident.id,
            'data-priority': String(incident.priority),
            'data-state': incident.state,
            class: `row priority-${incident.priority}`,
          },
          h('span', { class: 'badge' }, `P${incident.priority}${incident.major ? ' major' : ''}`),
          h('strong', {}, incident.number),
          h('span', { class: 'message' }, incident.shortDescription),
          h(
            'span',
            { class: 'meta' },
            `${incident.state.toLowerCase().replace('_', ' ')} · ${ago(incident.createdAt)}`,
          ),
        ),
      ),
    );
    this.count.textContent = String(incidents.length);
  }
}
