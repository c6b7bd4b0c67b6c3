import type { Application, DependencyMap } from './model.js';

/** The map as JSON text, or as a Mermaid flowchart: the application highlighted, edges labelled by type. */
export function renderMap(app: Application, map: Omit<DependencyMap, 'content'>): string {
  if (map.format === 'json') {
    const node = (c: { id: string; name: string; class: string }) => ({
      id: c.id,
      name: c.name,
      class: c.class,
    });
    return JSON.stringify({
      application: node(app),
      dependsOn: map.dependsOn.map((c) => ({ ...node(c), depth: c.depth })),
      dependents: map.dependents.map((c) => ({ ...node(c), depth: c.depth })),
      edges: map.edges.map(({ type, sourceId, targetId }) => ({ type, sourceId, targetId })),
    });
  }
  const names = new Map<string, string>();
  const lines = ['flowchart LR'];
  for (const ci of [app, ...map.dependents, ...map.dependsOn]) {
    if (names.has(ci.id)) continue;
    const key = `n${names.size}`;
    names.set(ci.id, key);
    lines.push(`  ${key}["${label(ci.name)} (${label(ci.class)})"]`);
  }
  // In node order (the ids are random): the same graph always renders the same text.
  const order = (id: string) => Number(names.get(id)?.slice(1));
  const edges = [...map.edges].sort(
    (a, b) => order(a.sourceId) - order(b.sourceId) || order(a.targetId) - order(b.targetId),
  );
  for (const edge of edges)
    lines.push(
      `  ${names.get(edge.sourceId)} -->|${label(edge.type.replaceAll('_', ' '))}| ${names.get(edge.targetId)}`,
    );
  lines.push('  style n0 stroke-width:3px');
  return `${lines.join('\n')}\n`;
}

// Mermaid reads `"`, `<`, `>`, `|` and `#` in labels as syntax: entity codes keep the text as written.
const label = (text: string) => text.replace(/[#"<>|]/g, (c) => `#${c.codePointAt(0)};`);
