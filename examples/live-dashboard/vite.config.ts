import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig } from 'vite';

// The page imports @opsgraph/client from its TypeScript sources (the workspace's `@opsgraph/source`
// condition), so it needs no build of the client first. The client's package.json `browser` field
// swaps its WebSocket loader for the browser's own, so `ws` stays out of the bundle.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  resolve: { conditions: ['@opsgraph/source', ...defaultClientConditions] },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 1000 },
  logLevel: 'warn',
});
