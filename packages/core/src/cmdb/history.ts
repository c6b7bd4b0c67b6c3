import type { Actor } from '../kernel/actor.js';
import type { Ci, CiHistoryEntry, CiState, FieldChange, HistoryKind, Relationship } from './model.js';
import type { HistoryRow } from './store.js';

/** The fields of a CI that history tracks; attributes are tracked one by one as `attributes.<name>`. */
const trackedFields = ['class', 'name', 'status', 'environment', 'ownerGroup', 'tags', 'retiredAt'] as const;

type Tracked = Pick<Ci, (typeof trackedFields)[number] | 'attributes'>;

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** Per-field differences between two states of a CI (`before` null: it was just created). */
export function fieldChanges(before: Tracked | null, after: Tracked): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const field of trackedFields) {
    const b = before ? before[field] : null;
    if (!same(b, after[field])) changes.push({ field, before: b ?? null, after: after[field] ?? null });
  }
  const names = new Set([...Object.keys(before?.attributes ?? {}), ...Object.keys(after.attributes)]);
  for (const name of [...names].sort()) {
    const b = before?.attributes[name];
    const a = after.attributes[name];
    if (!same(b, a)) changes.push({ field: `attributes.${name}`, before: b ?? null, after: a ?? null });
  }
  return changes;
}

export function historyRow(
  kind: HistoryKind,
  ci: Pick<Ci, 'id' | 'version'>,
  actor: Actor,
  source: string | null,
  at: Date,
  changes: readonly FieldChange[],
  relationship?: Relationship,
): HistoryRow {
  return {
    ciId: relationship ? relationship.sourceId : ci.id,
    relatedCiId: relationship ? relationship.targetId : null,
    relationshipId: relationship?.id ?? null,
    kind,
    version: ci.version,
    actorKind: actor.kind,
    actorId: actor.id,
    actorName: actor.name,
    source,
    at,
    changes: relationship
      ? [{ field: 'relationship', before: null, after: relationshipOf(relationship) }].map((c) =>
          kind === 'unrelated' ? { ...c, before: c.after, after: null } : c,
        )
      : [...changes],
  };
}

const relationshipOf = (r: Pick<Relationship, 'id' | 'type' | 'sourceId' | 'targetId'>) => ({
  id: r.id,
  type: r.type,
  sourceId: r.sourceId,
  targetId: r.targetId,
});

type StoredRow = Omit<HistoryRow, 'changes'> & { seq: number; changes: FieldChange[] };

export function toEntry(row: StoredRow): CiHistoryEntry {
  const rel =
    row.changes[0]?.field === 'relationship' ? (row.changes[0].after ?? row.changes[0].before) : null;
  return {
    seq: row.seq,
    ciId: row.ciId,
    kind: row.kind,
    version: row.version,
    actor: { kind: row.actorKind as CiHistoryEntry['actor']['kind'], id: row.actorId, name: row.actorName },
    source: row.source,
    at: row.at,
    changes: row.changes,
    relationship: rel as CiHistoryEntry['relationship'],
  };
}

/**
 * Replays a CI's history (oldest first, up to a moment) into its state then; null when it did not exist
 * yet. Every change carries its `after`, so replaying the changes is enough.
 */
export function replay(ciId: string, at: Date, rows: readonly StoredRow[]): CiState | null {
  const state: Record<string, unknown> = {};
  const attributes: Record<string, unknown> = {};
  const relationships = new Map<string, CiState['relationships'][number]>();
  let version = 0;
  let seen = false;
  for (const row of rows) {
    if (row.relationshipId) {
      const entry = toEntry(row);
      if (row.kind === 'related' && entry.relationship)
        relationships.set(row.relationshipId, entry.relationship);
      else relationships.delete(row.relationshipId);
      continue;
    }
    if (row.ciId !== ciId) continue;
    seen = true;
    version = row.version;
    for (const change of row.changes) {
      if (change.field.startsWith('attributes.')) {
        const name = change.field.slice('attributes.'.length);
        if (change.after === null) delete attributes[name];
        else attributes[name] = change.after;
      } else state[change.field] = change.after;
    }
  }
  if (!seen) return null;
  return {
    id: ciId,
    at,
    version,
    class: state.class as string,
    name: state.name as string,
    status: state.status as CiState['status'],
    environment: (state.environment as string | null) ?? null,
    ownerGroup: (state.ownerGroup as string | null) ?? null,
    tags: (state.tags as string[]) ?? [],
    attributes,
    relationships: [...relationships.values()],
  };
}
