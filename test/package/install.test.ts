// The install hook's decision, without building anything: an addon is reused only when the
// stamp beside it matches the native sources here (so `npm ci` after a `git pull` that changed
// native/ rebuilds instead of loading a stale build/Release), and a source build that cannot
// happen says what to install instead of failing inside cmake. Where the package has no build
// of its own (an installed tarball), the platform package @cuipc/linux-x64-gnu serves when its
// stamp matches the native sources the package ships, and a missing one is named.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

const ADDON_FILES = ['libcuipc_sim.so', 'libcuipc_vmm_interposer.so', 'libcuipc_tms_standin.so'];

/**
 * A package root with the install scripts, a small native/ and a build/Release with stand-in
 * files; `installed`: as in a project's node_modules/cuipc, with no build/Release.
 */
function fakePackage(installed = false): string {
  const project = mkdtempSync(join(tmpdir(), 'cuipc-install-'));
  scratch.push(project);
  const root = installed ? join(project, 'node_modules', 'cuipc') : project;
  for (const f of ['scripts/install.cjs', 'scripts/native-hash.cjs', 'scripts/platform.cjs']) {
    mkdirSync(dirname(join(root, f)), { recursive: true });
    cpSync(join(ROOT, f), join(root, f));
  }
  mkdirSync(join(root, 'native', 'bench'), { recursive: true });
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'cuipc', version: '0.1.0' }));
  writeFileSync(join(root, 'CMakeLists.txt'), 'project(x)\n');
  writeFileSync(join(root, 'native', 'addon.cc'), '// v1\n');
  writeFileSync(join(root, 'native', 'bench', 'raw_calls.cc'), '// bench v1\n');
  if (!installed) {
    mkdirSync(join(root, 'build', 'Release'), { recursive: true });
    for (const f of ['cuipc.node', ...ADDON_FILES]) writeFileSync(join(root, 'build', 'Release', f), '');
  }
  mkdirSync(join(root, 'node_modules'));
  symlinkSync(join(ROOT, 'node_modules', 'node-gyp-build'), join(root, 'node_modules', 'node-gyp-build'));
  return root;
}

/** Runs the hook with no build tool reachable (PATH holds nothing), so it cannot build. */
function install(root: string): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'install.cjs')], { cwd: root, env: { PATH: join(root, 'no-tools') }, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

function stamp(root: string, dir = join(root, 'build', 'Release')): void {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'native-hash.cjs'), '--stamp', dir], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
}

/** node_modules/@cuipc/linux-x64-gnu beside an installed fake package, with stand-in files. */
function platformPackage(root: string): string {
  const dir = join(root, '..', '@cuipc', 'linux-x64-gnu');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: '@cuipc/linux-x64-gnu', version: '0.1.0', main: 'cuipc.glibc.node' }));
  for (const f of ['cuipc.glibc.node', ...ADDON_FILES]) writeFileSync(join(dir, f), '');
  return dir;
}

const glibcX64 = process.platform === 'linux' && process.arch === 'x64' && !existsSync('/etc/alpine-release');

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

  it.runIf(glibcX64)('uses the installed platform package when its stamp matches the sources shipped here', () => {
    const root = fakePackage(true);
    stamp(root, platformPackage(root));
    const r = install(root);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain('cuipc: using @cuipc/linux-x64-gnu/cuipc.glibc.node');
  });

  it.runIf(glibcX64)('builds from source when the platform package was built from other sources', () => {
    const root = fakePackage(true);
    stamp(root, platformPackage(root));
    writeFileSync(join(root, 'native', 'addon.cc'), '// v2\n');
    const r = install(root);
    expect(r.status).toBe(1);
    expect(r.output).toContain('@cuipc/linux-x64-gnu/cuipc.glibc.node was built from other native sources; building from source');
  });

  it.runIf(glibcX64)('with no platform package and no build tool, names the platform package to install', () => {
    const r = install(fakePackage(true));
    expect(r.status).toBe(1);
    expect(r.output).toContain('no local build, and @cuipc/linux-x64-gnu (an optional dependency) is not installed; building from source');
    expect(r.output).toContain('is in @cuipc/linux-x64-gnu, an optional dependency: with it installed');
    expect(r.output).toContain('(npm install --include=optional, or npm install @cuipc/linux-x64-gnu@0.1.0) nothing is built');
    expect(r.output).toContain('apt-get install cmake g++');
  });
});
