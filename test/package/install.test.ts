// The install hook's decision, without building anything: an addon is reused only when the
// stamp beside it matches the native sources here (so `npm ci` after a `git pull` that changed
// native/ rebuilds instead of loading a stale build/Release), and a source build that cannot
// happen says what to install instead of failing inside cmake.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** A package root with the install scripts, a small native/ and a build/Release with stand-in files. */
function fakePackage(): string {
  const root = mkdtempSync(join(tmpdir(), 'cuipc-install-'));
  scratch.push(root);
  for (const f of ['scripts/install.cjs', 'scripts/native-hash.cjs']) {
    mkdirSync(dirname(join(root, f)), { recursive: true });
    cpSync(join(ROOT, f), join(root, f));
  }
  mkdirSync(join(root, 'native', 'bench'), { recursive: true });
  writeFileSync(join(root, 'CMakeLists.txt'), 'project(x)\n');
  writeFileSync(join(root, 'native', 'addon.cc'), '// v1\n');
  writeFileSync(join(root, 'native', 'bench', 'raw_calls.cc'), '// bench v1\n');
  mkdirSync(join(root, 'build', 'Release'), { recursive: true });
  for (const f of ['cuipc.node', 'libcuipc_sim.so', 'libcuipc_vmm_interposer.so', 'libcuipc_tms_standin.so']) writeFileSync(join(root, 'build', 'Release', f), '');
  mkdirSync(join(root, 'node_modules'));
  symlinkSync(join(ROOT, 'node_modules', 'node-gyp-build'), join(root, 'node_modules', 'node-gyp-build'));
  return root;
}

/** Runs the hook with no build tool reachable (PATH holds nothing), so it cannot build. */
function install(root: string): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'install.cjs')], { cwd: root, env: { PATH: join(root, 'no-tools') }, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

function stamp(root: string): void {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'native-hash.cjs'), '--stamp', join(root, 'build', 'Release')], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
}

describe('scripts/install.cjs', () => {
  it('reuses a build stamped with these native sources', () => {
    const root = fakePackage();
    stamp(root);
    const r = install(root);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain('cuipc: using build/Release/cuipc.node');
  });

  it('rebuilds when native/ changed since the build (git pull, then npm ci), and says what to install', () => {
    const root = fakePackage();
    stamp(root);
    writeFileSync(join(root, 'native', 'addon.cc'), '// v2\n');
    const r = install(root);
    expect(r.status).toBe(1);
    expect(r.output).toContain('build/Release/cuipc.node was built from other native sources; building from source');
    expect(r.output).toContain('cannot build from source: cmake (>= 3.18) and a C++17 compiler (g++ or clang++) not found on the PATH');
    expect(r.output).toContain('apt-get install cmake g++');
  });

  it('treats an unstamped build as stale, and ignores changes to the bench program', () => {
    const root = fakePackage();
    expect(install(root).output).toContain('has no record of the native sources it was built from');
    stamp(root);
    writeFileSync(join(root, 'native', 'bench', 'raw_calls.cc'), '// bench v2\n');
    expect(install(root).status).toBe(0);
  });
});
