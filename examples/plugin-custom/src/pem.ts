import { X509Certificate } from 'node:crypto';
import { ValidationError } from '@opsgraph/core';

/** What the CMDB keeps of a certificate: its attributes (as the `tls_certificate` class names them). */
export interface ParsedCertificate {
  readonly common_name: string;
  readonly sans: string[];
  readonly issuer: string;
  readonly serial: string;
  readonly not_before: string;
  readonly not_after: string;
  readonly fingerprint_sha256: string;
}

/** Node prints a distinguished name one `KEY=value` per line: keep one line, in its order. */
const oneLine = (dn: string) => dn.split('\n').filter(Boolean).join(', ');

/**
 * Parses the first certificate of a PEM (a chain's leaf) with Node's own X.509 parser: no dependency.
 * A PEM Node cannot read is a ValidationError on `field`.
 */
export function parsePem(pem: string, field = 'pem'): ParsedCertificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (error) {
    throw ValidationError.field(field, `is not a readable certificate (${(error as Error).message})`);
  }
  const commonName = cert.subject
    .split('\n')
    .find((part) => part.startsWith('CN='))
    ?.slice(3);
  // DNS names and IP addresses; other kinds (e-mail, URI) do not name a TLS endpoint.
  const sans = (cert.subjectAltName ?? '')
    .split(', ')
    .flatMap((entry) => {
      const match = /^(DNS|IP Address):(.+)$/.exec(entry);
      return match ? [match[2]!.replace(/^"|"$/g, '')] : [];
    })
    .filter((name, i, all) => all.indexOf(name) === i);
  const name = commonName ?? sans[0];
  if (!name) throw ValidationError.field(field, 'names no host: it has neither a common name nor a DNS name');
  return {
    common_name: name,
    sans,
    issuer: oneLine(cert.issuer),
    serial: cert.serialNumber.toUpperCase(),
    // Node 20 prints `Jul  1 00:00:00 2026 GMT`, which Date reads.
    not_before: new Date(cert.validFrom).toISOString(),
    not_after: new Date(cert.validTo).toISOString(),
    fingerprint_sha256: cert.fingerprint256,
  };
}
