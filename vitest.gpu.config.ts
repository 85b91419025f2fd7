import { defineConfig } from 'vitest/config';

// Runs only where a driver and a device exist: every call for real, every truth-table row.
export default defineConfig({
  test: {
    include: ['test/cuda/**/*.test.ts', 'test/gpu/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
    env: { CUIPC_BACKEND: 'cuda' },
  },
});
