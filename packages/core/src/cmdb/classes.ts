import type { ValidationIssue } from '../kernel/errors.js';
import { type AttributeDefinition, type ClassSchema, NAME_IDENTIFIER } from './attributes.js';
import type { CiClass, CiClassDefinition } from './model.js';

/** Every class by name: the whole hierarchy is small, so it is read in one query and walked here. */
export type ClassIndex = ReadonlyMap<string, CiClass>;

/** The class and its ancestors, root first; empty when the class is unknown. */
export function lineage(classes: ClassIndex, name: string): CiClass[] {
  const chain: CiClass[] = [];
  const seen = new Set<string>();
  for (let c = classes.get(name); c && !seen.has(c.name); c = c.parent ? classes.get(c.parent) : undefined) {
    seen.add(c.name);
    chain.unshift(c);
  }
  return chain;
}

/** The class and every class below it. */
export function descendants(classes: ClassIndex, name: string): string[] {
  const found = [name];
  for (let i = 0; i < found.length; i++) {
    for (const c of classes.values()) if (c.parent === found[i]) found.push(c.name);
  }
  return found;
}

/** The attributes and identifier rules a CI of `name` has: its own and its ancestors'. */
export function schemaOf(classes: ClassIndex, name: string): ClassSchema | null {
  const chain = lineage(classes, name);
  if (chain.length === 0) return null;
  const attributes = new Map<string, AttributeDefinition>();
  const identifiers: { scope: string; fields: string[] }[] = [];
  for (const c of chain) {
    for (const a of c.attributes) attributes.set(a.name, a);
    for (const fields of c.identifiers) identifiers.push({ scope: c.name, fields });
  }
  return { className: name, attributes, identifiers };
}

/**
 * Checks a class definition against the hierarchy it joins, and, when it replaces an existing class
 * that already has CIs, that it keeps those CIs valid: attributes can be added (a required one only with a
 * default) and enum values widened, but not removed or retyped; identifiers and parent stay as they are.
 */
export function checkClassDefinition(
  classes: ClassIndex,
  def: CiClassDefinition,
  existing: CiClass | undefined,
  hasCis: boolean,
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const attributes = def.attributes ?? [];
  const identifiers = def.identifiers ?? [];
  if (def.parent !== undefined) {
    if (!classes.has(def.parent) && def.parent !== def.name) {
      issues.push({ path: 'parent', message: `unknown CI class "${def.parent}"` });
    } else if (def.parent === def.name || lineage(classes, def.parent).some((c) => c.name === def.name)) {
      issues.push({
        path: 'parent',
        message: `${def.parent} is ${def.name} or below it: a class can't be its own ancestor`,
      });
    }
  }
  const inherited = new Map<string, string>();
  if (def.parent) {
    for (const c of lineage(classes, def.parent)) for (const a of c.attributes) inherited.set(a.name, c.name);
  }
  // A subclass's attributes share the name space too: adding one here must not shadow one below.
  const below = new Map<string, string>();
  if (existing) {
    for (const n of descendants(classes, def.name).slice(1)) {
      for (const a of classes.get(n)?.attributes ?? []) below.set(a.name, n);
    }
  }
  const own = new Set<string>();
  attributes.forEach((a, i) => {
    const path = `attributes.${i}.name`;
    if (own.has(a.name)) issues.push({ path, message: `${a.name} is defined twice` });
    else if (inherited.has(a.name))
      issues.push({ path, message: `${a.name} is inherited from ${inherited.get(a.name)}` });
    else if (below.has(a.name))
      issues.push({ path, message: `${a.name} is already an attribute of subclass ${below.get(a.name)}` });
    own.add(a.name);
  });
  identifiers.forEach((fields, i) => {
    fields.forEach((field, j) => {
      if (field === NAME_IDENTIFIER) return;
      const a = attributes.find((x) => x.name === field);
      if (!a && !inherited.has(field))
        issues.push({
          path: `identifiers.${i}.${j}`,
          message: `${field} is not an attribute of ${def.name}`,
        });
      else if (a?.type === 'json')
        issues.push({ path: `identifiers.${i}.${j}`, message: `${field} is JSON and can't identify a CI` });
    });
  });
  if (existing && hasCis) issues.push(...checkCompatible(existing, def));
  return issues;
}

function checkCompatible(existing: CiClass, def: CiClassDefinition): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const why = 'the class has CIs';
  if ((def.parent ?? null) !== existing.parent)
    issues.push({ path: 'parent', message: `can't change while ${why}` });
  if (JSON.stringify(def.identifiers ?? []) !== JSON.stringify(existing.identifiers))
    issues.push({ path: 'identifiers', message: `can't change while ${why}: their identities are claimed` });
  const next = new Map((def.attributes ?? []).map((a, i) => [a.name, { a, i }]));
  for (const old of existing.attributes) {
    const found = next.get(old.name);
    if (!found) {
      issues.push({ path: 'attributes', message: `${old.name} can't be removed while ${why}` });
      continue;
    }
    const { a, i } = found;
    if (a.type !== old.type)
      issues.push({ path: `attributes.${i}.type`, message: `can't change from ${old.type} while ${why}` });
    if (old.values && a.values && old.values.some((v) => !a.values?.includes(v)))
      issues.push({ path: `attributes.${i}.values`, message: `can't drop enum values while ${why}` });
    if (a.required && !old.required && (a.default === undefined || a.default === null))
      issues.push({ path: `attributes.${i}.required`, message: `needs a default while ${why}` });
  }
  for (const { a, i } of next.values()) {
    if (!existing.attributes.some((o) => o.name === a.name) && a.required && a.default == null)
      issues.push({
        path: `attributes.${i}.required`,
        message: `a new required attribute needs a default while ${why}`,
      });
  }
  return issues;
}
