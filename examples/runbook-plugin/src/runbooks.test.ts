import { type AnyDomainEvent, systemActor, ValidationError } from '@opsgraph/core';
import { createTestOpsGraph, scopedTestActor, type TestOpsGraph, testBackends } from '@opsgraph/core/testing';
import { createOpsGraphServer } from '@opsgraph/server';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runbooksPlugin } from './index.js';

const actor = systemActor('test');

describe.each(testBackends())('runbooks example plugin on %s', (backend) => {
  let og: TestOpsGraph;
  beforeAll(async () => {
    og = await createTestOpsGraph({ backend, plugins: [runbooksPlugin()] });
  });
  afterAll(() => og?.close());

  it('runs its migration under its own owner, after core', async () => {
    const status = await og.migrationStatus();
    expect(status.map((s) => s.owner)).toEqual(['core', 'runbooks']);
    const ledger = await sql<{ name: string }>`select name from og_migrations_runbooks`.execute(og.db);
    expect(ledger.rows.map((r) => r.name)).toEqual(['0001_runbooks']);
  });

  it('attaches a runbook in one transaction with its event', async () => {
    const ci = await og.cmdb.create({ class: 'application', name: 'billing' }, { actor });
    const runbook = await og.plugins.runbooks.runbooks.attach(
      { ciId: ci.id, title: 'Restart billing', url: 'https://wiki.example.com/billing' },
      { actor },
    );
    expect(await og.plugins.runbooks.runbooks.forCi(ci.id)).toEqual([runbook]);
    const events = await og.activity.list({ subject: { type: 'ci', id: ci.id } });
    expect(events.map((e) => e.type)).toEqual(['ci.created', 'runbooks.attached']);
  });

  it('refuses bad input naming the field, writing nothing', async () => {
    const ci = await og.cmdb.create({ class: 'application', name: 'crm' }, { actor });
    const seq = await og.activity.latestSeq();
    const error = await og.plugins.runbooks.runbooks
      .attach({ ciId: ci.id, title: 'x', url: 'ftp://nope' }, { actor })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ field: 'url' });
    await expect(
      og.plugins.runbooks.runbooks.attach(
        { ciId: crypto.randomUUID(), title: 'x', url: 'https://x.example' },
        { actor },
      ),
    ).rejects.toMatchObject({ code: 'NOT_FOUND', field: 'ciId' });
    expect(await og.plugins.runbooks.runbooks.forCi(ci.id)).toEqual([]);
    expect(await og.activity.latestSeq()).toBe(seq);
  });

  it('archives the runbooks of a retired CI from its event handler', async () => {
    const ci = await og.cmdb.create({ class: 'server', name: 'old-box' }, { actor });
    await og.plugins.runbooks.runbooks.attach(
      { ciId: ci.id, title: 'Reboot', url: 'https://x.example/r' },
      { actor },
    );
    const archived = new Promise<AnyDomainEvent>((resolve) => {
      const off = og.on('runbooks.archived', (event) => {
        off();
        resolve(event as AnyDomainEvent);
      });
    });
    await og.cmdb.retire(ci.id, ci.version, { actor });
    const event = await archived;
    expect(event).toMatchObject({
      payload: { ciId: ci.id, count: 1 },
      actor: { kind: 'plugin', id: 'runbooks' },
    });
    expect(await og.plugins.runbooks.runbooks.forCi(ci.id)).toEqual([]);
    expect(await og.plugins.runbooks.runbooks.forCi(ci.id, { includeArchived: true })).toHaveLength(1);
  });

  it('authorizes runbooks as their CI: a scoped actor reads and attaches on the CIs of its scope only', async () => {
    const mine = await og.cmdb.create({ class: 'application', name: 'payroll' }, { actor });
    const theirs = await og.cmdb.create({ class: 'application', name: 'hr' }, { actor });
    const scoped = await scopedTestActor(og, 'payroll-team', [
      { ciId: mine.id, mode: 'dependencies', permissions: ['cmdb:read', 'cmdb:write'] },
    ]);
    const runbooks = og.plugins.runbooks.runbooks;
    const attached = await runbooks.attach(
      { ciId: mine.id, title: 'Run payroll', url: 'https://x.example/p' },
      { actor: scoped },
    );
    expect(await runbooks.forCi(mine.id, { actor: scoped })).toEqual([attached]);
    await expect(runbooks.forCi(theirs.id, { actor: scoped })).rejects.toMatchObject({
      code: 'FORBIDDEN',
      permission: 'cmdb:read',
      field: 'ciId',
    });
    await expect(
      runbooks.attach({ ciId: theirs.id, title: 'x', url: 'https://x.example/h' }, { actor: scoped }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN', permission: 'cmdb:write', field: 'ciId' });
    // Its events are about a CI: a scoped reader of the activity sees those of its CIs.
    const events = await og.activity.list(
      { types: ['runbooks.attached'], limit: 1000 },
      { actor: { ...scoped, scopes: scoped.scopes!.map((s) => ({ ...s, permissions: ['*'] })) } },
    );
    expect(events.map((e) => e.subject?.id)).toEqual([mine.id]);
  });

  it('adds its GraphQL fields to the server schema', async () => {
    const server = createOpsGraphServer({ opsgraph: og });
    expect(server.schema.getQueryType()?.getFields().runbooks).toBeDefined();
    expect(server.schema.getMutationType()?.getFields().runbooksAttach).toBeDefined();
  });
});
