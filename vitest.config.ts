import { createRequire } from 'node:module';
import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Workspace packages export their TypeScript sources under the `@opsgraph/source` condition,
// so tests run against src/ without a build step.
const conditions = ['@opsgraph/source', ...defaultServerConditions];

// graphql 16 has no `exports` map: Node loads its CommonJS entry, while Vite would pick its `module`
// (.mjs) entry for our sources. Two copies make every schema check fail ("from another module or
// realm") once a CommonJS dependency (graphql-armor) or an externalised one (Yoga, Pothos) meets our
// code. Resolve it as Node does, to the one copy production uses.
const graphqlEntry = createRequire(import.meta.url).resolve('graphql');

export default defineConfig({
  resolve: { conditions, alias: [{ find: /^graphql$/, replacement: graphqlEntry }] },
  ssr: { resolve: { conditions } },
  test: {
    globalSetup: ['./packages/core/src/testing/global-setup.ts'],
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/plugins/*/src/**/*.test.ts',
      'examples/*/**/*.test.ts',
      'test/**/*.test.ts',
      'bench/**/*.test.ts',
    ],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
