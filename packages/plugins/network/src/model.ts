import type { Generated, Selectable } from 'kysely';
import { z } from 'zod';

/** The plugin's typed view of its tables (camelCase, as core's; stored snake_case). */
export type NetworkTables = {
  networkVrfs: {
    id: string;
    name: string;
    /** Route distinguisher, e.g. `65000:1`. */
    rd: string | null;
    description: string;
    version: Generated<number>;
    createdAt: Date;
    updatedAt: Date;
  };
  networkPrefixes: {
    id: string;
    /** Null: the global table. */
    vrfId: string | null;
    /** PostgreSQL `cidr`. */
    prefix: string;
    status: PrefixStatus;
    vlanId: string | null;
    description: string;
    /** The utilisation alert raised through event management, if any. */
    alertLevel: string | null;
    version: Generated<number>;
    createdAt: Date;
    updatedAt: Date;
  };
  networkAddresses: {
    id: string;
    vrfId: string | null;
    /** PostgreSQL `inet`, a host address. */
    address: string;
    status: AddressStatus;
    interfaceId: string | null;
    dnsName: string;
    description: string;
    version: Generated<number>;
    createdAt: Date;
    updatedAt: Date;
  };
  networkInterfaces: {
    id: string;
    deviceId: string;
    name: string;
    type: InterfaceType;
    speedMbps: number | null;
    mac: string | null;
    enabled: boolean;
    description: string;
    version: Generated<number>;
    createdAt: Date;
    updatedAt: Date;
  };
  networkLinks: {
    id: string;
    aInterfaceId: string;
    bInterfaceId: string;
    cableType: CableType;
    label: string;
    createdAt: Date;
  };
  /** One row per linked interface: its primary key is what makes "one link per interface end" hold. */
  networkLinkEnds: { interfaceId: string; linkId: string };
  networkVlanGroups: { id: string; name: string; description: string; createdAt: Date };
  networkVlans: {
    id: string;
    groupId: string | null;
    vid: number;
    name: string;
    status: VlanStatus;
    description: string;
    version: Generated<number>;
    createdAt: Date;
    updatedAt: Date;
  };
  networkZones: { id: string; name: string; description: string; createdAt: Date };
  networkZoneMembers: { zoneId: string; ciId: string };
  networkFirewallRules: {
    id: string;
    firewallId: string;
    position: number;
    action: FirewallAction;
    protocol: FirewallProtocol;
    sourceZoneId: string | null;
    sourceCiId: string | null;
    destinationZoneId: string | null;
    destinationCiId: string | null;
    /** Normalised port list, e.g. `22,80,8000-8080`; empty: any port. */
    ports: string;
    description: string;
    enabled: boolean;
    version: Generated<number>;
    createdAt: Date;
    updatedAt: Date;
  };
};

export const prefixStatuses = ['active', 'reserved', 'container', 'deprecated'] as const;
export type PrefixStatus = (typeof prefixStatuses)[number];
export const addressStatuses = ['active', 'reserved', 'dhcp', 'deprecated'] as const;
export type AddressStatus = (typeof addressStatuses)[number];
export const interfaceTypes = [
  'ethernet',
  'fibre',
  'wireless',
  'virtual',
  'lag',
  'loopback',
  'management',
  'other',
] as const;
export type InterfaceType = (typeof interfaceTypes)[number];
export const cableTypes = ['copper', 'fibre', 'dac', 'wireless', 'virtual'] as const;
export type CableType = (typeof cableTypes)[number];
export const vlanStatuses = ['active', 'reserved', 'deprecated'] as const;
export type VlanStatus = (typeof vlanStatuses)[number];
export const firewallActions = ['allow', 'deny'] as const;
export type FirewallAction = (typeof firewallActions)[number];
export const firewallProtocols = ['any', 'tcp', 'udp', 'icmp'] as const;
export type FirewallProtocol = (typeof firewallProtocols)[number];

export type NetworkVrf = Selectable<NetworkTables['networkVrfs']>;
/** A prefix; `parentId` is the longest prefix of its VRF that contains it, computed when read. */
export type NetworkPrefix = Selectable<NetworkTables['networkPrefixes']> & {
  readonly family: 4 | 6;
  readonly parentId: string | null;
};
/** An address; `prefixId` is the longest prefix of its VRF that contains it, computed when read. */
export type NetworkAddress = Selectable<NetworkTables['networkAddresses']> & {
  readonly family: 4 | 6;
  readonly prefixId: string | null;
};
export type NetworkInterface = Selectable<NetworkTables['networkInterfaces']>;
export type NetworkLink = Selectable<NetworkTables['networkLinks']>;
export type NetworkVlanGroup = Selectable<NetworkTables['networkVlanGroups']>;
export type NetworkVlan = Selectable<NetworkTables['networkVlans']>;
export type NetworkZone = Selectable<NetworkTables['networkZones']>;
export type NetworkFirewallRule = Selectable<NetworkTables['networkFirewallRules']>;

/** How full a prefix is. Counts are bigint: an IPv6 /64 holds 2^64 addresses. */
export interface PrefixUtilisation {
  readonly prefixId: string;
  readonly used: bigint;
  readonly total: bigint;
  /** used / total, 0 to 1. */
  readonly ratio: number;
}

/** One step of a path: the device reached and the link (and its interfaces) it was reached over. */
export interface PathHop {
  readonly deviceId: string;
  readonly linkId: string | null;
  /** The interface the path leaves the previous device by, and enters this one by. */
  readonly fromInterfaceId: string | null;
  readonly toInterfaceId: string | null;
}

export interface NetworkPath {
  readonly fromDeviceId: string;
  readonly toDeviceId: string;
  /** The devices in order, the first with no link; empty when unreachable. */
  readonly hops: readonly PathHop[];
}

export interface FirewallDecision {
  readonly action: FirewallAction;
  /** The first enabled rule that matched, in position order; null: no rule matched (default deny). */
  readonly rule: NetworkFirewallRule | null;
}

// Inputs. Names are validated by zod and bad input names its field.
const name = z.string().trim().min(1, 'must not be empty').max(200);
const description = z.string().max(2000).default('');
const uuid = z.uuid('must be a UUID');

export const createVrfInput = z.strictObject({
  name,
  rd: z
    .string()
    .trim()
    .regex(/^\d+:\d+$|^\d{1,3}(\.\d{1,3}){3}:\d+$/, 'must be a route distinguisher such as 65000:1')
    .nullish(),
  description,
});
export type CreateVrfInput = z.input<typeof createVrfInput>;

export const createPrefixInput = z.strictObject({
  prefix: z.string(),
  vrfId: uuid.nullish(),
  status: z.enum(prefixStatuses).default('active'),
  vlanId: uuid.nullish(),
  description,
});
export type CreatePrefixInput = z.input<typeof createPrefixInput>;

export const allocatePrefixInput = z.strictObject({
  parentId: uuid,
  length: z.int('must be an integer').min(0).max(128),
  status: z.enum(prefixStatuses).default('active'),
  description,
});
export type AllocatePrefixInput = z.input<typeof allocatePrefixInput>;

export const createAddressInput = z.strictObject({
  address: z.string(),
  vrfId: uuid.nullish(),
  status: z.enum(addressStatuses).default('active'),
  interfaceId: uuid.nullish(),
  dnsName: z.string().trim().max(255).default(''),
  description,
});
export type CreateAddressInput = z.input<typeof createAddressInput>;

export const allocateAddressInput = z.strictObject({
  prefixId: uuid,
  status: z.enum(addressStatuses).default('active'),
  interfaceId: uuid.nullish(),
  dnsName: z.string().trim().max(255).default(''),
  description,
});
export type AllocateAddressInput = z.input<typeof allocateAddressInput>;

export const updateAddressInput = z.strictObject({
  version: z.int().min(1),
  status: z.enum(addressStatuses).optional(),
  interfaceId: uuid.nullish(),
  dnsName: z.string().trim().max(255).optional(),
  description: z.string().max(2000).optional(),
});
export type UpdateAddressInput = z.input<typeof updateAddressInput>;

function canonicalMac(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const hex = value.trim().replace(/[:.-]/g, '').toLowerCase();
  return /^[0-9a-f]{12}$/.test(hex) ? (hex.match(/../g) as string[]).join(':') : value;
}
/** Any usual spelling (`00-1A-2B-…`, `001a.2b3c.4d5e`, `001a2b3c4d5e`) is stored as `00:1a:2b:3c:4d:5e`. */
const mac = z.preprocess(canonicalMac, z.mac('must be a MAC address such as 00:1a:2b:3c:4d:5e'));

export const createInterfaceInput = z.strictObject({
  deviceId: uuid,
  name: z.string().trim().min(1, 'must not be empty').max(64),
  type: z.enum(interfaceTypes).default('ethernet'),
  speedMbps: z.int('must be an integer').positive().max(10_000_000).nullish(),
  mac: mac.nullish(),
  enabled: z.boolean().default(true),
  description,
});
export type CreateInterfaceInput = z.input<typeof createInterfaceInput>;

export const updateInterfaceInput = z.strictObject({
  version: z.int().min(1),
  name: z.string().trim().min(1, 'must not be empty').max(64).optional(),
  type: z.enum(interfaceTypes).optional(),
  speedMbps: z.int('must be an integer').positive().max(10_000_000).nullish(),
  mac: mac.nullish(),
  enabled: z.boolean().optional(),
  description: z.string().max(2000).optional(),
});
export type UpdateInterfaceInput = z.input<typeof updateInterfaceInput>;

export const connectInput = z.strictObject({
  aInterfaceId: uuid,
  bInterfaceId: uuid,
  cableType: z.enum(cableTypes).default('copper'),
  label: z.string().trim().max(200).default(''),
});
export type ConnectInput = z.input<typeof connectInput>;

export const createVlanGroupInput = z.strictObject({ name, description });
export type CreateVlanGroupInput = z.input<typeof createVlanGroupInput>;

export const createVlanInput = z.strictObject({
  vid: z.int('must be an integer').min(1, 'must be 1 to 4094').max(4094, 'must be 1 to 4094'),
  name: z.string().trim().min(1, 'must not be empty').max(64),
  groupId: uuid.nullish(),
  status: z.enum(vlanStatuses).default('active'),
  description,
});
export type CreateVlanInput = z.input<typeof createVlanInput>;

export const createZoneInput = z.strictObject({
  name,
  description,
  memberIds: z.array(uuid).max(1000).default([]),
});
export type CreateZoneInput = z.input<typeof createZoneInput>;

/** `22`, `80,443`, `8000-8080`: each port 1 to 65535, a range low to high. Normalised, sorted. */
export const portList = z
  .string()
  .trim()
  .transform((value, ctx) => {
    if (value === '' || value === 'any') return '';
    const ranges: [number, number][] = [];
    for (const part of value.split(',').map((p) => p.trim())) {
      const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
      const lo = m ? Number(m[1]) : Number.NaN;
      const hi = m?.[2] ? Number(m[2]) : lo;
      if (!m || lo < 1 || hi > 65535 || lo > hi) {
        ctx.addIssue({ code: 'custom', message: `"${part}" is not a port (1-65535) or a range low-high` });
        return z.NEVER;
      }
      ranges.push([lo, hi]);
    }
    ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    return ranges.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(',');
  });

export const createFirewallRuleInput = z
  .strictObject({
    firewallId: uuid,
    /** Where the rule goes; default: after the last. Rules are evaluated by position, lowest first. */
    position: z.int('must be an integer').min(1).max(1_000_000).optional(),
    action: z.enum(firewallActions),
    protocol: z.enum(firewallProtocols).default('any'),
    sourceZoneId: uuid.nullish(),
    sourceCiId: uuid.nullish(),
    destinationZoneId: uuid.nullish(),
    destinationCiId: uuid.nullish(),
    ports: portList.default(''),
    description,
    enabled: z.boolean().default(true),
  })
  .superRefine((rule, ctx) => {
    if (rule.sourceZoneId && rule.sourceCiId)
      ctx.addIssue({
        code: 'custom',
        path: ['sourceCiId'],
        message: 'give a source zone or a source CI, not both',
      });
    if (rule.destinationZoneId && rule.destinationCiId)
      ctx.addIssue({
        code: 'custom',
        path: ['destinationCiId'],
        message: 'give a destination zone or a destination CI, not both',
      });
    if (rule.ports !== '' && rule.protocol !== 'tcp' && rule.protocol !== 'udp')
      ctx.addIssue({ code: 'custom', path: ['ports'], message: 'ports apply to tcp and udp only' });
  });
export type CreateFirewallRuleInput = z.input<typeof createFirewallRuleInput>;

export const evaluateFirewallInput = z.strictObject({
  firewallId: uuid,
  sourceCiId: uuid,
  destinationCiId: uuid,
  protocol: z.enum(['tcp', 'udp', 'icmp']),
  port: z.int().min(1).max(65535).nullish(),
});
export type EvaluateFirewallInput = z.input<typeof evaluateFirewallInput>;

declare module '@opsgraph/core' {
  interface DomainEventMap {
    'network.vrf.created': { vrf: NetworkVrf };
    'network.prefix.created': { prefix: NetworkPrefix };
    'network.prefix.deleted': { prefix: NetworkPrefix };
    'network.address.assigned': { address: NetworkAddress; allocated: boolean };
    'network.address.updated': { address: NetworkAddress };
    'network.address.released': { address: NetworkAddress };
    'network.interface.created': { interface: NetworkInterface };
    'network.interface.updated': { interface: NetworkInterface };
    'network.interface.deleted': { interface: NetworkInterface };
    'network.link.created': { link: NetworkLink };
    'network.link.deleted': { link: NetworkLink };
    /** A retired device's links were disconnected and its interfaces' addresses released. */
    'network.device.released': { deviceId: string; linkIds: string[]; addressIds: string[] };
    'network.vlan_group.created': { group: NetworkVlanGroup };
    'network.vlan.created': { vlan: NetworkVlan };
    'network.vlan.deleted': { vlan: NetworkVlan };
    'network.zone.created': { zone: NetworkZone; memberIds: string[] };
    'network.firewall_rule.created': { rule: NetworkFirewallRule };
    'network.firewall_rule.deleted': { rule: NetworkFirewallRule };
  }
}
