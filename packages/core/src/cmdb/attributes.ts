import { z } from 'zod';
import type { ValidationIssue } from '../kernel/errors.js';

export const attributeTypes = [
  'string',
  'integer',
  'number',
  'boolean',
  'datetime',
  'enum',
  'ip',
  'mac',
  'json',
] as const;
export type AttributeType = (typeof attributeTypes)[number];

/** One typed attribute of a CI class. */
export interface AttributeDefinition {
  readonly name: string;
  readonly type: AttributeType;
  readonly label?: string;
  readonly description?: string;
  /** Must be given when a CI is created (unless it has a default), and can't be removed. */
  readonly required?: boolean;
  /** Set on create when the attribute is not given. */
  readonly default?: unknown;
  /** The allowed values of an `enum`. */
  readonly values?: readonly string[];
}

/** `name` is not an attribute but may be part of an identifier (e.g. business services by name). */
export const NAME_IDENTIFIER = 'name';

const identifierName = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be snake_case: a lower-case letter, then letters, digits or _');

export const attributeDefinition = z
  .strictObject({
    name: identifierName.refine((n) => n !== NAME_IDENTIFIER, '`name` is a field of every CI already'),
    type: z.enum(attributeTypes),
    label: z.string().trim().min(1).max(200).optional(),
    description: z.string().max(2000).optional(),
    required: z.boolean().optional(),
    default: z.json().optional(),
    values: z.array(z.string().min(1).max(200)).min(1).max(500).optional(),
  })
  .superRefine((a, ctx) => {
    if (a.type === 'enum' && !a.values)
      ctx.addIssue({ code: 'custom', path: ['values'], message: 'an enum attribute lists its values' });
    if (a.type !== 'enum' && a.values)
      ctx.addIssue({ code: 'custom', path: ['values'], message: 'only an enum attribute has values' });
    if (a.default !== undefined && a.default !== null) {
      const parsed = valueSchema(a as AttributeDefinition).safeParse(a.default);
      if (!parsed.success)
        ctx.addIssue({ code: 'custom', path: ['default'], message: `is not a valid ${a.type} value` });
    }
  });

/** Canonical MAC form (`aa:bb:cc:dd:ee:ff`), whatever separators or case discovery sent. */
function canonicalMac(value: string): string {
  const hex = value.replace(/[:.-]/g, '').toLowerCase();
  return /^[0-9a-f]{12}$/.test(hex) ? (hex.match(/../g) as string[]).join(':') : value;
}

const schemas: Record<AttributeType, (a: AttributeDefinition) => z.ZodType> = {
  string: () => z.string('must be a string').max(4000, 'must be at most 4000 characters'),
  integer: () => z.int('must be an integer'),
  number: () => z.number('must be a number'),
  boolean: () => z.boolean('must be true or false'),
  // Stored in UTC, so equal instants compare equal whatever offset a source used.
  datetime: () =>
    z.iso
      .datetime({ offset: true, message: 'must be an ISO 8601 date-time with a time zone' })
      .transform((v) => new Date(v).toISOString()),
  enum: (a) => z.enum(a.values as [string, ...string[]], `must be one of ${a.values?.join(', ')}`),
  ip: () =>
    z.union([z.ipv4(), z.ipv6()], 'must be an IPv4 or IPv6 address').transform((v) => v.toLowerCase()),
  mac: () =>
    z
      .string('must be a MAC address')
      .transform(canonicalMac)
      .pipe(z.mac('must be a MAC address such as 00:1a:2b:3c:4d:5e')),
  json: () => z.json('must be a JSON value'),
};

// Building a zod schema costs far more than running it: bulk writes check thousands of values a class.
const built = new WeakMap<AttributeDefinition, z.ZodType>();

export function valueSchema(a: AttributeDefinition): z.ZodType {
  let schema = built.get(a);
  if (!schema) {
    schema = schemas[a.type](a);
    built.set(a, schema);
  }
  return schema;
}

export interface ClassSchema {
  readonly className: string;
  /** Attributes by name, from the root class down (a subclass adds, never redefines). */
  readonly attributes: ReadonlyMap<string, AttributeDefinition>;
  /** Identifier rules in order (root class first), each with the class that declared it: its scope. */
  readonly identifiers: readonly { readonly scope: string; readonly fields: readonly string[] }[];
}

export type AttributeValues = Record<string, unknown>;

/**
 * Checks attributes against a class and returns them normalised. On create, defaults fill the gaps and
 * required ones must be there; on update, `patch` merges into `current` and `null` removes an attribute.
 * Issues name `attributes.<name>`.
 */
export function validateAttributes(
  schema: ClassSchema,
  patch: AttributeValues,
  current: AttributeValues | null,
  issues: ValidationIssue[],
  prefix = 'attributes',
): AttributeValues {
  const result: AttributeValues = { ...(current ?? {}) };
  for (const [name, value] of Object.entries(patch)) {
    const path = `${prefix}.${name}`;
    const def = schema.attributes.get(name);
    if (!def) {
      issues.push({ path, message: `is not an attribute of class ${schema.className}` });
      continue;
    }
    if (value === null || value === undefined) {
      delete result[name];
      continue;
    }
    const parsed = valueSchema(def).safeParse(value);
    if (parsed.success) result[name] = parsed.data;
    else issues.push({ path, message: parsed.error.issues[0]?.message ?? `is not a valid ${def.type}` });
  }
  for (const def of schema.attributes.values()) {
    if (result[def.name] !== undefined) continue;
    // On update a required attribute added later (always with a default) fills in for older CIs.
    if ((current === null || def.required) && def.default !== undefined && def.default !== null) {
      result[def.name] = valueSchema(def).parse(def.default);
    } else if (def.required && !issues.some((i) => i.path === `${prefix}.${def.name}`)) {
      issues.push({ path: `${prefix}.${def.name}`, message: 'is required' });
    }
  }
  return result;
}

/** One identity claim: the CI with these values of this rule is the only one in the rule's scope. */
export interface IdentityKey {
  readonly scope: string;
  readonly rule: string;
  readonly value: string;
}

/** The identity keys of a CI: one per rule whose fields all have a value. */
export function identityKeys(schema: ClassSchema, name: string, attributes: AttributeValues): IdentityKey[] {
  const keys: IdentityKey[] = [];
  for (const { scope, fields } of schema.identifiers) {
    const values = fields.map((f) => (f === NAME_IDENTIFIER ? name : attributes[f]));
    if (values.some((v) => v === undefined || v === null || v === '')) continue;
    // Case-insensitive: discovery feeds disagree about the case of host names.
    const normalised = values.map((v) => (typeof v === 'string' ? v.toLowerCase() : v));
    keys.push({ scope, rule: fields.join('+'), value: JSON.stringify(normalised) });
  }
  return keys;
}
