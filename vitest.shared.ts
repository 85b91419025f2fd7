// What every CPU-side vitest configuration shares (vitest.config.ts, vitest.all.config.ts,
// vitest.slow.config.ts); they differ only in which files they take (test/suites.ts).
import type { ViteUserConfig } from 'vitest/config';

export const sharedTest = {
  // Probes spawn rank processes; give them room on a 2-core machine.
  testTimeout: 60_000,
  hookTimeout: 60_000,
  pool: 'forks',
  env: { CUIPC_BACKEND: 'sim' },
} satisfies ViteUserConfig['test'];
