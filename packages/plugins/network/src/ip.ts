// IP parsing and ranges on `ip-address` (its bigint API), so IPv6 sizes are exact and no bit math is
// hand-written here. PostgreSQL's inet/cidr types do containment in the queries.
import { ValidationError } from '@opsgraph/core';
import { Address4, Address6 } from 'ip-address';

export type IpFamily = 4 | 6;

export interface ParsedAddress {
  readonly family: IpFamily;
  readonly value: bigint;
  /** Normalised text: IPv4 dotted quad, IPv6 lower-case and compressed. */
  readonly text: string;
}

export interface ParsedPrefix {
  readonly family: IpFamily;
  readonly length: number;
  /** The network address and the last address of the prefix. */
  readonly start: bigint;
  readonly end: bigint;
  /** Normalised `network/length`. */
  readonly text: string;
}

const bitsOf = (family: IpFamily) => (family === 4 ? 32 : 128);

function parse(input: string): Address4 | Address6 {
  if (input.includes('%')) throw new Error('zone ids (%…) are not allowed');
  return input.includes(':') ? new Address6(input) : new Address4(input);
}

const reason = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** A host address (no prefix length). Bad input is a ValidationError naming `field`. */
export function parseAddress(input: string, field: string): ParsedAddress {
  const raw = input.trim();
  if (raw.includes('/')) throw ValidationError.field(field, 'must be an address without a prefix length');
  let address: Address4 | Address6;
  try {
    address = parse(raw);
  } catch (error) {
    throw ValidationError.field(field, `must be an IPv4 or IPv6 address (${reason(error)})`);
  }
  const family: IpFamily = address instanceof Address4 ? 4 : 6;
  return { family, value: address.bigInt(), text: address.correctForm() };
}

/** A prefix `network/length` without host bits set. Bad input is a ValidationError naming `field`. */
export function parsePrefix(input: string, field: string): ParsedPrefix {
  const raw = input.trim();
  if (!/^[^/]+\/\d{1,3}$/.test(raw))
    throw ValidationError.field(field, 'must be a prefix such as 10.0.0.0/24');
  let address: Address4 | Address6;
  try {
    address = parse(raw);
  } catch (error) {
    throw ValidationError.field(field, `must be an IPv4 or IPv6 prefix (${reason(error)})`);
  }
  const family: IpFamily = address instanceof Address4 ? 4 : 6;
  const start = address.startAddress().bigInt();
  if (start !== address.bigInt()) {
    throw ValidationError.field(
      field,
      `has host bits set: did you mean ${toText(family, start)}/${address.subnetMask}?`,
    );
  }
  return {
    family,
    length: address.subnetMask,
    start,
    end: address.endAddress().bigInt(),
    text: `${toText(family, start)}/${address.subnetMask}`,
  };
}

export function toText(family: IpFamily, value: bigint): string {
  return (family === 4 ? Address4.fromBigInt(value) : Address6.fromBigInt(value)).correctForm();
}

/** Normalises an address as PostgreSQL prints it (`::ffff:1.2.3.4`, `10.0.0.1/32`) to this module's form. */
export function normaliseAddress(text: string): string {
  return parseAddress(text.replace(/\/(32|128)$/, ''), 'address').text;
}

export function normalisePrefix(text: string): string {
  return parsePrefix(text, 'prefix').text;
}

/**
 * The addresses of a prefix that hosts may use:
 * - IPv4 up to /30: all but the network and broadcast addresses; /31 both (RFC 3021); /32 the one.
 * - IPv6 up to /126: all but the subnet-router anycast address (the all-zeros host, RFC 4291 2.6.1);
 *   /127 both (RFC 6164); /128 the one.
 */
export function usableRange(prefix: ParsedPrefix): { first: bigint; last: bigint; size: bigint } {
  const hostBits = bitsOf(prefix.family) - prefix.length;
  if (hostBits <= 1) return { first: prefix.start, last: prefix.end, size: prefix.end - prefix.start + 1n };
  const first = prefix.start + 1n;
  const last = prefix.family === 4 ? prefix.end - 1n : prefix.end;
  return { first, last, size: last - first + 1n };
}

/** The size of a block of `length` in `family`, in addresses. */
export function blockSize(family: IpFamily, length: number): bigint {
  return 1n << BigInt(bitsOf(family) - length);
}

export function maxLength(family: IpFamily): number {
  return bitsOf(family);
}
