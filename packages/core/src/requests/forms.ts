import { type Kysely, type SqlBool, sql } from 'kysely';
import type { Database } from '../db/database.js';
import type { ValidationIssue } from '../kernel/errors.js';
import type { FormField } from './model.js';

type Db = Kysely<Database>;

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LONGEST_TEXT = { string: 4000, text: 20_000 } as const;

/** Whether `value` is a real calendar date written `YYYY-MM-DD`. */
function isDate(value: string): boolean {
  const m = DATE.exec(value);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.toISOString().slice(0, 10) === value;
}

function compile(pattern: string): RegExp | null {
  try {
    return new RegExp(`^(?:${pattern})$`, 'u');
  } catch {
    return null;
  }
}

/**
 * The problem with one value of a field, as far as it can be judged without the database (users and
 * CIs are looked up by `validateAnswers`); undefined when it is fine.
 */
function problemOf(field: FormField, value: unknown): string | undefined {
  switch (field.type) {
    case 'string':
    case 'text': {
      if (typeof value !== 'string') return 'must be text';
      if (field.type === 'string' && value.includes('\n'))
        return 'must be one line (use a text field for more)';
      const longest = field.max ?? LONGEST_TEXT[field.type];
      if (value.length > longest) return `must be at most ${longest} characters`;
      if (field.min !== undefined && value.length < field.min)
        return `must be at least ${field.min} characters`;
      if (field.pattern && !compile(field.pattern)?.test(value)) return `must match ${field.pattern}`;
      return undefined;
    }
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return 'must be a number';
      if (field.type === 'integer' && !Number.isInteger(value)) return 'must be a whole number';
      if (field.min !== undefined && value < field.min) return `must be at least ${field.min}`;
      if (field.max !== undefined && value > field.max) return `must be at most ${field.max}`;
      return undefined;
    }
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'must be true or false';
    case 'date':
      return typeof value === 'string' && isDate(value) ? undefined : 'must be a date written YYYY-MM-DD';
    case 'enum':
      return typeof value === 'string' && field.options?.includes(value)
        ? undefined
        : `must be one of ${field.options?.join(', ')}`;
    case 'user':
      return typeof value === 'string' && UUID.test(value) ? undefined : 'must be a user id';
    case 'ci':
      return typeof value === 'string' && UUID.test(value) ? undefined : 'must be a CI id';
  }
}

/**
 * Checks a form definition: names unique, options only on enums, bounds in order, patterns that
 * compile, CI classes that exist, defaults valid for their own field. Issues name `form.<i>.<key>`.
 */
export async function reviewForm(
  db: Db,
  fields: readonly FormField[],
  prefix = 'form',
): Promise<ValidationIssue[]> {
  const issues: ValidationIssue[] = [];
  const seen = new Set<string>();
  const classes = new Set((await db.selectFrom('ciClasses').select('name').execute()).map((c) => c.name));
  fields.forEach((f, i) => {
    const at = (key: string, message: string) => issues.push({ path: `${prefix}.${i}.${key}`, message });
    if (seen.has(f.name)) at('name', `another field is named ${f.name}`);
    seen.add(f.name);
    if (f.type === 'enum' && !f.options) at('options', 'an enum field lists its options');
    if (f.type !== 'enum' && f.options) at('options', 'only an enum field has options');
    if (f.options && new Set(f.options).size !== f.options.length) at('options', 'lists an option twice');
    const bounded = ['string', 'text', 'integer', 'number'].includes(f.type);
    if (!bounded && (f.min !== undefined || f.max !== undefined))
      at(f.min !== undefined ? 'min' : 'max', 'only string, text, integer and number fields have bounds');
    if (f.min !== undefined && f.max !== undefined && f.min > f.max) at('max', 'must not be less than min');
    if ((f.type === 'string' || f.type === 'text') && (f.min ?? 0) < 0) at('min', 'must not be negative');
    if (f.pattern !== undefined) {
      if (f.type !== 'string' && f.type !== 'text')
        at('pattern', 'only string and text fields have a pattern');
      else if (!compile(f.pattern)) at('pattern', 'is not a valid regular expression');
    }
    if (f.ciClass !== undefined) {
      if (f.type !== 'ci') at('ciClass', 'only a CI field names a class');
      else if (!classes.has(f.ciClass)) at('ciClass', `unknown CI class "${f.ciClass}"`);
    }
    if (f.default !== undefined && f.default !== null) {
      if (f.type === 'user' || f.type === 'ci') at('default', `a ${f.type} field has no default`);
      else {
        const problem = problemOf(f, f.default);
        if (problem) at('default', problem);
      }
    }
  });
  return issues;
}

/**
 * Checks answers against a form and returns them with defaults filled in. Each issue names
 * `answers.<field>`: an unknown field, a missing required one, a value of the wrong type or out of
 * bounds, a user that is not an active user, a CI that is not live or not of the field's class.
 */
export async function validateAnswers(
  db: Db,
  form: readonly FormField[],
  answers: Readonly<Record<string, unknown>>,
): Promise<{ answers: Record<string, unknown>; issues: ValidationIssue[] }> {
  const issues: ValidationIssue[] = [];
  const result: Record<string, unknown> = {};
  const byName = new Map(form.map((f) => [f.name, f]));
  for (const key of Object.keys(answers))
    if (!byName.has(key)) issues.push({ path: `answers.${key}`, message: 'is not a field of this form' });
  const users: [string, string][] = [];
  const cis: [FormField, string][] = [];
  for (const field of form) {
    const path = `answers.${field.name}`;
    let value = answers[field.name];
    if (typeof value === 'string' && field.type !== 'text') value = value.trim();
    const empty = value === undefined || value === null || value === '';
    if (empty) {
      if (field.default !== undefined && field.default !== null) result[field.name] = field.default;
      else if (field.required) issues.push({ path, message: 'is required' });
      continue;
    }
    const problem = problemOf(field, value);
    if (problem) {
      issues.push({ path, message: problem });
      continue;
    }
    if (field.type === 'user' || field.type === 'ci') value = (value as string).toLowerCase();
    result[field.name] = value;
    if (field.type === 'user') users.push([field.name, value as string]);
    if (field.type === 'ci') cis.push([field, value as string]);
  }
  if (users.length > 0) {
    const active = new Set(
      (
        await db
          .selectFrom('accessUsers')
          .select('id')
          .where(sql<SqlBool>`id = any(${users.map(([, id]) => id)}::uuid[])`)
          .where('active', '=', true)
          .execute()
      ).map((u) => u.id),
    );
    for (const [name, id] of users)
      if (!active.has(id)) issues.push({ path: `answers.${name}`, message: `no active user ${id}` });
  }
  if (cis.length > 0) {
    const { rows } = await sql<{ id: string; lineage: string[] }>`
      with recursive lineage(ci, name, parent) as (
        select c.id, k.name, k.parent from cis c join ci_classes k on k.name = c.class
         where c.id = any(${cis.map(([, id]) => id)}::uuid[]) and c.retired_at is null
        union all
        select l.ci, k.name, k.parent from lineage l join ci_classes k on k.name = l.parent
      )
      select ci as id, array_agg(name) as lineage from lineage group by ci`.execute(db);
    const live = new Map(rows.map((r) => [r.id, r.lineage]));
    for (const [field, id] of cis) {
      const lineage = live.get(id);
      if (!lineage) issues.push({ path: `answers.${field.name}`, message: `no live CI ${id}` });
      else if (field.ciClass && !lineage.includes(field.ciClass))
        issues.push({ path: `answers.${field.name}`, message: `must be a ${field.ciClass} CI` });
    }
  }
  return { answers: result, issues };
}

/** The class and every class below it (the classes a `ci` field of `ciClass` or a device action accepts). */
export async function classAndDescendants(db: Db, ciClass: string): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    with recursive below(name) as (
      select name from ci_classes where name = ${ciClass}
      union
      select k.name from ci_classes k join below b on k.parent = b.name
    )
    select name from below`.execute(db);
  return rows.map((r) => r.name);
}
