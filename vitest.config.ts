import { createRequire } from 'node:module';
import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Workspace packages export their TypeScript sources under the `@opsgraph/source` condition,
// so tests run against src/ without a build step.
const conditions = ['@opsgraph/source', ...defaultServerConditions];

// graphql 16 ships ESM (`module`) and CommonJS (`main`) builds. Vite would give our sources the ESM one
// while graphql-yoga, loaded by Node, gets the CommonJS one: two graphql realms, and the first validation
// rule that checks a type from the other realm throws. Send every import of `graphql` to Node's choice.
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
