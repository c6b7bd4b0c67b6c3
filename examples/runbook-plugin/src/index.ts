// A third-party plugin in one folder: a migration, a service, an event handler and GraphQL fields.
import '@opsgraph/server'; // brings the `graphql` slot onto PluginDefinition
import { definePlugin, pluginActor } from '@opsgraph/core';
import { runbooksGraphql } from './graphql.js';
import { migrations } from './migrations.js';
import { RunbookService } from './service.js';

export type { AttachRunbookInput, Runbook } from './model.js';
export { RunbookService } from './service.js';

declare module '@opsgraph/core' {
  interface OpsGraphPlugins {
    runbooks: { runbooks: RunbookService };
  }
}

export const runbooksPlugin = () =>
  definePlugin({
    name: 'runbooks',
    version: '0.1.0',
    apiVersion: '^1.0.0',
    migrations,
    services: (kernel) => ({ runbooks: new RunbookService(kernel) }),
    on: {
      // A retired CI keeps its history, but its runbooks no longer apply.
      'ci.retired': async (event, kernel) => {
        await kernel.plugins.runbooks.runbooks.archiveForCi(event.payload.ci.id, {
          actor: pluginActor('runbooks'),
        });
      },
    },
    graphql: runbooksGraphql,
  });
