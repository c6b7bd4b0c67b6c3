// Writes schema.graphql: the server's core schema (no plugins), which codegen reads to type the operations.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildSchema } from '@opsgraph/server';
import { printSchema } from 'graphql';

/** The SDL of the core schema, exactly as committed in schema.graphql. */
export function printCoreSchema(): string {
  return `${printSchema(buildSchema([]))}\n`;
}

// Run as a script (not when imported by the staleness test).
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(new URL('../schema.graphql', import.meta.url), printCoreSchema());
  console.log('wrote schema.graphql');
}
