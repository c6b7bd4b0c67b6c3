import { forwardPage, mutationErrors, type OpsGraphBuilder } from '@opsgraph/server';
import {
  type Certificate,
  certificatePermissions,
  type ExpiryLevel,
  expiryLevels,
  type ImportResult,
} from './model.js';

// Types and root fields carry the plugin's prefix (`Certificates…`, `certificates…`): no collisions.
export function certificatesGraphql(builder: OpsGraphBuilder): void {
  const read = { permission: certificatePermissions.read };

  const Level = builder.enumType('CertificatesExpiryLevel', {
    description: 'How close to expiry: WARNING from 30 days before not-after, CRITICAL from 7.',
    values: Object.fromEntries(expiryLevels.map((l) => [l.toUpperCase(), { value: l }])) as Record<
      Uppercase<ExpiryLevel>,
      { value: ExpiryLevel }
    >,
  });

  const CertificateRef = builder.objectRef<Certificate>('CertificatesCertificate').implement({
    description: 'A TLS certificate, a CI of class tls_certificate (from the certificates example plugin).',
    authScopes: read,
    fields: (t) => ({
      ciId: t.exposeID('ciId'),
      name: t.exposeString('name'),
      status: t.exposeString('status'),
      commonName: t.exposeString('commonName'),
      sans: t.exposeStringList('sans'),
      issuer: t.exposeString('issuer'),
      serial: t.exposeString('serial', { description: 'Hexadecimal, upper case.' }),
      notBefore: t.field({ type: 'DateTime', resolve: (c) => c.notBefore }),
      notAfter: t.field({ type: 'DateTime', resolve: (c) => c.notAfter }),
      fingerprintSha256: t.exposeString('fingerprintSha256', { nullable: true }),
      alertLevel: t.field({
        type: Level,
        description: 'The level last raised through event management.',
        resolve: (c) => c.alertLevel,
      }),
      renewedBy: t.exposeID('renewedBy', { nullable: true }),
      pem: t.exposeString('pem', { nullable: true }),
    }),
  });

  builder.queryFields((t) => ({
    certificatesExpiring: t.connection(
      {
        type: CertificateRef,
        description: 'Live certificates expiring within `withinDays` days (expired ones too), soonest first.',
        authScopes: read,
        args: { withinDays: t.arg.int({ required: true }) },
        resolve: async (_root, { withinDays, ...args }, { og, actor }) => {
          const page = await og.plugins.certificates.certificates.expiring(
            { withinDays },
            forwardPage(args),
            { actor },
          );
          return {
            edges: page.edges,
            pageInfo: {
              hasNextPage: page.hasNextPage,
              hasPreviousPage: Boolean(args.after),
              startCursor: page.edges[0]?.cursor ?? null,
              endCursor: page.endCursor,
            },
          };
        },
      },
      { name: 'CertificatesCertificateConnection' },
      { name: 'CertificatesCertificateEdge' },
    ),
    certificatesCertificate: t.field({
      type: CertificateRef,
      nullable: true,
      authScopes: read,
      args: { ciId: t.arg.id({ required: true }) },
      resolve: (_root, { ciId }, { og, actor }) =>
        og.plugins.certificates.certificates.get(String(ciId), { actor }),
    }),
  }));

  const ImportInput = builder.inputType('CertificatesImportInput', {
    fields: (t) => ({
      pem: t.string({ required: true, description: 'One PEM certificate; a chain imports its first.' }),
      servedBy: t.idList({ description: 'CIs that serve it: each becomes `secured_by` it.' }),
      environment: t.string(),
    }),
  });

  const Imported = builder.objectRef<ImportResult>('CertificatesImportPayload').implement({
    fields: (t) => ({
      certificate: t.field({ type: CertificateRef, resolve: (r) => r.certificate }),
      created: t.exposeBoolean('created', { description: 'False when the same certificate was known.' }),
      renewed: t.field({
        type: [CertificateRef],
        description: 'Older certificates of the same common name it renewed (now retired).',
        resolve: (r) => [...r.renewed],
      }),
    }),
  });

  builder.mutationField('certificatesImport', (t) =>
    t.field({
      type: Imported,
      description: 'Imports a PEM certificate as a CI (certificates:write and cmdb:write).',
      errors: { types: mutationErrors, directResult: true, union: { name: 'CertificatesImportResult' } },
      authScopes: { permission: certificatePermissions.write },
      args: { input: t.arg({ type: ImportInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.plugins.certificates.certificates.import(
          {
            pem: input.pem,
            servedBy: (input.servedBy ?? []).map(String),
            ...(input.environment != null ? { environment: input.environment } : {}),
          },
          { actor },
        ),
    }),
  );
}
