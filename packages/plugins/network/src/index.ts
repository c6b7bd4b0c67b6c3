// @opsgraph/plugin-network: IPAM, interfaces, links, VLANs, firewall rules and paths, on the public
// faces of @opsgraph/core and @opsgraph/server only.
import '@opsgraph/server'; // brings the `graphql` slot onto PluginDefinition
import { type CiClassDefinition, definePlugin, pluginActor, type RoleDefinition } from '@opsgraph/core';
import { FirewallService } from './firewall.js';
import { networkGraphql } from './graphql.js';
import { InterfacesService } from './interfaces.js';
import { type IpamOptions, IpamService } from './ipam.js';
import { migrations } from './migrations.js';
import { VlansService } from './vlans.js';

export { networkPermissions, PrefixFullError } from './common.js';
export { FirewallService } from './firewall.js';
export { InterfacesService, MAX_PATH_HOPS } from './interfaces.js';
export { blockSize, type IpFamily, parseAddress, parsePrefix, usableRange } from './ip.js';
export { type AddressFilter, type IpamOptions, IpamService, type PrefixFilter } from './ipam.js';
export * from './model.js';
export { VlansService } from './vlans.js';

declare module '@opsgraph/core' {
  interface OpsGraphPlugins {
    network: {
      ipam: IpamService;
      interfaces: InterfacesService;
      vlans: VlansService;
      firewall: FirewallService;
    };
  }
}

const managed = [
  { name: 'management_ip', type: 'ip', label: 'Management IP address' },
  { name: 'os_version', type: 'string', label: 'Network OS version' },
] as const;

/** Network devices: CMDB CIs under core's `hardware`, so they fail, are impacted and are identified as hardware. */
export const networkCiClasses: readonly CiClassDefinition[] = [
  { name: 'router', label: 'Router', parent: 'hardware', attributes: [...managed] },
  { name: 'switch', label: 'Switch', parent: 'hardware', attributes: [...managed] },
  { name: 'firewall', label: 'Firewall', parent: 'hardware', attributes: [...managed] },
];

export const networkRoles: readonly RoleDefinition[] = [
  {
    name: 'network_manager',
    description: 'Manages IP space, interfaces, cabling, VLANs and firewall rules',
    permissions: ['network:*', 'cmdb:read'],
  },
  {
    name: 'network_viewer',
    description: 'Reads the network plugin',
    permissions: ['network:read', 'cmdb:read'],
  },
];

export type NetworkOptions = IpamOptions;

export const network = (options: NetworkOptions = {}) =>
  definePlugin({
    name: 'network',
    version: '0.1.0',
    apiVersion: '^1.2.0',
    migrations,
    ciClasses: networkCiClasses,
    roles: networkRoles,
    services: (kernel) => ({
      ipam: new IpamService(kernel, options),
      interfaces: new InterfacesService(kernel),
      vlans: new VlansService(kernel),
      firewall: new FirewallService(kernel),
    }),
    on: {
      // A retired device no longer holds cables or addresses: free them for the rest of the network.
      'ci.retired': async (event, kernel) => {
        await kernel.plugins.network.interfaces.releaseDevice(event.payload.ci.id, {
          actor: pluginActor('network'),
        });
      },
    },
    graphql: networkGraphql,
  });
