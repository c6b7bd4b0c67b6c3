import {
  type Actor,
  assertCan,
  type Database,
  type Kernel,
  NotFoundError,
  type Page,
  parseInput,
  pluginActor,
  type ReadOptions,
  trySweepLock,
  ValidationError,
  type WriteOptions,
  type WriteScope,
} from '@opsgraph/core';
import { type Kysely, sql } from 'kysely';
import {
  CERTIFICATE_CLASS,
  type Certificate,
  type CertificatePageRequest,
  type CertificateTables,
  CRITICAL_DAYS,
  certificatePermissions,
  DAY_MS,
  type ExpiringQuery,
  type ExpiryLevel,
  type ExpirySweepResult,
  expiringQueryInput,
  type ImportCertificateInput,
  type ImportResult,
  importCertificateInput,
  PLUGIN,
  pageInput,
  SECURED_BY,
  WARNING_DAYS,
} from './model.js';
import { parsePem } from './pem.js';

/** The sweep's name as the scheduler knows it (`<plugin>.<sweep>`), also its advisory lock. */
export const EXPIRY_SWEEP = `${PLUGIN}.expiry`;
/** Who raises expiry alerts: the plugin, so importing needs no event:write of its own. */
const alertActor = pluginActor(PLUGIN);
/** One alert per certificate, escalated warning -> critical and cleared in place. */
export const expiryDedupKey = (ciId: string) => `certificates:expiry:${ciId}`;

type Db = Kysely<Database>;

// Core's `cis` table is read (its type is part of core's public `Database`); CIs are written only
// through `cmdb`, so history, identity and events stay core's business.
const notAfterOf = sql<Date>`(${sql.ref('cis.attributes')}->>'not_after')::timestamptz`;

function certificates(db: Db) {
  return db
    .withTables<CertificateTables>()
    .selectFrom('cis')
    .leftJoin('certificatesCertificates as c', 'c.ciId', 'cis.id')
    .where('cis.class', '=', CERTIFICATE_CLASS);
}

const columns = [
  'cis.id',
  'cis.name',
  'cis.status',
  'cis.attributes',
  'c.alertLevel',
  'c.renewedBy',
  'c.pem',
] as const;

type Row = {
  id: string;
  name: string;
  status: Certificate['status'];
  attributes: Record<string, unknown>;
  alertLevel: ExpiryLevel | null;
  renewedBy: string | null;
  pem: string | null;
};

function toCertificate(row: Row): Certificate {
  const a = row.attributes;
  return {
    ciId: row.id,
    name: row.name,
    status: row.status,
    commonName: String(a.common_name),
    sans: Array.isArray(a.sans) ? a.sans.map(String) : [],
    issuer: String(a.issuer),
    serial: String(a.serial),
    notBefore: new Date(String(a.not_before)),
    notAfter: new Date(String(a.not_after)),
    fingerprintSha256: typeof a.fingerprint_sha256 === 'string' ? a.fingerprint_sha256 : null,
    alertLevel: row.alertLevel ?? 'ok',
    renewedBy: row.renewedBy,
    pem: row.pem,
  };
}

const cursorOf = (c: Certificate) =>
  Buffer.from(JSON.stringify([c.notAfter.toISOString(), c.ciId])).toString('base64url');

function parseCursor(cursor: string): [Date, string] {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as [string, string];
    const date = new Date(at);
    if (Number.isNaN(date.getTime()) || typeof id !== 'string' || !/^[0-9a-f-]{36}$/.test(id))
      throw new Error('bad');
    return [date, id];
  } catch {
    throw ValidationError.field('after', 'is not a cursor of this list');
  }
}

export class CertificateService {
  constructor(private readonly kernel: Kernel) {}

  /**
   * Imports a PEM certificate as a `tls_certificate` CI (certificates:write, and cmdb:write: the CI and
   * its relationships are written as you, so CMDB history names you). One transaction: the CI, the
   * `secured_by` relationships from `servedBy`, renewal of older certificates of the same common name,
   * the expiry alert if it is already due, and the events. The same certificate twice is one CI.
   */
  async import(input: ImportCertificateInput, { actor }: WriteOptions): Promise<ImportResult> {
    assertCan(actor, certificatePermissions.write);
    const data = parseInput(importCertificateInput, input);
    const parsed = parsePem(data.pem);
    return this.kernel.write(actor, async (scope) => {
      const cmdb = scope.kernel.services.cmdb;
      const serving = await cmdb.getMany(data.servedBy);
      serving.forEach((ci, i) => {
        if (!ci) throw new NotFoundError('CI', data.servedBy[i]!, `servedBy.${i}`);
        if (ci.status === 'retired')
          throw ValidationError.field(`servedBy.${i}`, `CI ${ci.name} is retired and serves nothing`);
      });

      const known = await certificates(scope.db)
        .select(columns)
        .where(
          sql<boolean>`${sql.ref('cis.attributes')}->>'fingerprint_sha256' = ${parsed.fingerprint_sha256}`,
        )
        .executeTakeFirst();
      if (known?.status === 'retired')
        throw ValidationError.field(
          'pem',
          `is certificate ${known.name} (serial ${parsed.serial}), retired${known.renewedBy ? ` and renewed by CI ${known.renewedBy}` : ''}`,
        );
      const ciId =
        known?.id ??
        (
          await cmdb.create(
            {
              class: CERTIFICATE_CLASS,
              name: parsed.common_name,
              attributes: { ...parsed },
              ...(data.environment ? { environment: data.environment } : {}),
            },
            { actor },
          )
        ).id;
      await scope.db
        .withTables<CertificateTables>()
        .insertInto('certificatesCertificates')
        .values({ ciId, pem: data.pem.trim(), importedAt: scope.now, levelChangedAt: null, renewedBy: null })
        .onConflict((oc) => oc.column('ciId').doUpdateSet({ pem: data.pem.trim(), importedAt: scope.now }))
        .execute();
      await this.#relate(scope, ciId, data.servedBy);
      const renewed = await this.#renew(scope, parsed.common_name);
      await this.#judge(scope, scope.now, [ciId, ...renewed]);
      const [certificate] = await this.#load(scope.db, [ciId]);
      scope.emit(
        'certificates.imported',
        { type: 'ci', id: ciId },
        { certificate: certificate!, created: !known },
      );
      return {
        certificate: certificate!,
        created: !known,
        renewed: await this.#load(scope.db, renewed),
      };
    });
  }

  /** A certificate by its CI id (certificates:read); null when there is none. */
  async get(ciId: string, { actor }: ReadOptions = {}): Promise<Certificate | null> {
    if (actor) assertCan(actor, certificatePermissions.read);
    if (!/^[0-9a-f-]{36}$/i.test(ciId)) return null;
    return (await this.#load(this.kernel.db, [ciId.toLowerCase()]))[0] ?? null;
  }

  /**
   * Live certificates whose not-after is within `withinDays` of now, expired ones included, soonest
   * first (certificates:read); a keyset page (`first`, `after`).
   */
  async expiring(
    query: ExpiringQuery,
    page: CertificatePageRequest = {},
    { actor }: ReadOptions = {},
  ): Promise<Page<Certificate>> {
    if (actor) assertCan(actor, certificatePermissions.read);
    const { withinDays } = parseInput(expiringQueryInput, query);
    const { first, after } = parseInput(pageInput, page);
    const until = new Date(this.kernel.clock.now().getTime() + withinDays * DAY_MS);
    let q = certificates(this.kernel.db)
      .select(columns)
      .where('cis.status', '!=', 'retired')
      .where(notAfterOf, '<=', until);
    if (after) {
      const [at, id] = parseCursor(after);
      q = q.where(sql<boolean>`(${notAfterOf}, ${sql.ref('cis.id')}) > (${at}::timestamptz, ${id}::uuid)`);
    }
    const rows = await q
      .orderBy(notAfterOf)
      .orderBy('cis.id')
      .limit(first + 1)
      .execute();
    const nodes = rows.slice(0, first).map((r) => toCertificate(r as Row));
    const edges = nodes.map((node) => ({ cursor: cursorOf(node), node }));
    return { edges, hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null };
  }

  /**
   * Raises, escalates and clears expiry alerts through event management (certificates:write): warning
   * from 30 days before not-after, critical from 7; cleared when the not-after moves on (a renewed CI)
   * or the certificate is retired or renewed. Each level is raised once per certificate, whatever the
   * number of runs; runs one at a time (the sweep's advisory lock, also when called directly).
   */
  async sweep(
    options: { now?: Date; ciIds?: readonly string[] } = {},
    actor: Actor = alertActor,
  ): Promise<ExpirySweepResult> {
    assertCan(actor, certificatePermissions.write);
    return this.kernel.write(actor, async (scope) => {
      if (!(await trySweepLock(scope.db, EXPIRY_SWEEP))) return { warning: 0, critical: 0, cleared: 0 };
      return this.#judge(scope, options.now ?? scope.now, options.ciIds);
    });
  }

  async #load(db: Db, ids: readonly string[]): Promise<Certificate[]> {
    if (ids.length === 0) return [];
    const rows = await certificates(db).select(columns).where('cis.id', 'in', ids).execute();
    const byId = new Map(rows.map((r) => [r.id, toCertificate(r as Row)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  /** `servedBy secured_by cert`, each once. */
  async #relate(scope: WriteScope, ciId: string, servedBy: readonly string[]): Promise<void> {
    if (servedBy.length === 0) return;
    const cmdb = scope.kernel.services.cmdb;
    const [existing = []] = await cmdb.relationshipsOf([ciId]);
    for (const sourceId of new Set(servedBy)) {
      if (existing.some((r) => r.type === SECURED_BY && r.sourceId === sourceId && r.targetId === ciId))
        continue;
      await cmdb.relate({ type: SECURED_BY, sourceId, targetId: ciId }, { actor: scope.actor });
    }
  }

  /**
   * Of the live certificates of a common name, the one valid longest renews the others: it takes over
   * what they secure, and they are retired (their alerts then clear). Returns the renewed CIs' ids.
   */
  async #renew(scope: WriteScope, commonName: string): Promise<string[]> {
    const family = await certificates(scope.db)
      .select([...columns, 'cis.version'])
      .where('cis.status', '!=', 'retired')
      .where(sql<boolean>`lower(${sql.ref('cis.attributes')}->>'common_name') = lower(${commonName})`)
      .orderBy(notAfterOf, 'desc')
      .orderBy('cis.createdAt', 'desc')
      .execute();
    const [newest, ...rest] = family.map((r) => ({ ...toCertificate(r as Row), version: r.version }));
    const older = rest.filter((c) => c.notAfter < newest!.notAfter);
    if (older.length === 0) return [];
    const cmdb = scope.kernel.services.cmdb;
    const relationships = await cmdb.relationshipsOf(older.map((c) => c.ciId));
    for (const [i, old] of older.entries()) {
      const servers = relationships[i]!.filter((r) => r.type === SECURED_BY && r.targetId === old.ciId);
      await this.#relate(
        scope,
        newest!.ciId,
        servers.map((r) => r.sourceId),
      );
      await scope.db
        .withTables<CertificateTables>()
        .insertInto('certificatesCertificates')
        .values({
          ciId: old.ciId,
          pem: null,
          importedAt: null,
          levelChangedAt: null,
          renewedBy: newest!.ciId,
        })
        .onConflict((oc) => oc.column('ciId').doUpdateSet({ renewedBy: newest!.ciId }))
        .execute();
      await cmdb.retire(old.ciId, old.version, { actor: scope.actor });
      const { version: _, ...certificate } = old;
      scope.emit(
        'certificates.renewed',
        { type: 'ci', id: old.ciId },
        {
          certificate: { ...certificate, renewedBy: newest!.ciId, status: 'retired' },
          renewedBy: newest!.ciId,
        },
      );
    }
    return older.map((c) => c.ciId);
  }

  /**
   * Judges certificates (all, or `ciIds`) at `now` and raises what changed. Only certificates whose
   * level differs from the one last raised are read, so a daily run costs one query when nothing moves.
   */
  async #judge(scope: WriteScope, now: Date, ciIds?: readonly string[]): Promise<ExpirySweepResult> {
    const counts = { warning: 0, critical: 0, cleared: 0 };
    if (ciIds?.length === 0) return counts;
    const critical = new Date(now.getTime() + CRITICAL_DAYS * DAY_MS);
    const warning = new Date(now.getTime() + WARNING_DAYS * DAY_MS);
    const level = sql<ExpiryLevel>`case
      when ${sql.ref('cis.status')} = 'retired' or ${sql.ref('c.renewedBy')} is not null then 'ok'
      when ${notAfterOf} <= ${critical}::timestamptz then 'critical'
      when ${notAfterOf} <= ${warning}::timestamptz then 'warning'
      else 'ok' end`;
    let q = certificates(scope.db)
      .select([...columns, level.as('level')])
      .where(sql<boolean>`${level} <> coalesce(${sql.ref('c.alertLevel')}, 'ok')`);
    if (ciIds) q = q.where('cis.id', 'in', ciIds);
    const changed = await q.orderBy('cis.id').execute();
    const table = () => scope.db.withTables<CertificateTables>();
    for (const row of changed) {
      const cert = toCertificate(row as Row);
      const from = cert.alertLevel;
      const to = row.level;
      // Compare-and-set: a concurrent writer that moved the level first wins, and nothing is raised twice.
      await table()
        .insertInto('certificatesCertificates')
        .values({ ciId: cert.ciId, pem: null, importedAt: null, levelChangedAt: null, renewedBy: null })
        .onConflict((oc) => oc.column('ciId').doNothing())
        .execute();
      const moved = await table()
        .updateTable('certificatesCertificates')
        .set({ alertLevel: to, levelChangedAt: now })
        .where('ciId', '=', cert.ciId)
        .where('alertLevel', '=', from)
        .executeTakeFirst();
      if (moved.numUpdatedRows === 0n) continue;
      await scope.kernel.services.events.ingest([expiryEvent(cert, to, now)], { actor: alertActor });
      scope.emit(
        'certificates.level_changed',
        { type: 'ci', id: cert.ciId },
        { ciId: cert.ciId, from, to, notAfter: cert.notAfter.toISOString() },
      );
      if (to === 'ok') counts.cleared++;
      else counts[to]++;
    }
    return counts;
  }
}

function expiryEvent(cert: Certificate, level: ExpiryLevel, now: Date) {
  const left = cert.notAfter.getTime() - now.getTime();
  const days = Math.floor(Math.abs(left) / DAY_MS);
  const when = cert.notAfter.toISOString();
  const message =
    level === 'ok'
      ? cert.status === 'retired' || cert.renewedBy
        ? `TLS certificate ${cert.commonName} (serial ${cert.serial}) was ${cert.renewedBy ? 'renewed' : 'retired'}`
        : `TLS certificate ${cert.commonName} (serial ${cert.serial}) is valid until ${when}`
      : left > 0
        ? `TLS certificate ${cert.commonName} (serial ${cert.serial}) expires on ${when}, in ${days} days`
        : `TLS certificate ${cert.commonName} (serial ${cert.serial}) expired on ${when}`;
  return {
    source: PLUGIN,
    node: cert.commonName,
    resource: cert.serial,
    type: 'certificate_expiry',
    severity: level === 'ok' ? ('clear' as const) : level,
    message,
    dedupKey: expiryDedupKey(cert.ciId),
    labels: { serial: cert.serial, notAfter: when },
    // Event management binds events to live CIs only: a retired certificate's clear goes by dedup key.
    ...(cert.status === 'retired' ? {} : { ciId: cert.ciId }),
    occurredAt: now,
  };
}
