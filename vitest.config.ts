import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Workspace packages export their TypeScript sources under the `@opsgraph/source` condition,
// so tests run against src/ without a build step.
const conditions = ['@opsgraph/source', ...defaultServerConditions];

export default defineConfig({
  resolve: { conditions },
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
