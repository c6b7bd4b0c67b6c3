import { Graph, layout } from '@dagrejs/dagre';
import { type OpsGraphClient, ServiceMapDocument, type ServiceMapQuery } from '@opsgraph/client';
import { h } from './dom.js';

type ServiceMap = ServiceMapQuery['serviceMap'];
type Placed = { width: number; height: number; x: number; y: number };

const SVG = 'http://www.w3.org/2000/svg';
const NODE_HEIGHT = 44;
/** Deep enough for the demo estate (service → application → cluster → server) with room to spare. */
const DEPTH = 6;

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | number>,
  ...children: (Node | string)[]
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  element.append(...children);
  return element;
}

/** The service map of the selected service, laid out by dagre (layered, top down) and drawn as SVG. */
export class ServiceMapView {
  #selected: string | undefined;
  #request = 0;
  onError: ((error: unknown) => void) | undefined;

  constructor(
    private readonly container: HTMLElement,
    private readonly title: HTMLElement,
    private readonly client: OpsGraphClient,
    /** Open alerts' worst severity by CI, to mark what is failing on the map. */
    private readonly severityByCi: () => Map<string, string>,
  ) {}

  get selected(): string | undefined {
    return this.#selected;
  }

  async show(serviceId: string, serviceName: string): Promise<void> {
    this.#selected = serviceId;
    const request = ++this.#request;
    this.title.textContent = `Service map: ${serviceName}`;
    this.container.setAttribute('aria-busy', 'true');
    try {
      const { serviceMap } = await this.client.request(ServiceMapDocument, {
        rootId: serviceId,
        depth: DEPTH,
        format: 'json',
      });
      if (request !== this.#request) return; // another service was clicked meanwhile
      this.container.replaceChildren(this.#draw(serviceId, serviceMap));
      this.markAlerts();
    } catch (error) {
      if (request === this.#request) {
        this.container.replaceChildren(
          h('p', { class: 'error' }, `Could not load the map: ${String(error)}`),
        );
        this.onError?.(error);
      }
    } finally {
      if (request === this.#request) this.container.removeAttribute('aria-busy');
    }
  }

  /** Marks each drawn CI with the worst severity of its open alerts (or none). */
  markAlerts(): void {
    const severities = this.severityByCi();
    for (const node of this.container.querySelectorAll<SVGGElement>('g[data-ci-id]')) {
      const severity = severities.get(node.dataset.ciId ?? '');
      if (severity) node.dataset.alertSeverity = severity;
      else delete node.dataset.alertSeverity;
    }
  }

  #draw(rootId: string, map: ServiceMap): SVGSVGElement {
    const graph = new Graph({ multigraph: true });
    graph.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 48, marginx: 8, marginy: 8 });
    for (const node of map.nodes) {
      const chars = Math.max(node.name.length, node.class.length + 2);
      graph.setNode(node.id, { width: Math.max(96, chars * 7.5 + 24), height: NODE_HEIGHT });
    }
    // Edge labels take part in the layout, so the relationship types do not overlap the boxes.
    for (const edge of map.edges) {
      const label = { width: edge.type.length * 5.5 + 8, height: 12, labelpos: 'c' };
      graph.setEdge(edge.sourceId, edge.targetId, label, edge.id);
    }
    layout(graph);

    const { width = 0, height = 0 } = graph.graph() as { width?: number; height?: number };
    const drawing = svg('svg', {
      viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`,
      width: Math.ceil(width),
      height: Math.ceil(height),
      role: 'img',
      'aria-label': `Service map: ${map.nodes.length} CIs, ${map.edges.length} relationships`,
      'data-root-id': rootId,
    });
    drawing.append(
      svg(
        'defs',
        {},
        svg(
          'marker',
          {
            id: 'arrow',
            viewBox: '0 0 10 10',
            refX: 10,
            refY: 5,
            markerWidth: 7,
            markerHeight: 7,
            orient: 'auto',
          },
          svg('path', { d: 'M0,0 L10,5 L0,10 z' }),
        ),
      ),
    );
    for (const edge of map.edges) {
      const placed = graph.edge({ v: edge.sourceId, w: edge.targetId, name: edge.id }) as {
        points?: Placed[];
        x?: number;
        y?: number;
      };
      const points = placed.points;
      if (!points?.length) continue;
      drawing.append(
        svg(
          'g',
          { class: 'edge', 'data-relationship-id': edge.id, 'data-type': edge.type },
          svg('path', {
            d: points.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' '),
            'marker-end': 'url(#arrow)',
          }),
          svg('text', { x: placed.x ?? points[0]!.x, y: (placed.y ?? points[0]!.y) + 3 }, edge.type),
        ),
      );
    }
    for (const node of map.nodes) {
      const placed = graph.node(node.id) as Placed;
      const left = placed.x - placed.width / 2;
      const top = placed.y - placed.height / 2;
      drawing.append(
        svg(
          'g',
          {
            class: node.id === rootId ? 'node root' : 'node',
            'data-ci-id': node.id,
            'data-class': node.class,
            'data-depth': node.depth,
          },
          svg('title', {}, `${node.name} (${node.class}, ${node.status})`),
          svg('rect', { x: left, y: top, width: placed.width, height: placed.height, rx: 6 }),
          svg('text', { x: placed.x, y: top + 18, class: 'name' }, node.name),
          svg('text', { x: placed.x, y: top + 34, class: 'class' }, node.class.replaceAll('_', ' ')),
        ),
      );
    }
    return drawing;
  }
}
