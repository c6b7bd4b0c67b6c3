#!/usr/bin/env node
// `npm test`: typecheck, lint, then every vitest suite (core on PGlite and PostgreSQL, server, client,
// end-to-end, examples, the benchmark smoke). Stops at the first failing step and exits non-zero.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const steps = [
  ['typecheck', ['npx', 'tsc', '-p', 'tsconfig.json', '--noEmit']],
  ['lint', ['npx', 'biome', 'check', '.']],
  [
    'vitest',
    [
      'npx',
      'vitest',
      'run',
      '--reporter=default',
      '--reporter=json',
      '--outputFile.json=.test-results.json',
      ...process.argv.slice(2),
    ],
  ],
];

for (const [name, [command, ...args]] of steps) {
  console.log(`\n> ${name}: ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`\nnpm test: the ${name} step failed (exit ${result.status ?? result.signal}).`);
    process.exit(result.status || 1);
  }
}

const report = JSON.parse(readFileSync('.test-results.json', 'utf8'));
console.log(`\n${report.numPassedTests} passed, ${report.numFailedTests} failed`);
