import { defineConfig } from 'vitest/config';
import { NOT_HERE, SLOW_SUITES } from './test/suites.js';
import { sharedTest } from './vitest.shared.js';

// `npm test`: every suite but the slow ones (test/suites.ts); `npm run test:all` runs them all.
export default defineConfig({
  test: { ...sharedTest, include: ['test/**/*.test.ts'], exclude: [...NOT_HERE, ...SLOW_SUITES] },
});
