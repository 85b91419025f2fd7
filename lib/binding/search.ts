// Where cuipc looks for the CUDA driver and runtime, in order. The order is the contract:
// explicit overrides first, then what the process already has (so cuipc sees the same
// runtime as the application it sits in), then the dynamic linker's own search, then the
// usual install locations (the toolkit, the driver container mounts, PyTorch's wheels).
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

interface Candidate {
  candidate: string;
  source: string;
}

const RUNTIME_SONAMES = ['libcudart.so.13', 'libcudart.so.12'] as const;
const DRIVER_SONAME = 'libcuda.so.1';

type Env = Record<string, string | undefined>;

function splitPath(value: string | undefined): string[] {
  return (value ?? '').split(':').filter((entry) => entry.length > 0);
}

/** site-packages folders that hold NVIDIA's runtime wheels (nvidia/cuda_runtime/lib, nvidia/cu13/lib). */
function wheelLibraryDirs(env: Env): string[] {
  const roots = new Set<string>();
  const prefixes = [env.VIRTUAL_ENV, env.CONDA_PREFIX, join(homedir(), '.local'), '/usr/local', '/usr', '/opt/conda'];
  for (const prefix of prefixes) {
    if (!prefix) continue;
    const lib = join(prefix, 'lib');
    let entries: string[] = [];
    try {
      entries = readdirSync(lib).filter((name) => name.startsWith('python3'));
    } catch {
      continue;
    }
    for (const py of entries) {
      for (const site of ['site-packages', 'dist-packages']) roots.add(join(lib, py, site));
    }
  }
  const dirs: string[] = [];
  for (const root of roots) {
    for (const sub of ['nvidia/cu13/lib', 'nvidia/cuda_runtime/lib']) {
      const dir = join(root, sub);
      if (existsSync(dir)) dirs.push(dir);
    }
  }
  return dirs;
}

function toolkitDirs(env: Env): string[] {
  const dirs: string[] = [];
  for (const home of [env.CUDA_HOME, env.CUDA_PATH]) {
    if (home) dirs.push(join(home, 'lib64'), join(home, 'lib'));
  }
  dirs.push('/usr/local/cuda/lib64');
  try {
    for (const name of readdirSync('/usr/local').sort().reverse()) {
      if (/^cuda-\d+/.test(name)) dirs.push(join('/usr/local', name, 'lib64'));
    }
  } catch {
    // no /usr/local: nothing to add
  }
  return dirs;
}

function dedupe(list: Candidate[]): Candidate[] {
  const seen = new Set<string>();
  return list.filter((c) => (seen.has(c.candidate) ? false : (seen.add(c.candidate), true)));
}

export function runtimeCandidates(env: Env = process.env): Candidate[] {
  const list: Candidate[] = [];
  if (env.CUIPC_LIBCUDART) list.push({ candidate: env.CUIPC_LIBCUDART, source: 'CUIPC_LIBCUDART' });
  // "already loaded" is checked natively (RTLD_NOLOAD) for each soname before anything else.
  for (const soname of RUNTIME_SONAMES) list.push({ candidate: soname, source: 'already loaded or dynamic linker (LD_LIBRARY_PATH, ld.so.cache)' });
  for (const dir of splitPath(env.LD_LIBRARY_PATH)) {
    for (const soname of RUNTIME_SONAMES) list.push({ candidate: join(dir, soname), source: 'LD_LIBRARY_PATH' });
  }
  for (const dir of toolkitDirs(env)) {
    for (const soname of RUNTIME_SONAMES) list.push({ candidate: join(dir, soname), source: 'CUDA toolkit' });
  }
  for (const dir of wheelLibraryDirs(env)) {
    for (const soname of RUNTIME_SONAMES) list.push({ candidate: join(dir, soname), source: 'NVIDIA runtime wheel (PyTorch)' });
  }
  return dedupe(list);
}

export function driverCandidates(env: Env = process.env): Candidate[] {
  const list: Candidate[] = [];
  if (env.CUIPC_LIBCUDA) list.push({ candidate: env.CUIPC_LIBCUDA, source: 'CUIPC_LIBCUDA' });
  list.push({ candidate: DRIVER_SONAME, source: 'already loaded or dynamic linker (LD_LIBRARY_PATH, ld.so.cache)' });
  for (const dir of splitPath(env.LD_LIBRARY_PATH)) list.push({ candidate: join(dir, DRIVER_SONAME), source: 'LD_LIBRARY_PATH' });
  for (const dir of ['/usr/local/nvidia/lib64', '/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib/wsl/lib']) {
    list.push({ candidate: join(dir, DRIVER_SONAME), source: 'driver install location' });
  }
  return dedupe(list);
}
