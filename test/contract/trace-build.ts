// Compiles a C++ test program with the trace library's sources (native/trace/*.cc) linked in,
// without a GPU or a CUDA driver: only the CUPTI and CUDA headers and a C++ compiler are
// needed (tests skip where they are absent). The environment filter header is generated from
// its one home (lib/env/relevant-variables.json) by the same script the build runs.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ENV_FILTER_JSON = join(ROOT, 'lib', 'env', 'relevant-variables.json');
export const ENV_FILTER_SCRIPT = join(ROOT, 'native', 'trace', 'env_filter.cmake');

function cuptiInclude(): string[] | null {
  for (const home of [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda']) {
    if (!home) continue;
    for (const dir of [join(home, 'include'), join(home, 'extras', 'CUPTI', 'include')]) {
      if (existsSync(join(dir, 'cupti.h')) && existsSync(join(dir, 'generated_cuda_meta.h')) && existsSync(join(home, 'include', 'cuda.h'))) {
        return dir === join(home, 'include') ? [dir] : [dir, join(home, 'include')];
      }
    }
  }
  return null;
}

const includes = cuptiInclude();
const compiler = spawnSync('c++', ['--version']).status === 0 ? 'c++' : null;
const cmake = spawnSync('cmake', ['--version']).status === 0 ? 'cmake' : null;

/** Why a trace program cannot be built here, or null when it can. */
export const traceBuildUnavailable: string | null =
  includes === null ? 'no CUPTI headers' : compiler === null ? 'no C++ compiler' : cmake === null ? 'no cmake' : null;

/** Writes the environment filter header into `dir` (as the build does) and returns its path. */
export function generateEnvFilterHeader(dir: string): string {
  const out = join(dir, 'cuipc_trace_env_filter.h');
  execFileSync(cmake ?? 'cmake', [`-DIN=${ENV_FILTER_JSON}`, `-DOUT=${out}`, '-P', ENV_FILTER_SCRIPT], { stdio: 'pipe' });
  return out;
}

/** Compiles `program` with native/trace/*.cc into `dir`/name; returns the executable's path. */
export function compileWithTrace(program: string, dir: string, name: string): string {
  const exe = join(dir, name);
  generateEnvFilterHeader(dir);
  const inc = includes ?? [];
  const cupti = readFileSync(join(inc[0], 'cupti.h'), 'utf8');
  const defines = /include\s*<generated_cuda_meta\.h>/.test(cupti) ? ['-DCUIPC_CUPTI_H_HAS_PARAMS=1'] : [];
  const traceDir = join(ROOT, 'native', 'trace');
  const sources = readdirSync(traceDir).filter((f) => f.endsWith('.cc')).map((f) => join(traceDir, f));
  const flags = ['-std=c++17', '-O0', '-Wall', '-Werror', '-I', join(ROOT, 'native'), '-I', dir, ...inc.flatMap((d) => ['-I', d]), ...defines];
  execFileSync(compiler ?? 'c++', [...flags, program, ...sources, '-o', exe, '-ldl', '-lpthread'], { stdio: 'pipe' });
  return exe;
}
