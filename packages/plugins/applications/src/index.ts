// @opsgraph/plugin-applications: applications and their components, environments, deployments, HTTP
// health checks run by the scheduler, SLOs on their business services, and dependency maps.
import '@opsgraph/server'; // brings the `graphql` slot onto PluginDefinition
import { definePlugin, pluginActor } from '@opsgraph/core';
import { ApplicationsService } from './applications.js';
import { DeploymentsService } from './deployments.js';
import { applicationsGraphql } from './graphql.js';
import { type HealthChecksOptions, HealthChecksService } from './health.js';
import { migrations } from './migrations.js';
import { COMPONENT_CLASS } from './model.js';

export { ApplicationsService } from './applications.js';
export { DeploymentsService } from './deployments.js';
export { checkDedupKey, type HealthChecksOptions, HealthChecksService } from './health.js';
export * from './model.js';
export { type ProbeOutcome, probe } from './probe.js';

declare module '@opsgraph/core' {
  interface OpsGraphPlugins {
    applications: {
      applications: ApplicationsService;
      deployments: DeploymentsService;
      healthChecks: HealthChecksService;
    };
  }
}

export interface ApplicationsPluginOptions extends HealthChecksOptions {
  /** How often the `applications.probes` sweep looks for due checks, in ms (default 5,000). */
  readonly probeSweepEveryMs?: number;
}

export const applicationsPlugin = (options: ApplicationsPluginOptions = {}) =>
  definePlugin({
    name: 'applications',
    version: '0.1.0',
    apiVersion: '^1.2.0',
    migrations,
    ciClasses: [
      {
        name: COMPONENT_CLASS,
        label: 'Application component',
        parent: 'application',
        description: 'A part of an application (an API, a worker, a queue consumer) created with it.',
      },
    ],
    roles: [
      {
        name: 'applications_manager',
        description: 'Manages applications, deployments and health checks (and the CIs they create).',
        permissions: ['applications:*', 'cmdb:read', 'cmdb:write'],
      },
      {
        name: 'applications_viewer',
        description: 'Reads applications, deployments, health checks and dependency maps.',
        permissions: ['applications:read', 'cmdb:read'],
      },
    ],
    services: (kernel) => ({
      applications: new ApplicationsService(kernel),
      deployments: new DeploymentsService(kernel),
      healthChecks: new HealthChecksService(kernel, options),
    }),
    sweeps: [
      {
        name: 'probes',
        everyMs: options.probeSweepEveryMs ?? 5_000,
        // Probes wait on the network: the sweep claims checks itself and holds no transaction meanwhile.
        guarded: false,
        run: async ({ kernel, now }) => ({
          ...(await kernel.plugins.applications.healthChecks.sweep({ now })),
        }),
      },
    ],
    on: {
      // A retired application is watched no more: its checks stop probing and their open alerts clear.
      'ci.retired': async (event, kernel) => {
        await kernel.plugins.applications.healthChecks.disableForApplication(event.payload.ci.id, {
          actor: pluginActor('applications'),
        });
      },
    },
    graphql: applicationsGraphql,
  });
