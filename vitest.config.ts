// Test runner settings: node environment, generous timeouts for real-process tests, files in parallel on 2 cores.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two files at a time on 2 cores (vitest would run one: cores - 1). Most files wait on real processes, sockets and
    // deadlines more than they compute, so two overlap; timing assertions are written for a machine kept busy.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
