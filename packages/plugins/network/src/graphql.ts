import { connectionOf, forwardPage, mutationErrors, type OpsGraphBuilder, onCis } from '@opsgraph/server';
import { defined, networkPermissions, PrefixFullError } from './common.js';
import {
  addressStatuses,
  cableTypes,
  type FirewallDecision,
  firewallActions,
  firewallProtocols,
  interfaceTypes,
  type NetworkAddress,
  type NetworkFirewallRule,
  type NetworkInterface,
  type NetworkLink,
  type NetworkPath,
  type NetworkPrefix,
  type NetworkVlan,
  type NetworkVlanGroup,
  type NetworkVrf,
  type NetworkZone,
  type PathHop,
  type PrefixUtilisation,
  prefixStatuses,
  vlanStatuses,
} from './model.js';

const upper = <T extends string>(values: readonly T[]) =>
  Object.fromEntries(values.map((v) => [v.toUpperCase(), { value: v }])) as Record<
    Uppercase<T>,
    { value: T }
  >;

const read = { permissionSomewhere: networkPermissions.read };

const write = { permissionSomewhere: networkPermissions.write };

// Types and root fields carry the plugin's prefix (`Network…`, `network…`), so plugins never collide.
export function networkGraphql(builder: OpsGraphBuilder): void {
  const PrefixStatus = builder.enumType('NetworkPrefixStatus', { values: upper(prefixStatuses) });
  const AddressStatus = builder.enumType('NetworkAddressStatus', { values: upper(addressStatuses) });
  const InterfaceType = builder.enumType('NetworkInterfaceType', { values: upper(interfaceTypes) });
  const CableType = builder.enumType('NetworkCableType', { values: upper(cableTypes) });
  const VlanStatus = builder.enumType('NetworkVlanStatus', { values: upper(vlanStatuses) });
  const Action = builder.enumType('NetworkFirewallAction', { values: upper(firewallActions) });
  const Protocol = builder.enumType('NetworkFirewallProtocol', { values: upper(firewallProtocols) });

  // "Prefix full" as its own error type, listed before ConflictError (which it extends) so it wins.
  builder.objectType(PrefixFullError, {
    name: 'NetworkPrefixFullError',
    description: 'The prefix has no free address (or child prefix of the asked length) left.',
    interfaces: ['Error' as never],
    isTypeOf: (value) => value instanceof PrefixFullError,
    fields: (t) => ({
      message: t.exposeString('message'),
      code: t.exposeString('code'),
      field: t.exposeString('field', { nullable: true }),
      prefixId: t.exposeID('prefixId'),
      prefix: t.exposeString('prefix'),
    }),
  });
  const errors = { types: [PrefixFullError, ...mutationErrors] };

  const Vrf = builder.objectRef<NetworkVrf>('NetworkVrf').implement({
    description: 'A VRF: a routing table of its own, so prefixes and addresses may repeat across VRFs.',
    authScopes: read,
    fields: (t) => ({
      id: t.exposeID('id'),
      name: t.exposeString('name'),
      rd: t.exposeString('rd', { nullable: true, description: 'Route distinguisher, e.g. 65000:1.' }),
      description: t.exposeString('description'),
      version: t.exposeInt('version'),
    }),
  });

  const Utilisation = builder.objectRef<PrefixUtilisation>('NetworkPrefixUtilisation').implement({
    description: 'How full a prefix is. Counts are decimal strings: an IPv6 /64 holds 2^64 addresses.',
    authScopes: read,
    fields: (t) => ({
      used: t.string({ resolve: (u) => u.used.toString() }),
      total: t.string({
        description: 'Usable addresses (see the plugin README for the rule).',
        resolve: (u) => u.total.toString(),
      }),
      ratio: t.exposeFloat('ratio', { description: 'used / total, 0 to 1.' }),
    }),
  });

  const Prefix = builder.objectRef<NetworkPrefix>('NetworkPrefix');
  Prefix.implement({
    description: 'An IP prefix (IPv4 or IPv6) in a VRF or the global table.',
    authScopes: read,
    fields: (t) => ({
      id: t.exposeID('id'),
      prefix: t.exposeString('prefix'),
      family: t.exposeInt('family'),
      vrfId: t.exposeID('vrfId', { nullable: true, description: 'Null: the global table.' }),
      vrf: t.loadable({
        type: Vrf,
        nullable: true,
        load: (ids: string[], { og }) => og.plugins.network.ipam.vrfsById(ids),
        resolve: (p) => p.vrfId,
      }),
      parentId: t.exposeID('parentId', {
        nullable: true,
        description: 'The longest prefix of its VRF containing it.',
      }),
      parent: t.loadable({
        type: Prefix,
        nullable: true,
        load: (ids: string[], { og }) => og.plugins.network.ipam.prefixesById(ids),
        resolve: (p) => p.parentId,
      }),
      status: t.field({ type: PrefixStatus, resolve: (p) => p.status }),
      vlanId: t.exposeID('vlanId', { nullable: true }),
      description: t.exposeString('description'),
      utilisation: t.loadable({
        type: Utilisation,
        // A page of prefixes is measured in one query.
        load: async (ids: string[], { og }) =>
          (await og.plugins.network.ipam.utilisation(ids)).map((u) => u ?? new Error('prefix not found')),
        resolve: (p) => p.id,
      }),
      version: t.exposeInt('version'),
    }),
  });

  const Address = builder.objectRef<NetworkAddress>('NetworkAddress').implement({
    description: 'An IP address, inside the longest prefix of its VRF that contains it.',
    authScopes: read,
    fields: (t) => ({
      id: t.exposeID('id'),
      address: t.exposeString('address'),
      family: t.exposeInt('family'),
      vrfId: t.exposeID('vrfId', { nullable: true }),
      vrf: t.loadable({
        type: Vrf,
        nullable: true,
        load: (ids: string[], { og }) => og.plugins.network.ipam.vrfsById(ids),
        resolve: (a) => a.vrfId,
      }),
      prefixId: t.exposeID('prefixId', { nullable: true }),
      prefix: t.loadable({
        type: Prefix,
        nullable: true,
        description: 'The longest prefix of its VRF containing it.',
        load: (ids: string[], { og }) => og.plugins.network.ipam.prefixesById(ids),
        resolve: (a) => a.prefixId,
      }),
      status: t.field({ type: AddressStatus, resolve: (a) => a.status }),
      interfaceId: t.exposeID('interfaceId', { nullable: true }),
      interface: t.loadable({
        type: Interface,
        nullable: true,
        load: (ids: string[], { og }) => og.plugins.network.interfaces.interfacesById(ids),
        resolve: (a) => a.interfaceId,
      }),
      dnsName: t.exposeString('dnsName'),
      description: t.exposeString('description'),
      version: t.exposeInt('version'),
    }),
  });

  const Link = builder.objectRef<NetworkLink>('NetworkLink').implement({
    description: 'A cable between two interfaces.',
    authScopes: read,
    fields: (t) => ({
      id: t.exposeID('id'),
      aInterfaceId: t.exposeID('aInterfaceId'),
      bInterfaceId: t.exposeID('bInterfaceId'),
      cableType: t.field({ type: CableType, resolve: (l) => l.cableType }),
      label: t.exposeString('label'),
      createdAt: t.field({ type: 'DateTime', resolve: (l) => l.createdAt }),
    }),
  });

  const Interface = builder.objectRef<NetworkInterface>('NetworkInterface').implement({
    description: 'An interface of a device (any CI); readable by who may read the network of that device.',
    authScopes: onCis<NetworkInterface>(networkPermissions.read, (i) => i.deviceId),
    fields: (t) => ({
      id: t.exposeID('id'),
      deviceId: t.exposeID('deviceId'),
      name: t.exposeString('name'),
      type: t.field({ type: InterfaceType, resolve: (i) => i.type }),
      speedMbps: t.exposeInt('speedMbps', { nullable: true }),
      mac: t.exposeString('mac', { nullable: true, description: 'Lower-case, colon-separated.' }),
      enabled: t.exposeBoolean('enabled'),
      description: t.exposeString('description'),
      link: t.loadable({
        type: Link,
        nullable: true,
        load: (ids: string[], { og }) => og.plugins.network.interfaces.linksOf(ids),
        resolve: (i) => i.id,
      }),
      version: t.exposeInt('version'),
    }),
  });

  const Group = builder.objectRef<NetworkVlanGroup>('NetworkVlanGroup').implement({
    authScopes: read,
    fields: (t) => ({
      id: t.exposeID('id'),
      name: t.exposeString('name'),
      description: t.exposeString('description'),
    }),
  });

  const Vlan = builder.objectRef<NetworkVlan>('NetworkVlan').implement({
    description: 'A VLAN: VID 1-4094, unique within its group.',
    authScopes: read,
    fields: (t) => ({
      id: t.exposeID('id'),
      vid: t.exposeInt('vid'),
      name: t.exposeString('name'),
      groupId: t.exposeID('groupId', { nullable: true }),
      group: t.loadable({
        type: Group,
        nullable: true,
        load: (ids: string[], { og }) => og.plugins.network.vlans.groupsById(ids),
        resolve: (v) => v.groupId,
      }),
      status: t.field({ type: VlanStatus, resolve: (v) => v.status }),
      description: t.exposeString('description'),
      version: t.exposeInt('version'),
    }),
  });

  const Zone = builder.objectRef<NetworkZone>('NetworkZone').implement({
    description: 'A security zone: a named set of CIs that firewall rules can name.',
    authScopes: read,
    fields: (t) => ({
      id: t.exposeID('id'),
      name: t.exposeString('name'),
      description: t.exposeString('description'),
      memberIds: t.loadableList({
        type: 'ID',
        load: (ids: string[], { og }) => og.plugins.network.firewall.zoneMembers(ids),
        resolve: (z) => z.id,
      }),
    }),
  });

  const Rule = builder.objectRef<NetworkFirewallRule>('NetworkFirewallRule').implement({
    description: 'A firewall rule; the rules of a firewall are evaluated by position, lowest first.',
    authScopes: onCis<NetworkFirewallRule>(networkPermissions.read, (r) => r.firewallId),
    fields: (t) => ({
      id: t.exposeID('id'),
      firewallId: t.exposeID('firewallId'),
      position: t.exposeInt('position'),
      action: t.field({ type: Action, resolve: (r) => r.action }),
      protocol: t.field({ type: Protocol, resolve: (r) => r.protocol }),
      sourceZoneId: t.exposeID('sourceZoneId', { nullable: true }),
      sourceCiId: t.exposeID('sourceCiId', { nullable: true }),
      destinationZoneId: t.exposeID('destinationZoneId', { nullable: true }),
      destinationCiId: t.exposeID('destinationCiId', { nullable: true }),
      ports: t.exposeString('ports', { description: 'e.g. 22,80,8000-8080; empty: any port.' }),
      description: t.exposeString('description'),
      enabled: t.exposeBoolean('enabled'),
      version: t.exposeInt('version'),
    }),
  });

  const Decision = builder.objectRef<FirewallDecision>('NetworkFirewallDecision').implement({
    authScopes: read,
    fields: (t) => ({
      action: t.field({ type: Action, resolve: (d) => d.action }),
      rule: t.field({ type: Rule, nullable: true, resolve: (d) => d.rule }),
    }),
  });

  const Hop = builder.objectRef<PathHop>('NetworkPathHop').implement({
    authScopes: read,
    fields: (t) => ({
      deviceId: t.exposeID('deviceId'),
      linkId: t.exposeID('linkId', { nullable: true, description: 'Null for the first device.' }),
      fromInterfaceId: t.exposeID('fromInterfaceId', { nullable: true }),
      toInterfaceId: t.exposeID('toInterfaceId', { nullable: true }),
    }),
  });

  const Path = builder.objectRef<NetworkPath>('NetworkPath').implement({
    description: 'A shortest path over links with both interfaces enabled; no hops when unreachable.',
    authScopes: read,
    fields: (t) => ({
      fromDeviceId: t.exposeID('fromDeviceId'),
      toDeviceId: t.exposeID('toDeviceId'),
      reachable: t.boolean({ resolve: (p) => p.hops.length > 0 }),
      hops: t.field({ type: [Hop], resolve: (p) => [...p.hops] }),
    }),
  });

  // --- queries ---

  builder.queryFields((t) => ({
    networkVrfs: t.connection(
      {
        type: Vrf,
        description: 'VRFs, a page at a time, by name.',
        authScopes: read,
        resolve: async (_r, args, { og, actor }) =>
          connectionOf(await og.plugins.network.ipam.vrfPage(forwardPage(args), { actor }), args.after),
      },
      { name: 'NetworkVrfConnection', authScopes: read },
      { name: 'NetworkVrfEdge', authScopes: read },
    ),
    networkPrefixes: t.connection(
      {
        type: Prefix,
        description:
          'Prefixes, a page at a time: the global table first, then each VRF, by address; each with its parent and utilisation.',
        authScopes: read,
        args: {
          vrfId: t.arg.id({ description: 'Only this VRF.' }),
          globalOnly: t.arg.boolean({ description: 'Only the global table.' }),
          within: t.arg.string({ description: 'Only prefixes inside this one, e.g. 10.0.0.0/8.' }),
        },
        resolve: async (_r, args, { og, actor }) =>
          connectionOf(
            await og.plugins.network.ipam.prefixPage(
              {
                ...(args.globalOnly ? { vrfId: null } : args.vrfId ? { vrfId: String(args.vrfId) } : {}),
                ...defined({ within: args.within }),
              },
              forwardPage(args),
              { actor },
            ),
            args.after,
          ),
      },
      { name: 'NetworkPrefixConnection', authScopes: read },
      { name: 'NetworkPrefixEdge', authScopes: read },
    ),
    networkPrefix: t.field({
      type: Prefix,
      nullable: true,
      authScopes: read,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_r, { id }, { og, actor }) => og.plugins.network.ipam.getPrefix(String(id), { actor }),
    }),
    networkAddresses: t.connection(
      {
        type: Address,
        description: 'Addresses, a page at a time, by VRF (the global table first) and address.',
        authScopes: read,
        args: {
          prefixId: t.arg.id({ description: 'Only the addresses inside this prefix, at any depth.' }),
          vrfId: t.arg.id(),
          interfaceId: t.arg.id(),
        },
        resolve: async (_r, args, { og, actor }) =>
          connectionOf(
            await og.plugins.network.ipam.addressPage(
              defined({
                prefixId: args.prefixId ? String(args.prefixId) : null,
                vrfId: args.vrfId ? String(args.vrfId) : null,
                interfaceId: args.interfaceId ? String(args.interfaceId) : null,
              }),
              forwardPage(args),
              { actor },
            ),
            args.after,
          ),
      },
      { name: 'NetworkAddressConnection', authScopes: read },
      { name: 'NetworkAddressEdge', authScopes: read },
    ),
    networkVlanGroups: t.connection(
      {
        type: Group,
        description: 'VLAN groups, a page at a time, by name.',
        authScopes: read,
        resolve: async (_r, args, { og, actor }) =>
          connectionOf(await og.plugins.network.vlans.groupPage(forwardPage(args), { actor }), args.after),
      },
      { name: 'NetworkVlanGroupConnection', authScopes: read },
      { name: 'NetworkVlanGroupEdge', authScopes: read },
    ),
    networkVlans: t.connection(
      {
        type: Vlan,
        description: 'VLANs, a page at a time, by group (those of no group last), then VID.',
        authScopes: read,
        args: { groupId: t.arg.id({ description: 'Only this group.' }) },
        resolve: async (_r, args, { og, actor }) =>
          connectionOf(
            await og.plugins.network.vlans.vlanPage(
              args.groupId ? { groupId: String(args.groupId) } : {},
              forwardPage(args),
              { actor },
            ),
            args.after,
          ),
      },
      { name: 'NetworkVlanConnection', authScopes: read },
      { name: 'NetworkVlanEdge', authScopes: read },
    ),
    networkInterfaces: t.connection(
      {
        type: Interface,
        description: "A device's interfaces, a page at a time, by name.",
        authScopes: read,
        args: { deviceId: t.arg.id({ required: true }) },
        resolve: async (_r, args, { og, actor }) =>
          connectionOf(
            await og.plugins.network.interfaces.interfacePage(String(args.deviceId), forwardPage(args), {
              actor,
            }),
            args.after,
          ),
      },
      { name: 'NetworkInterfaceConnection', authScopes: read },
      { name: 'NetworkInterfaceEdge', authScopes: read },
    ),
    networkPath: t.field({
      type: Path,
      description: 'The shortest path between two devices over links.',
      authScopes: read,
      args: {
        fromDeviceId: t.arg.id({ required: true }),
        toDeviceId: t.arg.id({ required: true }),
        maxHops: t.arg.int(),
      },
      resolve: (_r, args, { og, actor }) =>
        og.plugins.network.interfaces.path(String(args.fromDeviceId), String(args.toDeviceId), {
          actor,
          ...defined({ maxHops: args.maxHops }),
        }),
    }),
    networkZones: t.connection(
      {
        type: Zone,
        description: 'Security zones, a page at a time, by name.',
        authScopes: read,
        resolve: async (_r, args, { og, actor }) =>
          connectionOf(await og.plugins.network.firewall.zonePage(forwardPage(args), { actor }), args.after),
      },
      { name: 'NetworkZoneConnection', authScopes: read },
      { name: 'NetworkZoneEdge', authScopes: read },
    ),
    networkFirewallRules: t.connection(
      {
        type: Rule,
        description: "A firewall's rules, a page at a time, in evaluation order (by position).",
        authScopes: read,
        args: { firewallId: t.arg.id({ required: true }) },
        resolve: async (_r, args, { og, actor }) =>
          connectionOf(
            await og.plugins.network.firewall.rulePage(String(args.firewallId), forwardPage(args), {
              actor,
            }),
            args.after,
          ),
      },
      { name: 'NetworkFirewallRuleConnection', authScopes: read },
      { name: 'NetworkFirewallRuleEdge', authScopes: read },
    ),
    networkFirewallEvaluate: t.field({
      type: Decision,
      description: 'What a firewall does with traffic from one CI to another: its first matching rule.',
      authScopes: read,
      args: {
        firewallId: t.arg.id({ required: true }),
        sourceCiId: t.arg.id({ required: true }),
        destinationCiId: t.arg.id({ required: true }),
        protocol: t.arg({ type: Protocol, required: true }),
        port: t.arg.int(),
      },
      resolve: (_r, args, { og, actor }) =>
        og.plugins.network.firewall.evaluate(
          {
            firewallId: String(args.firewallId),
            sourceCiId: String(args.sourceCiId),
            destinationCiId: String(args.destinationCiId),
            protocol: args.protocol as 'tcp',
            ...defined({ port: args.port }),
          },
          { actor },
        ),
    }),
  }));

  // --- mutations: one per write of the services ---

  const CreateVrfInput = builder.inputType('NetworkCreateVrfInput', {
    fields: (t) => ({ name: t.string({ required: true }), rd: t.string(), description: t.string() }),
  });
  const CreatePrefixInput = builder.inputType('NetworkCreatePrefixInput', {
    fields: (t) => ({
      prefix: t.string({ required: true }),
      vrfId: t.id(),
      status: t.field({ type: PrefixStatus }),
      vlanId: t.id(),
      description: t.string(),
    }),
  });
  const AllocatePrefixInput = builder.inputType('NetworkAllocatePrefixInput', {
    fields: (t) => ({
      parentId: t.id({ required: true }),
      length: t.int({ required: true }),
      status: t.field({ type: PrefixStatus }),
      description: t.string(),
    }),
  });
  const CreateAddressInput = builder.inputType('NetworkCreateAddressInput', {
    fields: (t) => ({
      address: t.string({ required: true }),
      vrfId: t.id(),
      status: t.field({ type: AddressStatus }),
      interfaceId: t.id(),
      dnsName: t.string(),
      description: t.string(),
    }),
  });
  const AllocateAddressInput = builder.inputType('NetworkAllocateAddressInput', {
    fields: (t) => ({
      status: t.field({ type: AddressStatus }),
      interfaceId: t.id(),
      dnsName: t.string(),
      description: t.string(),
    }),
  });
  const UpdateAddressInput = builder.inputType('NetworkUpdateAddressInput', {
    fields: (t) => ({
      version: t.int({ required: true }),
      status: t.field({ type: AddressStatus }),
      interfaceId: t.id(),
      dnsName: t.string(),
      description: t.string(),
    }),
  });
  const CreateInterfaceInput = builder.inputType('NetworkCreateInterfaceInput', {
    fields: (t) => ({
      deviceId: t.id({ required: true }),
      name: t.string({ required: true }),
      type: t.field({ type: InterfaceType }),
      speedMbps: t.int(),
      mac: t.string(),
      enabled: t.boolean(),
      description: t.string(),
    }),
  });
  const UpdateInterfaceInput = builder.inputType('NetworkUpdateInterfaceInput', {
    fields: (t) => ({
      version: t.int({ required: true }),
      name: t.string(),
      type: t.field({ type: InterfaceType }),
      speedMbps: t.int(),
      mac: t.string(),
      enabled: t.boolean(),
      description: t.string(),
    }),
  });
  const ConnectInput = builder.inputType('NetworkConnectInput', {
    fields: (t) => ({
      aInterfaceId: t.id({ required: true }),
      bInterfaceId: t.id({ required: true }),
      cableType: t.field({ type: CableType }),
      label: t.string(),
    }),
  });
  const CreateVlanGroupInput = builder.inputType('NetworkCreateVlanGroupInput', {
    fields: (t) => ({ name: t.string({ required: true }), description: t.string() }),
  });
  const CreateVlanInput = builder.inputType('NetworkCreateVlanInput', {
    fields: (t) => ({
      vid: t.int({ required: true }),
      name: t.string({ required: true }),
      groupId: t.id(),
      status: t.field({ type: VlanStatus }),
      description: t.string(),
    }),
  });
  const CreateZoneInput = builder.inputType('NetworkCreateZoneInput', {
    fields: (t) => ({ name: t.string({ required: true }), description: t.string(), memberIds: t.idList() }),
  });
  const CreateRuleInput = builder.inputType('NetworkCreateFirewallRuleInput', {
    fields: (t) => ({
      firewallId: t.id({ required: true }),
      position: t.int(),
      action: t.field({ type: Action, required: true }),
      protocol: t.field({ type: Protocol }),
      sourceZoneId: t.id(),
      sourceCiId: t.id(),
      destinationZoneId: t.id(),
      destinationCiId: t.id(),
      ports: t.string(),
      description: t.string(),
      enabled: t.boolean(),
    }),
  });

  // IDs arrive as strings or numbers: the SDK wants strings.
  const ids = <T extends Record<string, unknown>>(input: T) =>
    Object.fromEntries(
      Object.entries(defined(input)).map(([k, v]) => [
        k,
        /Id$/.test(k) && typeof v === 'number' ? String(v) : Array.isArray(v) ? v.map(String) : v,
      ]),
    ) as never;

  builder.mutationFields((t) => ({
    networkCreateVrf: t.field({
      type: Vrf,
      errors,
      authScopes: write,
      args: { input: t.arg({ type: CreateVrfInput, required: true }) },
      resolve: (_r, { input }, { og, actor }) => og.plugins.network.ipam.createVrf(ids(input), { actor }),
    }),
    networkCreatePrefix: t.field({
      type: Prefix,
      errors,
      authScopes: write,
      args: { input: t.arg({ type: CreatePrefixInput, required: true }) },
      resolve: (_r, { input }, { og, actor }) => og.plugins.network.ipam.createPrefix(ids(input), { actor }),
    }),
    networkAllocatePrefix: t.field({
      type: Prefix,
      description: 'Carves the first free child prefix of the given length out of a prefix.',
      errors,
      authScopes: write,
      args: { input: t.arg({ type: AllocatePrefixInput, required: true }) },
      resolve: (_r, { input }, { og, actor }) =>
        og.plugins.network.ipam.allocatePrefix(ids(input), { actor }),
    }),
    networkDeletePrefix: t.field({
      type: Prefix,
      errors,
      authScopes: write,
      args: { id: t.arg.id({ required: true }), version: t.arg.int({ required: true }) },
      resolve: (_r, { id, version }, { og, actor }) =>
        og.plugins.network.ipam.deletePrefix(String(id), version, { actor }),
    }),
    networkCreateAddress: t.field({
      type: Address,
      errors,
      authScopes: write,
      args: { input: t.arg({ type: CreateAddressInput, required: true }) },
      resolve: (_r, { input }, { og, actor }) => og.plugins.network.ipam.createAddress(ids(input), { actor }),
    }),
    networkAllocateAddress: t.field({
      type: Address,
      description:
        'Takes the lowest free usable address of the prefix, safely under concurrency; a full prefix answers NetworkPrefixFullError.',
      errors,
      authScopes: write,
      args: { prefixId: t.arg.id({ required: true }), input: t.arg({ type: AllocateAddressInput }) },
      resolve: (_r, { prefixId, input }, { og, actor }) =>
        og.plugins.network.ipam.allocateAddress(
          { ...(input ? ids(input) : {}), prefixId: String(prefixId) },
          { actor },
        ),
    }),
    networkUpdateAddress: t.field({
      type: Address,
      errors,
      authScopes: write,
      args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateAddressInput, required: true }) },
      resolve: (_r, { id, input }, { og, actor }) =>
        og.plugins.network.ipam.updateAddress(String(id), ids(input), { actor }),
    }),
    networkReleaseAddress: t.field({
      type: Address,
      errors,
      authScopes: write,
      args: { id: t.arg.id({ required: true }), version: t.arg.int({ required: true }) },
      resolve: (_r, { id, version }, { og, actor }) =>
        og.plugins.network.ipam.releaseAddress(String(id), version, { actor }),
    }),
    networkCreateInterface: t.field({
      type: Interface,
      errors,
      authScopes: write,
      args: { input: t.arg({ type: CreateInterfaceInput, required: true }) },
      resolve: (_r, { input }, { og, actor }) =>
        og.plugins.network.interfaces.createInterface(ids(input), { actor }),
    }),
    networkUpdateInterface: t.field({
      type: Interface,
      errors,
      authScopes: write,
      args: {
        id: t.arg.id({ required: true }),
        input: t.arg({ type: UpdateInterfaceInput, required: true }),
      },
      resolve: (_r, { id, input }, { og, actor }) =>
        og.plugins.network.interfaces.updateInterface(String(id), ids(input), { actor }),
    }),
    networkDeleteInterface: t.field({
      type: Interface,
      errors,
      authScopes: write,
      args: { id: t.arg.id({ required: true }), version: t.arg.int({ required: true }) },
      resolve: (_r, { id, version }, { og, actor }) =>
        og.plugins.network.interfaces.deleteInterface(String(id), version, { actor }),
    }),
    networkConnect: t.field({
      type: Link,
      description: 'Cables two interfaces; each interface takes one link.',
      errors,
      authScopes: write,
      args: { input: t.arg({ type: ConnectInput, required: true }) },
      resolve: (_r, { input }, { og, actor }) => og.plugins.network.interfaces.connect(ids(input), { actor }),
    }),
    networkDisconnect: t.field({
      type: Link,
      errors,
      authScopes: write,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_r, { id }, { og, actor }) => og.plugins.network.interfaces.disconnect(String(id), { actor }),
    }),
    networkCreateVlanGroup: t.field({
      type: Group,
      errors,
      authScopes: write,
      args: { input: t.arg({ type: CreateVlanGroupInput, required: true }) },
      resolve: (_r, { input }, { og, actor }) => og.plugins.network.vlans.createGroup(ids(input), { actor }),
    }),
    networkCreateVlan: t.field({
      type: Vlan,
      errors,
      authScopes: write,
      args: { input: t.arg({ type: CreateVlanInput, required: true }) },
      resolve: (_r, { input }, { og, actor }) => og.plugins.network.vlans.createVlan(ids(input), { actor }),
    }),
    networkDeleteVlan: t.field({
      type: Vlan,
      errors,
      authScopes: write,
      args: { id: t.arg.id({ required: true }), version: t.arg.int({ required: true }) },
      resolve: (_r, { id, version }, { og, actor }) =>
        og.plugins.network.vlans.deleteVlan(String(id), version, { actor }),
    }),
    networkCreateZone: t.field({
      type: Zone,
      errors,
      authScopes: write,
      args: { input: t.arg({ type: CreateZoneInput, required: true }) },
      resolve: (_r, { input }, { og, actor }) =>
        og.plugins.network.firewall.createZone(ids(input), { actor }),
    }),
    networkCreateFirewallRule: t.field({
      type: Rule,
      errors,
      authScopes: write,
      args: { input: t.arg({ type: CreateRuleInput, required: true }) },
      resolve: (_r, { input }, { og, actor }) =>
        og.plugins.network.firewall.createRule(ids(input), { actor }),
    }),
    networkDeleteFirewallRule: t.field({
      type: Rule,
      errors,
      authScopes: write,
      args: { id: t.arg.id({ required: true }), version: t.arg.int({ required: true }) },
      resolve: (_r, { id, version }, { og, actor }) =>
        og.plugins.network.firewall.deleteRule(String(id), version, { actor }),
    }),
  }));
}
