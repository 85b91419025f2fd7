import { defineConfig } from 'vitest/config';
import { NOT_HERE } from './test/suites.js';
import { sharedTest } from './vitest.shared.js';

// `npm run test:all` (what CI runs): every CPU-side suite, the slow ones included.
export default defineConfig({
  test: { ...sharedTest, include: ['test/**/*.test.ts'], exclude: NOT_HERE },
});
