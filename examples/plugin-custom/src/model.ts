import type { CiClassDefinition, CiStatus, RelationshipTypeDefinition } from '@opsgraph/core';
import type { ColumnType } from 'kysely';
import { z } from 'zod';

/** The plugin's name: the prefix of its tables, events, permissions, GraphQL types and sweeps. */
export const PLUGIN = 'certificates';

export const certificatePermissions = {
  read: 'certificates:read',
  write: 'certificates:write',
} as const;

/** A certificate is a CI of this class; its facts are CI attributes, so discovery can feed them too. */
export const CERTIFICATE_CLASS = 'tls_certificate';

export const tlsCertificateClass: CiClassDefinition = {
  name: CERTIFICATE_CLASS,
  label: 'TLS certificate',
  description: 'An X.509 certificate served over TLS (from the certificates example plugin).',
  attributes: [
    { name: 'common_name', type: 'string', label: 'Common name', required: true },
    { name: 'sans', type: 'json', label: 'Subject alternative names', description: 'A list of names.' },
    { name: 'issuer', type: 'string', label: 'Issuer', required: true },
    { name: 'serial', type: 'string', label: 'Serial number (hex)', required: true },
    { name: 'not_before', type: 'datetime', label: 'Valid from', required: true },
    { name: 'not_after', type: 'datetime', label: 'Valid until', required: true },
    { name: 'fingerprint_sha256', type: 'string', label: 'SHA-256 fingerprint' },
  ],
  // Issuers number their own certificates: the serial alone is not unique, with its issuer it is.
  identifiers: [['serial', 'issuer']],
};

/**
 * `app secured_by cert`: the certificate (target) expiring hurts what serves it (source), and through
 * their own relationships the services behind them (`to_source`, like `depends_on`).
 */
export const SECURED_BY = 'secured_by';
export const securedBy: RelationshipTypeDefinition = {
  name: SECURED_BY,
  label: 'is secured by',
  inverseLabel: 'secures',
  propagation: 'to_source',
};

/** How close to expiry: `warning` from 30 days before, `critical` from 7 days before (and once expired). */
export const expiryLevels = ['ok', 'warning', 'critical'] as const;
export type ExpiryLevel = (typeof expiryLevels)[number];

export const DAY_MS = 86_400_000;
export const WARNING_DAYS = 30;
export const CRITICAL_DAYS = 7;

export function expiryLevelOf(notAfter: Date, now: Date): ExpiryLevel {
  const left = notAfter.getTime() - now.getTime();
  if (left <= CRITICAL_DAYS * DAY_MS) return 'critical';
  if (left <= WARNING_DAYS * DAY_MS) return 'warning';
  return 'ok';
}

/** The plugin's own typed view of its table (camelCase, as core's): what the CMDB does not hold. */
export type CertificateTables = {
  certificatesCertificates: {
    ciId: string;
    /** The PEM as imported (public data; private keys are refused); null for CIs discovery created. */
    pem: string | null;
    /** The level last raised through event management: each level is raised once. */
    alertLevel: ColumnType<ExpiryLevel, ExpiryLevel | undefined, ExpiryLevel>;
    levelChangedAt: Date | null;
    /** The certificate that renewed this one. */
    renewedBy: string | null;
    importedAt: Date | null;
  };
};

/** A certificate as read: the CI's attributes and the plugin's own record. */
export interface Certificate {
  readonly ciId: string;
  readonly name: string;
  readonly status: CiStatus;
  readonly commonName: string;
  readonly sans: readonly string[];
  readonly issuer: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly fingerprintSha256: string | null;
  readonly alertLevel: ExpiryLevel;
  readonly renewedBy: string | null;
  readonly pem: string | null;
}

/** What an import did: the certificate, whether it was new, and the ones it renewed (now retired). */
export interface ImportResult {
  readonly certificate: Certificate;
  readonly created: boolean;
  readonly renewed: readonly Certificate[];
}

/** Counts of a sweep: alerts raised at each level and cleared. */
export type ExpirySweepResult = {
  readonly warning: number;
  readonly critical: number;
  readonly cleared: number;
};

export const importCertificateInput = z.strictObject({
  /** One PEM certificate (`-----BEGIN CERTIFICATE-----`). */
  pem: z
    .string()
    .max(64_000, 'must be at most 64000 characters')
    .refine((pem) => !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem), {
      message: 'holds a private key: import the certificate only, never its key',
    })
    .refine((pem) => pem.includes('-----BEGIN CERTIFICATE-----'), {
      message: 'must be a PEM certificate (-----BEGIN CERTIFICATE-----)',
    }),
  /** CIs that serve it (a load balancer, a web server, an application): related `secured_by` it. */
  servedBy: z.array(z.uuid('must be a CI id')).max(100).default([]),
  environment: z.string().trim().min(1).max(64).nullish(),
});
export type ImportCertificateInput = z.input<typeof importCertificateInput>;

export const expiringQueryInput = z.strictObject({
  withinDays: z.int('must be a whole number of days').min(0).max(3650),
});
export type ExpiringQuery = z.input<typeof expiringQueryInput>;

export const pageInput = z.strictObject({
  first: z.int().min(1).max(500).default(50),
  after: z.string().max(200).nullish(),
});
export type CertificatePageRequest = z.input<typeof pageInput>;

declare module '@opsgraph/core' {
  interface DomainEventMap {
    'certificates.imported': { certificate: Certificate; created: boolean };
    'certificates.renewed': { certificate: Certificate; renewedBy: string };
    'certificates.level_changed': { ciId: string; from: ExpiryLevel; to: ExpiryLevel; notAfter: string };
  }
}
