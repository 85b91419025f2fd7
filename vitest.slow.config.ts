import { defineConfig } from 'vitest/config';
import { NOT_HERE, SLOW_SUITES } from './test/suites.js';
import { sharedTest } from './vitest.shared.js';

// `npm run test:slow`: only what `npm test` leaves out (test/suites.ts).
export default defineConfig({
  test: { ...sharedTest, include: SLOW_SUITES, exclude: NOT_HERE },
});
