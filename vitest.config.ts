import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'ledger/**/*.test.ts'],
    globalSetup: ['test/support/globalSetup.ts'],
    // chDB allows one data directory per process, so every test file runs in its own process.
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
