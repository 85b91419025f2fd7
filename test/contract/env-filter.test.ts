// The environment-relevance filter has one home, lib/env/relevant-variables.json: the
// TypeScript snapshot (lib/env/capture.ts) and the trace library's process line
// (native/trace/process.cc, through a header the build generates from the JSON) must keep
// exactly the variables it names and redact exactly the names it marks secret. Both are
// checked here against the JSON's own rules, over every listed name and prefix and their
// near misses.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isCudaRelevant, looksSecret } from '../../lib/env/capture.js';
import { removeScratchDirs, scratchDir } from '../trace/helpers.js';
import { compileWithTrace, ENV_FILTER_JSON, generateEnvFilterHeader, ROOT, traceBuildUnavailable } from './trace-build.js';

afterAll(removeScratchDirs);

interface Filter {
  prefixes: string[];
  names: string[];
  secretSubstrings: string[];
  secretSegments: string[];
}
const filter = JSON.parse(readFileSync(ENV_FILTER_JSON, 'utf8')) as Filter;

// The JSON's rules, as its `about` states them.
const relevant = (n: string) => filter.names.includes(n) || filter.prefixes.some((p) => n.startsWith(p));
const secret = (n: string) => {
  const upper = n.toUpperCase();
  return filter.secretSubstrings.some((s) => upper.includes(s)) || upper.split(/[_.-]/).some((s) => filter.secretSegments.includes(s));
};

// Every listed name and prefix, near misses of each, and relevant names that look secret.
const candidates = [
  ...filter.names,
  ...filter.names.map((n) => `${n}_X`),
  ...filter.names.map((n) => `X${n}`),
  ...filter.names.map((n) => n.toLowerCase()),
  ...filter.prefixes.map((p) => `${p}X`),
  ...filter.prefixes.map((p) => p.slice(0, -1)),
  ...filter.prefixes.map((p) => `Z${p}X`),
  ...filter.secretSubstrings.map((s) => `CUDA_${s}_X`),
  ...filter.secretSegments.map((s) => `NCCL_${s}`),
  ...filter.secretSegments.map((s) => `NCCL_${s}S_X`),
  'CUDA_HOME', 'CUDA_PATH', 'HOME', 'PATH', 'HF_TOKEN', 'cuda_visible_devices', 'TORCH_Api-Key.x', 'RAY_KEYBOARD',
].filter((n, i, all) => all.indexOf(n) === i && !n.startsWith('LD_'));  // the dynamic linker reads LD_*

describe('environment filter: one list, two languages', () => {
  it('the list is well formed', () => {
    for (const key of ['prefixes', 'names', 'secretSubstrings', 'secretSegments'] as const) {
      expect(filter[key].length, key).toBeGreaterThan(0);
      expect(new Set(filter[key]).size, `${key} has duplicates`).toBe(filter[key].length);
    }
    // Each rule decides at least one candidate both ways, so none of the checks below is vacuous.
    expect(candidates.filter(relevant).length).toBeGreaterThan(10);
    expect(candidates.filter((n) => !relevant(n)).length).toBeGreaterThan(10);
    expect(candidates.filter((n) => relevant(n) && secret(n)).length).toBeGreaterThan(10);
  });

  it('lib/env/capture.ts keeps and redacts exactly what the list says', () => {
    for (const n of candidates) {
      expect(isCudaRelevant(n), `isCudaRelevant(${n})`).toBe(relevant(n));
      expect(looksSecret(n), `looksSecret(${n})`).toBe(secret(n));
    }
  });

  describe.skipIf(traceBuildUnavailable !== null)('the trace library', () => {
    it('its process line keeps exactly the relevant, non-secret variables', () => {
      const work = scratchDir('cuipc-env-filter-');
      const exe = compileWithTrace(join(ROOT, 'test', 'contract', 'native', 'process_line.cc'), work, 'process_line');
      const env: Record<string, string> = {};
      for (const n of candidates) env[n] = `value-of-${n}`;
      const line = JSON.parse(execFileSync(exe, [], { env, encoding: 'utf8' })) as { env: Record<string, string> };
      const kept = Object.keys(line.env).sort();
      expect(kept).toEqual(candidates.filter((n) => relevant(n) && !secret(n)).sort());
      for (const n of kept) expect(line.env[n]).toBe(`value-of-${n}`);
    }, 120_000);

    it('the build embedded the list as it is now (a stale build/ would not)', () => {
      const built = join(ROOT, 'build', 'generated', 'cuipc_trace_env_filter.h');
      if (!existsSync(built)) return;  // no trace library built here: nothing to compare
      const fresh = generateEnvFilterHeader(scratchDir('cuipc-env-filter-header-'));
      expect(readFileSync(built, 'utf8'), 'the list changed since the last build: run npm run build:native').toBe(readFileSync(fresh, 'utf8'));
    });
  });
});
