import { defineConfig } from 'vitest/config';
import { NOT_HERE, SLOW_SUITES } from './test/suites.js';
import { sharedTest } from './vitest.shared.js';

// `npm test`: every suite but the slow ones (test/suites.ts); `npm run test:all` runs them all.
// Two files at a time even on 2 cores (vitest's default there is one): these suites spend most
// of their time waiting for the rank processes they spawn.
export default defineConfig({
  test: { ...sharedTest, include: ['test/**/*.test.ts'], exclude: [...NOT_HERE, ...SLOW_SUITES], maxWorkers: 2 },
});
