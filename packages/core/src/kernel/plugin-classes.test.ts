import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Backend, createTestDatabase, testBackends } from '../testing/index.js';
import { systemActor } from './actor.js';
import { createLogger } from './logger.js';
import { createOpsGraph } from './opsgraph.js';
import { definePlugin, PluginLoadError } from './plugins.js';

const actor = systemActor('test');
const logger = createLogger({ level: 'silent' });

const network = (routerLabel = 'Router') =>
  definePlugin({
    name: 'network',
    ciClasses: [
      { name: 'network_device', label: 'Network device', parent: 'hardware' },
      { name: 'router', label: routerLabel, parent: 'network_device' },
    ],
  });

describe.each(testBackends())("plugins' CI classes on %s", (backend: Backend) => {
  // One database opened several times, as successive releases of an app would.
  let database: string;
  let dir: string | undefined;
  beforeAll(async () => {
    if (backend === 'postgres') database = await createTestDatabase();
    else {
      dir = await mkdtemp(path.join(tmpdir(), 'opsgraph-classes-'));
      database = `pglite://${dir}`;
    }
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const open = (plugins: ReturnType<typeof definePlugin>[]) =>
    createOpsGraph({ database, plugins, logger, migrate: true });

  it('registers them on migrate, owned by the plugin, usable for CIs', async () => {
    const og = await open([network()]);
    try {
      const classes = await og.cmdb.classes();
      expect(classes.filter((c) => c.owner === 'network')).toEqual([
        expect.objectContaining({
          name: 'network_device',
          label: 'Network device',
          parent: 'hardware',
          owner: 'network',
        }),
        expect.objectContaining({
          name: 'router',
          label: 'Router',
          parent: 'network_device',
          owner: 'network',
        }),
      ]);
      expect((await og.cmdb.create({ class: 'router', name: 'edge-1' }, { actor })).class).toBe('router');
    } finally {
      await og.close();
    }
  });

  it("updates the plugin's own classes when a new version migrates", async () => {
    const og = await open([network('Edge router')]);
    try {
      const router = (await og.cmdb.classes()).find((c) => c.name === 'router');
      expect(router).toMatchObject({ label: 'Edge router', owner: 'network' });
    } finally {
      await og.close();
    }
  });

  it("stops start-up naming both owners when a plugin claims another owner's class", async () => {
    const rogue = definePlugin({ name: 'rogue', ciClasses: [{ name: 'server', label: 'My server' }] });
    const error = await open([rogue]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PluginLoadError);
    expect((error as PluginLoadError).plugins).toEqual(['rogue', 'core']);
    expect((error as Error).message).toMatch(
      /"rogue" brings the CI class "server", which "core" already has: rename it/,
    );
    // Nothing of it was written: core's class is untouched.
    const og = await open([]);
    try {
      expect((await og.cmdb.classes()).find((c) => c.name === 'server')).toMatchObject({
        label: 'Server',
        owner: 'core',
      });
    } finally {
      await og.close();
    }
  });
});
