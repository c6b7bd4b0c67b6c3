// A third-party plugin, built only on the published API: TLS certificates as CIs, expiry alerts.
import '@opsgraph/server'; // brings the `graphql` slot onto PluginDefinition
import { definePlugin } from '@opsgraph/core';
import { certificatesGraphql } from './graphql.js';
import { migrations } from './migrations.js';
import { CERTIFICATE_CLASS, DAY_MS, PLUGIN, securedBy, tlsCertificateClass } from './model.js';
import { CertificateService } from './service.js';

export {
  CERTIFICATE_CLASS,
  type Certificate,
  type CertificatePageRequest,
  CRITICAL_DAYS,
  certificatePermissions,
  type ExpiringQuery,
  type ExpiryLevel,
  type ExpirySweepResult,
  expiryLevelOf,
  expiryLevels,
  type ImportCertificateInput,
  type ImportResult,
  SECURED_BY,
  WARNING_DAYS,
} from './model.js';
export { type ParsedCertificate, parsePem } from './pem.js';
export { CertificateService, EXPIRY_SWEEP, expiryDedupKey } from './service.js';

declare module '@opsgraph/core' {
  interface OpsGraphPlugins {
    certificates: { certificates: CertificateService };
  }
}

export const certificatesPlugin = () =>
  definePlugin({
    name: PLUGIN,
    version: '0.1.0',
    apiVersion: '^1.2.0', // `sweeps` came in 1.2
    migrations,
    ciClasses: [tlsCertificateClass],
    relationshipTypes: [securedBy],
    roles: [
      {
        name: 'certificates_manager',
        description: 'Imports TLS certificates and links them to what serves them.',
        permissions: ['certificates:*', 'cmdb:read', 'cmdb:write'],
      },
      { name: 'certificates_viewer', permissions: ['certificates:read', 'cmdb:read'] },
    ],
    services: (kernel) => ({ certificates: new CertificateService(kernel) }),
    sweeps: [
      {
        name: 'expiry',
        everyMs: DAY_MS,
        // The kernel given is bound to the transaction holding the sweep's lock: work through it.
        run: ({ kernel, now, actor }) => kernel.plugins.certificates.certificates.sweep({ now }, actor),
      },
    ],
    on: {
      // A certificate retired by hand clears its alert now, not at the next daily run.
      'ci.retired': async (event, kernel) => {
        if (event.payload.ci.class !== CERTIFICATE_CLASS) return;
        await kernel.plugins.certificates.certificates.sweep({ ciIds: [event.payload.ci.id] });
      },
    },
    graphql: certificatesGraphql,
  });
