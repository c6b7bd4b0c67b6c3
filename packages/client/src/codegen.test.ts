import { readFile } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from '@graphql-codegen/cli';
import { describe, expect, it } from 'vitest';
import config from '../codegen.js';
import { printCoreSchema } from '../scripts/print-schema.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const STALE = 'schema.graphql / generated types are stale: run `npm run codegen`';

describe('committed schema and generated types', () => {
  it('schema.graphql matches the schema the server builds', async () => {
    const committed = await readFile(join(packageDir, 'schema.graphql'), 'utf8');
    expect(committed === printCoreSchema(), STALE).toBe(true);
  });

  it('src/generated matches what codegen produces from schema.graphql and the operations', async () => {
    const outputs = await generate({ ...config, cwd: packageDir, silent: true }, false);
    expect(outputs.length).toBeGreaterThan(0);
    for (const output of outputs) {
      const path = isAbsolute(output.filename) ? output.filename : join(packageDir, output.filename);
      const committed = await readFile(path, 'utf8').catch(() => undefined);
      expect(committed === output.content, `${STALE} (${relative(packageDir, path)})`).toBe(true);
    }
  });
});
