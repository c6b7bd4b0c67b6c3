import {
  type BackupCompliance,
  type CiBackupCompliance,
  type Job,
  type JobRun,
  jobKinds,
  jobRunStatuses,
  permissions,
  reportedRunStatuses,
  type ServiceBackupCompliance,
} from '@opsgraph/core';
import type { OpsGraphBuilder } from '../builder.js';
import type { addAccessIdentity } from './access-identity.js';
import type { addCmdb } from './cmdb.js';
import { defined, mutationErrors } from './errors.js';
import { connectionOf, forwardPage } from './pages.js';
import { loadGroup } from './people.js';

type Refs = Pick<ReturnType<typeof addCmdb>, 'CI'> & Pick<ReturnType<typeof addAccessIdentity>, 'Group'>;

const upper = <T extends string>(values: readonly T[]) =>
  Object.fromEntries(values.map((v) => [v.toUpperCase(), { value: v }])) as Record<
    Uppercase<T>,
    { value: T }
  >;

const read = { permission: permissions.operationsRead };
const write = { permission: permissions.operationsWrite };

/** Scheduled jobs, their runs and backup compliance (IT operations control). */
export function addOperations(builder: OpsGraphBuilder, { CI, Group }: Refs) {
  const Kind = builder.enumType('JobKind', { values: upper(jobKinds) });
  const RunStatus = builder.enumType('JobRunStatus', { values: upper(jobRunStatuses) });
  const ReportedStatus = builder.enumType('ReportedJobRunStatus', { values: upper(reportedRunStatuses) });

  const RunRef = builder.objectRef<JobRun>('JobRun').implement({
    description:
      'One run of a job as reported (started, then succeeded or failed), or a slot nobody ran (MISSED, written by the sweep).',
    authScopes: read,
    fields: (t) => ({
      id: t.exposeID('id'),
      jobId: t.exposeID('jobId'),
      status: t.field({ type: RunStatus, resolve: (r) => r.status }),
      slotAt: t.field({
        type: 'DateTime',
        nullable: true,
        description:
          'The schedule slot it serves (latest at or before its start, within the grace); null: off schedule.',
        resolve: (r) => r.slotAt,
      }),
      runKey: t.exposeString('runKey', { nullable: true, description: "The sender's id of the run." }),
      startedAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.startedAt }),
      finishedAt: t.field({ type: 'DateTime', nullable: true, resolve: (r) => r.finishedAt }),
      bytes: t.float({
        nullable: true,
        description: 'A whole number (up to 2^53).',
        resolve: (r) => r.bytes,
      }),
      durationMs: t.float({ nullable: true, resolve: (r) => r.durationMs }),
      message: t.exposeString('message', { nullable: true }),
      overranAt: t.field({
        type: 'DateTime',
        nullable: true,
        description: 'When the sweep found it running past its expected duration plus tolerance.',
        resolve: (r) => r.overranAt,
      }),
    }),
  });

  const JobRef = builder.objectRef<Job>('Job').implement({
    description:
      'A scheduled job (backup, batch, patching, DR test): a cron schedule in a time zone, target CIs, expected duration, owner group; a backup job has an RPO.',
    authScopes: read,
    fields: (t) => ({
      id: t.exposeID('id'),
      name: t.exposeString('name'),
      kind: t.field({ type: Kind, resolve: (j) => j.kind }),
      schedule: t.exposeString('schedule', { description: 'Five-field cron, read in `timeZone`.' }),
      timeZone: t.exposeString('timeZone', { description: 'IANA zone, e.g. Europe/Paris.' }),
      targetCiIds: t.exposeIDList('targetCiIds'),
      targets: t.field({
        type: [CI],
        description: 'The CIs it works on; a page of jobs reads them in one query.',
        resolve: (j) => [...j.targetCiIds],
      }),
      expectedDurationMinutes: t.exposeInt('expectedDurationMinutes'),
      startGraceMinutes: t.exposeInt('startGraceMinutes', {
        description: 'How late a start may be before the slot counts as missed.',
      }),
      rpoMinutes: t.exposeInt('rpoMinutes', { nullable: true, description: 'Backup jobs only.' }),
      ownerGroupId: t.exposeID('ownerGroupId', { nullable: true }),
      ownerGroup: t.field({
        type: Group,
        nullable: true,
        resolve: (j, _args, context) => loadGroup(context, j.ownerGroupId),
      }),
      enabled: t.exposeBoolean('enabled'),
      nextRunAt: t.field({
        type: 'DateTime',
        nullable: true,
        description: 'Its next slot from now; null when disabled.',
        resolve: (j, _args, { og }) => og.operations.nextRunAt(j),
      }),
      runs: t.connection(
        {
          type: RunRef,
          description: 'Its runs, newest first (by start, or the slot a missed one was due).',
          resolve: async (j, args, { og, actor }) =>
            connectionOf(await og.operations.runs(j.id, forwardPage(args), { actor }), args.after),
        },
        { name: 'JobRunConnection', authScopes: read },
        { name: 'JobRunEdge', authScopes: read },
      ),
      version: t.exposeInt('version'),
      createdAt: t.field({ type: 'DateTime', resolve: (j) => j.createdAt }),
      updatedAt: t.field({ type: 'DateTime', resolve: (j) => j.updatedAt }),
    }),
  });

  const CiCompliance = builder.objectRef<CiBackupCompliance>('CiBackupCompliance').implement({
    description: 'A backup target: the age of its last good backup against its strictest RPO.',
    authScopes: read,
    fields: (t) => ({
      ciId: t.exposeID('ciId'),
      ci: t.field({ type: CI, nullable: true, resolve: (c) => c.ciId }),
      rpoMinutes: t.exposeInt('rpoMinutes'),
      lastGoodBackupAt: t.field({ type: 'DateTime', nullable: true, resolve: (c) => c.lastGoodBackupAt }),
      ageSeconds: t.int({
        nullable: true,
        description: 'Age of the last good backup; null: never backed up.',
        resolve: (c) => (c.ageMs === null ? null : Math.floor(c.ageMs / 1000)),
      }),
      targetSince: t.field({ type: 'DateTime', resolve: (c) => c.targetSince }),
      compliant: t.exposeBoolean('compliant'),
    }),
  });

  const ServiceCompliance = builder.objectRef<ServiceBackupCompliance>('ServiceBackupCompliance').implement({
    authScopes: read,
    fields: (t) => ({
      serviceId: t.exposeID('serviceId'),
      compliant: t.exposeBoolean('compliant', {
        description: 'Every backup target among the service and what it depends on complies.',
      }),
      ciIds: t.exposeIDList('ciIds'),
    }),
  });

  const Compliance = builder.objectRef<BackupCompliance>('BackupCompliance').implement({
    authScopes: read,
    fields: (t) => ({
      at: t.field({ type: 'DateTime', resolve: (c) => c.at }),
      cis: t.field({ type: [CiCompliance], resolve: (c) => [...c.cis] }),
      service: t.field({ type: ServiceCompliance, nullable: true, resolve: (c) => c.service }),
      nonCompliant: t.field({ type: [CiCompliance], resolve: (c) => [...c.nonCompliant] }),
    }),
  });

  const Filter = builder.inputType('JobFilter', {
    fields: (t) => ({
      kind: t.field({ type: [Kind] }),
      enabled: t.boolean(),
      ciId: t.id({ description: 'Jobs targeting this CI.' }),
      ownerGroupId: t.id(),
      text: t.string({ description: 'Words in the name.' }),
    }),
  });

  builder.queryFields((t) => ({
    jobs: t.connection({
      type: JobRef,
      description: 'Scheduled jobs by name, a page at a time (operations:read).',
      authScopes: read,
      args: { filter: t.arg({ type: Filter }) },
      resolve: async (_root, { filter, ...args }, { og, actor }) =>
        connectionOf(
          await og.operations.jobs(
            filter
              ? defined({
                  ...filter,
                  ciId: filter.ciId == null ? filter.ciId : String(filter.ciId),
                  ownerGroupId:
                    filter.ownerGroupId == null ? filter.ownerGroupId : String(filter.ownerGroupId),
                })
              : {},
            forwardPage(args),
            { actor },
          ),
          args.after,
        ),
    }),
    job: t.field({
      type: JobRef,
      nullable: true,
      authScopes: read,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { og, actor }) => og.operations.job(String(id), { actor }),
    }),
    backupCompliance: t.field({
      type: Compliance,
      description:
        'Backup compliance now (operations:read): every backup target, those of `ciIds`, or those a business service depends on.',
      authScopes: read,
      args: { serviceId: t.arg.id(), ciIds: t.arg.idList() },
      resolve: (_root, { serviceId, ciIds }, { og, actor }) =>
        og.operations.backupCompliance(
          {
            ...(serviceId != null ? { serviceId: String(serviceId) } : {}),
            ...(ciIds != null ? { ciIds: ciIds.map(String) } : {}),
          },
          { actor },
        ),
    }),
  }));

  const DefineInput = builder.inputType('DefineJobInput', {
    fields: (t) => ({
      name: t.string({ required: true }),
      kind: t.field({ type: Kind, required: true }),
      schedule: t.string({ required: true, description: 'Five-field cron, e.g. "30 2 * * *".' }),
      timeZone: t.string({ description: 'IANA zone; default UTC.' }),
      targetCiIds: t.idList({ required: true }),
      expectedDurationMinutes: t.int({ description: 'Default 60.' }),
      startGraceMinutes: t.int({ description: 'Default 30.' }),
      ownerGroupId: t.id(),
      rpoMinutes: t.int({ description: 'Required for a backup job; refused on others.' }),
      enabled: t.boolean({ description: 'Default true.' }),
    }),
  });
  const UpdateInput = builder.inputType('UpdateJobInput', {
    fields: (t) => ({
      name: t.string(),
      schedule: t.string(),
      timeZone: t.string(),
      targetCiIds: t.idList(),
      expectedDurationMinutes: t.int(),
      startGraceMinutes: t.int(),
      ownerGroupId: t.id({ description: 'null: no owner group.' }),
      rpoMinutes: t.int(),
      enabled: t.boolean({ description: 'Re-enabling counts slots from now on.' }),
    }),
  });
  const ReportInput = builder.inputType('ReportJobRunInput', {
    fields: (t) => ({
      jobId: t.id({ required: true }),
      status: t.field({ type: ReportedStatus, required: true }),
      runKey: t.string({
        description: "The sender's id of the run: reporting it again records nothing new.",
      }),
      at: t.field({ type: 'DateTime', description: 'When it started or ended; default now.' }),
      bytes: t.float(),
      durationMs: t.float(),
      message: t.string(),
    }),
  });
  const ids = (v: readonly (string | number)[] | null | undefined) => (v == null ? v : v.map(String));
  const id = (v: string | number | null | undefined) => (v == null ? v : String(v));

  builder.mutationFields((t) => ({
    defineJob: t.field({
      type: JobRef,
      description: 'Defines a scheduled job (operations:write).',
      errors: { types: mutationErrors },
      authScopes: write,
      args: { input: t.arg({ type: DefineInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.operations.defineJob(
          {
            ...defined(input),
            targetCiIds: input.targetCiIds.map(String),
            ...defined({ ownerGroupId: id(input.ownerGroupId) }),
          },
          { actor },
        ),
    }),
    updateJob: t.field({
      type: JobRef,
      description: 'Changes a job (operations:write); a stale version is refused.',
      errors: { types: mutationErrors },
      authScopes: write,
      args: {
        id: t.arg.id({ required: true }),
        version: t.arg.int(),
        input: t.arg({ type: UpdateInput, required: true }),
      },
      resolve: (_root, { id: jobId, version, input }, { og, actor }) =>
        og.operations.updateJob(
          String(jobId),
          {
            ...defined(input),
            ...defined({ targetCiIds: ids(input.targetCiIds) }),
            // An explicit null clears the owner group; absent leaves it.
            ...(input.ownerGroupId !== undefined ? { ownerGroupId: id(input.ownerGroupId) } : {}),
            ...(input.rpoMinutes !== undefined ? { rpoMinutes: input.rpoMinutes } : {}),
          },
          { actor, ...(version != null ? { version } : {}) },
        ),
    }),
    reportJobRun: t.field({
      type: RunRef,
      description: 'Reports a run of a job (operations:write): started, succeeded or failed.',
      errors: { types: mutationErrors },
      authScopes: write,
      args: { input: t.arg({ type: ReportInput, required: true }) },
      resolve: (_root, { input }, { og, actor }) =>
        og.operations.reportRun({ ...defined(input), jobId: String(input.jobId) }, { actor }),
    }),
  }));

  return { Job: JobRef, JobRun: RunRef };
}
