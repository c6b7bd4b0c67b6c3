// `opsgraph import <file.json|file.csv> --source <name>`: reads a discovery feed and reconciles it.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  type AttributeDefinition,
  type ClassSchema,
  type OpsGraph,
  type ReconcileItemInput,
  type ReconcilePayload,
  type ReconcileReport,
  systemActor,
  ValidationError,
} from '@opsgraph/core';
import { Presets, SingleBar } from 'cli-progress';
import { parse } from 'csv-parse/sync';

/** A payload read from a file; for CSV, the line each CI came from (for error messages). */
export interface ImportFile {
  readonly payload: ReconcilePayload;
  readonly lines?: readonly number[];
}

/** Columns of a CSV row that are CI fields; every other column is an attribute. */
const fieldColumns = new Set(['ref', 'class', 'name', 'status', 'environment', 'owner_group', 'tags']);

export async function readImportFile(og: OpsGraph, file: string): Promise<ImportFile> {
  const text = await readFile(file, 'utf8');
  const ext = path.extname(file).toLowerCase();
  if (ext === '.json') {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new Error(`${file} is not valid JSON: ${(error as Error).message}`);
    }
    // A bare list of CIs is a payload without relationships.
    return { payload: (Array.isArray(data) ? { cis: data } : data) as ReconcilePayload };
  }
  if (ext === '.csv') return csvPayload(og, text);
  throw new Error(`${file}: import reads .json (a reconcile payload) or .csv (one CI a row) files`);
}

/**
 * One CI a row. Columns: `class`, `name`, `status`, `environment`, `owner_group`, `tags` (separated by
 * `;`), `ref`, and one column per attribute; an empty cell leaves the field out. Attribute values are
 * coerced by the attribute's type in the row's class; a value that does not fit is passed as written, so
 * reconciliation names it (`cis.<n>.attributes.<name>`).
 */
export async function csvPayload(og: OpsGraph, text: string): Promise<ImportFile> {
  const rows = parse(text, {
    columns: (header: string[]) => header.map((h) => h.trim()),
    bom: true,
    trim: true,
    skip_empty_lines: true,
    info: true,
  }) as { record: Record<string, string>; info: { lines: number } }[];
  const schemas = new Map<string, ClassSchema | null>();
  const cis: ReconcileItemInput[] = [];
  const lines: number[] = [];
  for (const { record, info } of rows) {
    const cls = record.class ?? '';
    if (!schemas.has(cls)) schemas.set(cls, await og.cmdb.classSchema(cls));
    const schema = schemas.get(cls);
    const attributes: Record<string, unknown> = {};
    for (const [column, value] of Object.entries(record)) {
      if (fieldColumns.has(column) || value === '') continue;
      attributes[column] = coerce(schema?.attributes.get(column), value);
    }
    const cell = (column: string) => (record[column] ? record[column] : undefined);
    const tags = cell('tags')
      ?.split(';')
      .map((t) => t.trim())
      .filter(Boolean);
    cis.push({
      class: cls,
      name: record.name ?? '',
      ...(cell('ref') ? { ref: cell('ref')! } : {}),
      ...(cell('status') ? { status: cell('status') as 'operational' } : {}),
      ...(cell('environment') ? { environment: cell('environment')! } : {}),
      ...(cell('owner_group') ? { ownerGroup: cell('owner_group')! } : {}),
      ...(tags ? { tags } : {}),
      attributes,
    });
    lines.push(info.lines);
  }
  return { payload: { cis }, lines };
}

function coerce(def: AttributeDefinition | undefined, raw: string): unknown {
  switch (def?.type) {
    case 'integer':
      return /^[+-]?\d+$/.test(raw) ? Number(raw) : raw;
    case 'number': {
      const n = Number(raw);
      return Number.isFinite(n) ? n : raw;
    }
    case 'boolean': {
      const v = raw.toLowerCase();
      if (['true', 'yes', '1'].includes(v)) return true;
      if (['false', 'no', '0'].includes(v)) return false;
      return raw;
    }
    case 'json':
      try {
        return JSON.parse(raw);
      } catch {
        return raw;
      }
    default:
      return raw;
  }
}

/** `cis.12.attributes.cpu_count` → `cis.12.attributes.cpu_count (line 14)` for a CSV file. */
export function withLine(pathText: string, lines: readonly number[] | undefined): string {
  const match = /^cis\.(\d+)(\.|$)/.exec(pathText);
  const line = match && lines ? lines[Number(match[1])] : undefined;
  return line === undefined ? pathText : `${pathText} (line ${line})`;
}

export interface RunImportOptions {
  readonly source: string;
  /** Print the whole report as JSON on stdout instead of the summary. */
  readonly json?: boolean;
  readonly out?: NodeJS.WritableStream;
  readonly err?: NodeJS.WriteStream;
}

/** Most conflicts listed by the summary; `--json` gives them all. */
const CONFLICTS_SHOWN = 20;

/**
 * Reads `file`, reconciles it under `source` as the CLI's actor, and prints the outcome. Returns the exit
 * code: 0 when the feed was applied (conflicts are reported, not failures), 1 on bad input.
 */
export async function runImport(og: OpsGraph, file: string, options: RunImportOptions): Promise<number> {
  const out = options.out ?? process.stdout;
  const err = options.err ?? process.stderr;
  const { payload, lines } = await readImportFile(og, file);
  // Draws on stderr only when it is a terminal (cli-progress stays silent otherwise), so piped output
  // and CI logs get the summary alone.
  const bar = new SingleBar(
    { stream: err, format: '{phase} [{bar}] {percentage}% | {value}/{total}', hideCursor: true },
    Presets.shades_classic,
  );
  let started = false;
  let report: ReconcileReport;
  try {
    report = await og.cmdb.reconcile(payload, {
      actor: systemActor('opsgraph-import'),
      source: options.source,
      onProgress: ({ phase, done, total }) => {
        if (!started) {
          bar.start(total, done, { phase });
          started = true;
        } else bar.update(done, { phase });
      },
    });
  } catch (error) {
    if (started) bar.stop();
    if (!(error instanceof ValidationError)) throw error;
    err.write(`opsgraph import: ${file} was not imported (nothing was written):\n`);
    for (const issue of error.issues) err.write(`  ${withLine(issue.path, lines)}: ${issue.message}\n`);
    return 1;
  }
  if (started) bar.stop();
  if (options.json) {
    out.write(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  }
  const r = report;
  out.write(
    `Imported ${file} from ${r.source}: ${r.created} created, ${r.updated} updated, ${r.unchanged} unchanged, ${r.skipped} skipped; ` +
      `relationships: ${r.relationships.created} created, ${r.relationships.unchanged} unchanged, ${r.relationships.skipped} skipped.\n`,
  );
  if (r.conflicts.length > 0) {
    out.write(`${r.conflicts.length} conflict(s):\n`);
    for (const c of r.conflicts.slice(0, CONFLICTS_SHOWN)) {
      const where = withLine(`${c.list}.${c.index}`, c.list === 'cis' ? lines : undefined);
      const ref = c.ref ? ` (ref ${c.ref})` : '';
      const field = c.field ? ` ${c.field}` : '';
      out.write(`  ${where}${ref}${field}: ${c.kind}: ${c.reason}\n`);
    }
    if (r.conflicts.length > CONFLICTS_SHOWN)
      out.write(`  … and ${r.conflicts.length - CONFLICTS_SHOWN} more (--json lists them all)\n`);
  }
  return 0;
}
