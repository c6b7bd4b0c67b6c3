import {
  type OpsGraphClient,
  ServiceHealthChangedDocument,
  ServiceHealthDocument,
  type ServiceHealthQuery,
} from '@opsgraph/client';
import { ago, h } from './dom.js';
import { follow } from './live.js';

type Health = ServiceHealthQuery['serviceHealth'][number];

const LABEL: Record<string, string> = {
  UP: 'Up',
  DEGRADED: 'Degraded',
  DOWN: 'Down',
  MAINTENANCE: 'Maintenance',
};

/** A tile per business service, coloured by its health: `serviceHealth`, then `serviceHealthChanged`. */
export class HealthTiles {
  readonly #health = new Map<string, Health>();
  onError: ((error: unknown) => void) | undefined;

  constructor(
    private readonly container: HTMLElement,
    /** A click on a tile (or Enter on it) selects the service, e.g. to show its map. */
    private readonly onSelect: (serviceId: string, name: string) => void,
  ) {}

  /**
   * The head is taken in a request before the one whose list is shown: the two fields of one request
   * resolve side by side, so a change committed between them could otherwise be in neither. Changes
   * replayed from the earlier head end at the latest state.
   */
  async start(client: OpsGraphClient): Promise<void> {
    const { serviceHealthHead } = await client.request(ServiceHealthDocument);
    const { serviceHealth } = await client.request(ServiceHealthDocument);
    for (const health of serviceHealth) this.#health.set(health.service.id, health);
    this.#render();
    void follow(
      client.subscribe(ServiceHealthChangedDocument, { after: serviceHealthHead }),
      (data) => data.serviceHealthChanged,
      (change) => {
        this.#health.set(change.health.service.id, change.health);
        this.#render();
      },
    ).catch((error) => this.onError?.(error));
  }

  #render(): void {
    const services = [...this.#health.values()].sort((a, b) => a.service.name.localeCompare(b.service.name));
    this.container.replaceChildren(
      ...services.map((health) => {
        const causes = health.causes.map(
          (cause) =>
            `${cause.ci.name}: ${cause.state.toLowerCase()}${cause.alert ? ` (${cause.alert.severity.toLowerCase()} ${cause.alert.message})` : ''}`,
        );
        const tile = h(
          'button',
          {
            type: 'button',
            class: `tile state-${health.state.toLowerCase()}`,
            'data-service-id': health.service.id,
            'data-state': health.state,
            title: causes.join('\n') || 'No failing dependency',
          },
          h('strong', { class: 'name' }, health.service.name),
          h('span', { class: 'state' }, LABEL[health.state] ?? health.state),
          h('span', { class: 'meta' }, `since ${ago(health.since)}`),
          ...(causes.length ? [h('span', { class: 'causes' }, causes.slice(0, 2).join('; '))] : []),
        );
        tile.addEventListener('click', () => this.onSelect(health.service.id, health.service.name));
        return tile;
      }),
    );
  }
}
