import type { OpsGraphBuilder } from './builder.js';

// The server's slot on core's plugin type: core itself never imports GraphQL.
declare module '@opsgraph/core' {
  interface PluginDefinition<Name extends string, Services> {
    /** Adds the plugin's types and fields to the schema; prefix type names with the plugin's name. */
    readonly graphql?: (builder: OpsGraphBuilder) => void;
  }
}
