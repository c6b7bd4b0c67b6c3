import type { ServiceMapEdge, ServiceMapFormat, ServiceMapNode } from './model.js';

/** Renders a service map. CI names are user data: every label is escaped for its format. */
export function renderServiceMap(
  format: ServiceMapFormat,
  rootId: string,
  nodes: readonly ServiceMapNode[],
  edges: readonly ServiceMapEdge[],
): string {
  if (format === 'mermaid') return mermaid(nodes, edges);
  if (format === 'dot') return dot(nodes, edges);
  return JSON.stringify({ rootId, nodes, edges }, null, 2);
}

const lines = (text: string) => text.split(/\r\n|\r|\n/);

/**
 * Mermaid text inside a quoted label: anything beyond letters, digits, spaces and a few harmless marks
 * becomes an entity code (`#34;` for a quote), so no name can end the string, start a markdown or HTML
 * label, or inject syntax. Line breaks become `<br/>`, which Mermaid draws as a new line.
 */
export function mermaidText(text: string): string {
  return lines(text)
    .map((line) => line.replace(/[^\p{L}\p{N} _.,:/-]/gu, (ch) => `#${ch.codePointAt(0)};`))
    .join('<br/>');
}

function mermaid(nodes: readonly ServiceMapNode[], edges: readonly ServiceMapEdge[]): string {
  // Node ids are positions, never user data.
  const ids = new Map(nodes.map((node, i) => [node.id, `n${i}`]));
  const out = ['flowchart TD'];
  for (const node of nodes) {
    out.push(`  ${ids.get(node.id)}["${mermaidText(`${node.name}\n${node.class} · ${node.status}`)}"]`);
  }
  for (const edge of edges) {
    const [from, to] = [ids.get(edge.sourceId), ids.get(edge.targetId)];
    if (from && to) out.push(`  ${from} -->|"${mermaidText(edge.type)}"| ${to}`);
  }
  return `${out.join('\n')}\n`;
}

/** A Graphviz double-quoted string: backslash and quote escaped, line breaks as `\n` (centred lines). */
export function dotString(text: string): string {
  return `"${lines(text)
    .map((line) => line.replace(/[\\"]/g, (ch) => `\\${ch}`))
    .join('\\n')}"`;
}

function dot(nodes: readonly ServiceMapNode[], edges: readonly ServiceMapEdge[]): string {
  const out = ['digraph service_map {', '  rankdir=TB;', '  node [shape=box];'];
  for (const node of nodes) {
    out.push(`  ${dotString(node.id)} [label=${dotString(`${node.name}\n${node.class} · ${node.status}`)}];`);
  }
  for (const edge of edges) {
    out.push(`  ${dotString(edge.sourceId)} -> ${dotString(edge.targetId)} [label=${dotString(edge.type)}];`);
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}
