import type { ActorRef, CiStatus, DefineSloInput, ReachedCi, WriteOptions } from '@opsgraph/core';
import type { ColumnType, Generated, Selectable } from 'kysely';
import { z } from 'zod';

/** The plugin's permissions: reads need `applications:read`, writes `applications:write`. */
export const applicationsPermissions = {
  read: 'applications:read',
  write: 'applications:write',
} as const;

/** Core's class every application CI is (or is below). */
export const APPLICATION_CLASS = 'application';
/** The plugin's class for components created with their application (an API, a worker, a queue). */
export const COMPONENT_CLASS = 'applications_component';

export const environmentTiers = ['production', 'staging', 'test', 'development'] as const;
export type EnvironmentTier = (typeof environmentTiers)[number];

export const deploymentStatuses = ['pending', 'succeeded', 'failed', 'rolled_back'] as const;
export type DeploymentStatus = (typeof deploymentStatuses)[number];
/** A deployment's moves: a pending one finishes; a succeeded one can be rolled back; the rest are final. */
export const deploymentTransitions: Readonly<Record<DeploymentStatus, readonly DeploymentStatus[]>> = {
  pending: ['succeeded', 'failed'],
  succeeded: ['rolled_back'],
  failed: [],
  rolled_back: [],
};

export const probeMethods = ['GET', 'HEAD', 'POST', 'PUT', 'OPTIONS'] as const;
export type ProbeMethod = (typeof probeMethods)[number];
export const checkSeverities = ['critical', 'major', 'minor', 'warning'] as const;
export type CheckSeverity = (typeof checkSeverities)[number];
export const checkStates = ['unknown', 'up', 'down'] as const;
export type CheckState = (typeof checkStates)[number];

/** The plugin's own typed view of its tables (camelCase, as core's). */
export type ApplicationsTables = {
  applicationsApplications: {
    id: string;
    description: Generated<string>;
    serviceId: string | null;
    serviceRelationshipId: string | null;
    version: Generated<number>;
    createdAt: Date;
    updatedAt: Date;
  };
  applicationsComponents: {
    id: string;
    applicationId: string;
    ciId: string;
    role: Generated<string>;
    relationshipId: string;
    createdAt: Date;
  };
  applicationsEnvironments: {
    id: string;
    applicationId: string;
    name: string;
    tier: EnvironmentTier;
    url: string | null;
    currentRelease: string | null;
    currentDeploymentId: string | null;
    version: Generated<number>;
    createdAt: Date;
    updatedAt: Date;
  };
  applicationsDeployments: {
    id: string;
    applicationId: string;
    environmentId: string;
    release: string;
    status: DeploymentStatus;
    deployedBy: string;
    recordedBy: ColumnType<ActorRef, string, string>;
    notes: Generated<string>;
    startedAt: Date;
    finishedAt: Date | null;
    version: Generated<number>;
    createdAt: Date;
    updatedAt: Date;
  };
  applicationsDeploymentTargets: { deploymentId: string; ciId: string };
  applicationsHealthChecks: {
    id: string;
    applicationId: string;
    environmentId: string | null;
    name: string;
    url: string;
    method: ProbeMethod;
    expectedStatus: number;
    timeoutMs: number;
    intervalMs: number;
    severity: CheckSeverity;
    enabled: Generated<boolean>;
    state: Generated<CheckState>;
    nextDueAt: Date;
    lastCheckedAt: Date | null;
    consecutiveFailures: Generated<number>;
    version: Generated<number>;
    createdAt: Date;
    updatedAt: Date;
  };
  applicationsCheckResults: {
    id: string;
    checkId: string;
    checkedAt: Date;
    ok: boolean;
    statusCode: number | null;
    durationMs: number;
    error: string | null;
  };
};

/** An application: a CI of class `application` (or below) with what the CMDB does not hold. */
export interface Application {
  /** The application's CI id. */
  readonly id: string;
  readonly name: string;
  readonly class: string;
  readonly status: CiStatus;
  readonly description: string;
  /** The business service it serves (`service depends_on application`): where its SLOs live. */
  readonly serviceId: string | null;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** A CI the application is made of; the application `depends_on` it, so its failure impacts the application. */
export interface Component {
  readonly id: string;
  readonly applicationId: string;
  readonly ciId: string;
  readonly name: string;
  readonly class: string;
  readonly role: string;
  readonly relationshipId: string;
  readonly createdAt: Date;
}

export type Environment = Selectable<ApplicationsTables['applicationsEnvironments']>;

export interface Deployment {
  readonly id: string;
  readonly applicationId: string;
  readonly environmentId: string;
  /** The version of the application deployed (e.g. `2.4.1`). */
  readonly release: string;
  readonly status: DeploymentStatus;
  /** Who deployed: a person or pipeline as the recorder states it, else the recorder's name. */
  readonly deployedBy: string;
  /** Who recorded it (the actor). */
  readonly recordedBy: ActorRef;
  readonly notes: string;
  readonly startedAt: Date;
  readonly finishedAt: Date | null;
  /** The CIs it runs on (the application `runs_on` each once it succeeded). */
  readonly targetCiIds: readonly string[];
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export type HealthCheck = Selectable<ApplicationsTables['applicationsHealthChecks']>;
export type CheckResult = Selectable<ApplicationsTables['applicationsCheckResults']>;

/** What an application depends on (downstream) and what depends on it (upstream), as topology walks them. */
export interface DependencyMap {
  readonly applicationId: string;
  readonly format: 'json' | 'mermaid';
  /** The map rendered: JSON text, or a Mermaid flowchart (dependents on the left, dependencies on the right). */
  readonly content: string;
  /** Nearest first. */
  readonly dependsOn: readonly ReachedCi[];
  readonly dependents: readonly ReachedCi[];
  readonly edges: readonly { id: string; type: string; sourceId: string; targetId: string }[];
}

export interface ApplicationChangeOptions extends WriteOptions {
  /** The version read: a stale one gets ConflictError. */
  readonly version?: number;
}

/** What a probe sweep did. */
export interface SweepResult {
  readonly probed: number;
  /** Checks that went down this round (up or unknown before). */
  readonly failed: number;
  /** Checks that came back up this round (their alerts cleared). */
  readonly recovered: number;
}

const uuid = (what: string) => z.uuid(`must be ${what} id`);
const name = z.string().trim().min(1, 'must not be empty').max(200);
const httpUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
  .max(2000, 'must be at most 2000 characters');

export const createApplicationInput = z.strictObject({
  name,
  /** `application` (default) or a class below it. */
  class: z.string().min(1).default(APPLICATION_CLASS),
  description: z.string().max(4000).default(''),
  /** A business service it serves: the service then `depends_on` the application. */
  serviceId: uuid('a business service').nullish(),
});
export type CreateApplicationInput = z.input<typeof createApplicationInput>;

export const updateApplicationInput = z.strictObject({
  description: z.string().max(4000).optional(),
  /** Another business service, or null for none. */
  serviceId: uuid('a business service').nullable().optional(),
});
export type UpdateApplicationInput = z.input<typeof updateApplicationInput>;

export const addComponentInput = z
  .strictObject({
    /** An existing CI (a database, a server, another application); or give `name` to create one. */
    ciId: uuid('a CI').optional(),
    /** Creates a CI of `class` (default `applications_component`) with this name. */
    name: name.optional(),
    class: z.string().min(1).optional(),
    role: z.string().trim().max(100).default(''),
  })
  .refine((c) => (c.ciId === undefined) !== (c.name === undefined), {
    message: 'give ciId or name, not both',
    path: ['ciId'],
  })
  .refine((c) => c.class === undefined || c.name !== undefined, {
    message: 'is only for a new component (with name)',
    path: ['class'],
  });
export type AddComponentInput = z.input<typeof addComponentInput>;

const envName = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,62}$/, 'must be lower-case: a letter, then letters, digits, - or _');

export const defineEnvironmentInput = z.strictObject({
  name: envName,
  /** Default: the name when it is a tier (`staging`), else `development`. */
  tier: z.enum(environmentTiers).optional(),
  url: httpUrl.nullish(),
});
export type DefineEnvironmentInput = z.input<typeof defineEnvironmentInput>;

export const updateEnvironmentInput = z.strictObject({
  tier: z.enum(environmentTiers).optional(),
  url: httpUrl.nullable().optional(),
});
export type UpdateEnvironmentInput = z.input<typeof updateEnvironmentInput>;

export const recordDeploymentInput = z.strictObject({
  applicationId: uuid('an application'),
  /** The environment's name (e.g. `production`). */
  environment: envName,
  release: z.string().trim().min(1, 'must not be empty').max(100),
  status: z.enum(deploymentStatuses).default('pending'),
  /** Who deployed, when a pipeline records it for someone; default the actor's name. */
  deployedBy: z.string().trim().min(1).max(200).optional(),
  /** The CIs it runs on. */
  targetCiIds: z.array(uuid('a CI')).max(1000).default([]),
  notes: z.string().max(4000).default(''),
  /** When it started; default now. */
  startedAt: z.coerce.date('must be an instant').optional(),
});
export type RecordDeploymentInput = z.input<typeof recordDeploymentInput>;

export const transitionDeploymentInput = z.strictObject({
  to: z.enum(deploymentStatuses),
  notes: z.string().max(4000).optional(),
});
export type TransitionDeploymentInput = z.input<typeof transitionDeploymentInput>;

export const deploymentFilterInput = z.strictObject({
  environment: envName.optional(),
  status: z.enum(deploymentStatuses).optional(),
});
export type DeploymentFilter = z.input<typeof deploymentFilterInput>;

const ms = (min: number, max: number) =>
  z
    .int('must be a whole number of ms')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);

export const defineHealthCheckInput = z.strictObject({
  applicationId: uuid('an application'),
  /** The environment it probes, by name; none for an application-wide check. */
  environment: envName.nullish(),
  name: z.string().trim().min(1, 'must not be empty').max(100),
  url: httpUrl,
  method: z.enum(probeMethods).default('GET'),
  expectedStatus: z.int().min(100, 'must be an HTTP status').max(599, 'must be an HTTP status').default(200),
  timeoutMs: ms(100, 60_000).default(5_000),
  intervalMs: ms(1_000, 86_400_000).default(60_000),
  /** Of the alert a failure raises; `critical` counts as an outage for SLOs by default. */
  severity: z.enum(checkSeverities).default('critical'),
  enabled: z.boolean().default(true),
});
export type DefineHealthCheckInput = z.input<typeof defineHealthCheckInput>;

export const updateHealthCheckInput = z.strictObject({
  url: httpUrl.optional(),
  method: z.enum(probeMethods).optional(),
  expectedStatus: defineHealthCheckInput.shape.expectedStatus.unwrap().optional(),
  timeoutMs: ms(100, 60_000).optional(),
  intervalMs: ms(1_000, 86_400_000).optional(),
  severity: z.enum(checkSeverities).optional(),
  enabled: z.boolean().optional(),
});
export type UpdateHealthCheckInput = z.input<typeof updateHealthCheckInput>;

export const mapQueryInput = z.strictObject({
  maxDepth: z.int().min(1, 'must be at least 1').max(50, 'must be at most 50').default(10),
  format: z.enum(['json', 'mermaid']).default('json'),
});
export type DependencyMapQuery = z.input<typeof mapQueryInput>;

/** An SLO of an application: core's SLO input without the service, which is the application's. */
export type DefineApplicationSloInput = Omit<DefineSloInput, 'serviceId'>;

declare module '@opsgraph/core' {
  interface DomainEventMap {
    'applications.application_created': { application: Application };
    'applications.application_updated': { application: Application; fields: readonly string[] };
    'applications.component_added': { component: Component };
    'applications.component_removed': { component: Component };
    'applications.environment_defined': { environment: Environment };
    'applications.environment_updated': { environment: Environment; fields: readonly string[] };
    'applications.deployment_recorded': { deployment: Deployment };
    'applications.deployment_transitioned': { deployment: Deployment; from: DeploymentStatus };
    'applications.health_check_defined': { check: HealthCheck };
    'applications.health_check_updated': { check: HealthCheck; fields: readonly string[] };
    'applications.check_failed': { check: HealthCheck; result: CheckResult };
    'applications.check_recovered': { check: HealthCheck; result: CheckResult };
  }
}
