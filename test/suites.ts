// Which test files are slow, in one place: `npm test` (vitest.config.ts) leaves them out so the
// edit-test loop stays under 90 s on a 2-core machine; `npm run test:slow` runs only them; `npm
// run test:all` (vitest.all.config.ts, what CI runs) runs every suite. A file belongs here when
// it needs real Ray or spends its time in many end-to-end probes, not because it is flaky.

/** Suites that start real Ray (they skip where CUIPC_TEST_RAY_PYTHON names none, and fail in CI). */
export const REAL_RAY_SUITES = [
  'test/launch/ray.test.ts',
  'test/launch/ray-local.test.ts',
  'test/launch/ray-placement-group.test.ts',
  'test/launch/ray-session.test.ts',
  'test/launch/ray-two-nodes.test.ts',
  'test/launch/ray-in-task.test.ts',
  'test/bisect/ray.test.ts',
  'test/python/actor-recipe.test.ts',
  'test/python/trace-runtime-env.test.ts',
];

/**
 * Suites of many end-to-end probes, CLI processes or installs: faults and signals, bisect's
 * searches, the README's examples, every command's output through the CLI, the tarball. The
 * library-level end-to-end suites (test/probe/e2e.test.ts and the like) stay in the quick loop.
 */
export const SLOW_END_TO_END_SUITES = [
  'test/chaos/**/*.test.ts',
  'test/bisect/bisect.test.ts',
  'test/bisect/cli.test.ts',
  'test/readme.test.ts',
  'test/report/width.test.ts',
  'test/report/markdown.test.ts',
  'test/probe/cli.test.ts',
  'test/cli/json-outputs.test.ts',
  'test/contract/env-filter.test.ts',
  'test/launch/visibility.test.ts',
  'test/package/pack.test.ts',
  'test/package/install.test.ts',
  'test/trace/native.test.ts',
];

export const SLOW_SUITES = [...REAL_RAY_SUITES, ...SLOW_END_TO_END_SUITES];

/** Never in these configurations: the GPU suite has its own (vitest.gpu.config.ts). */
export const NOT_HERE = ['test/gpu/**', 'node_modules/**'];
