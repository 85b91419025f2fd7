// The loader on a machine without a GPU, the addon's link-time independence from CUDA, and
// loading from a prebuild or from the platform package (@cuipc/linux-x64-gnu) installed beside cuipc. These run against the real loader (backend 'cuda') in child
// processes, since one process holds one backend.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { addonPath, findAddon, findShippedLibrary, packageRoot, platformPackageName } from '../../lib/binding/native.js';
import { driverCandidates, runtimeCandidates } from '../../lib/binding/search.js';

const cli = join(packageRoot, 'bin', 'cuipc.js');
const driverPresent = spawnSync('sh', ['-c', 'ldconfig -p | grep -q libcuda.so.1'], {}).status === 0;

function node(code: string, env: Record<string, string | undefined> = {}) {
  return spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', cwd: packageRoot, env: { ...process.env, ...env } });
}

describe('the search order', () => {
  test('overrides come first, then the dynamic linker, LD_LIBRARY_PATH, the toolkit', () => {
    const env = { CUIPC_LIBCUDART: '/opt/x/libcudart.so.13', CUIPC_LIBCUDA: '/opt/y/libcuda.so.1', LD_LIBRARY_PATH: '/a:/b', CUDA_HOME: '/cuda' };
    const rt = runtimeCandidates(env);
    expect(rt[0]).toEqual({ candidate: '/opt/x/libcudart.so.13', source: 'CUIPC_LIBCUDART' });
    expect(rt[1].candidate).toBe('libcudart.so.13');
    expect(rt[2].candidate).toBe('libcudart.so.12');
    expect(rt.findIndex((c) => c.candidate === '/a/libcudart.so.13')).toBeLessThan(rt.findIndex((c) => c.candidate === '/cuda/lib64/libcudart.so.13'));
    const drv = driverCandidates(env);
    expect(drv[0]).toEqual({ candidate: '/opt/y/libcuda.so.1', source: 'CUIPC_LIBCUDA' });
    expect(drv.map((c) => c.candidate)).toContain('/a/libcuda.so.1');
  });
});

describe.skipIf(driverPresent)('without a CUDA driver', () => {
  test('the loader says no driver was found, lists what it tried, and every call still answers', () => {
    const r = node(`
      import { openCuda } from './dist/cuda/index.js';
      const c = openCuda({ backend: 'cuda' });
      console.log(JSON.stringify({ report: c.report, count: c.getDeviceCount(), malloc: c.malloc('device', 64), attrs: c.pointerAttributes(0n) }));
    `);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.report.driver).toBeNull();
    expect(out.report.simulated).toBe(false);
    expect(out.report.attempts.driver.length).toBeGreaterThan(0);
    expect(out.report.attempts.driver.every((a: { error?: string }) => typeof a.error === 'string')).toBe(true);
    expect(out.count.ok).toBe(false);
    expect(out.count.message).toMatch(/no CUDA driver/);
    expect(out.malloc.ok).toBe(false);
    expect(out.malloc.call).toBe('cudaMalloc');
    expect(out.attrs.ok).toBe(false);
  });

  test('cuipc doctor explains that no driver was found, with exit status 3', () => {
    const r = spawnSync(process.execPath, [cli, 'doctor'], { encoding: 'utf8', env: { ...process.env, CUIPC_BACKEND: 'cuda' } });
    expect(r.status).toBe(3);
    expect(r.stdout).toContain('No CUDA driver was found');
    expect(r.stdout).toContain('tried libcuda.so.1');
    const j = spawnSync(process.execPath, [cli, 'doctor', '--json'], { encoding: 'utf8', env: { ...process.env, CUIPC_BACKEND: 'cuda' } });
    expect(j.status).toBe(3);
    expect(JSON.parse(j.stdout).verdict).toBe('no-driver');
  });
});

describe('the built addon', () => {
  test('has no link-time dependency on libcuda or libcudart (readelf -d)', () => {
    const r = spawnSync('readelf', ['-d', addonPath()], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const needed = r.stdout.split('\n').filter((l) => l.includes('(NEEDED)'));
    expect(needed.length).toBeGreaterThan(0);
    expect(needed.filter((l) => /libcuda|libcudart/.test(l))).toEqual([]);
  });

  test('loads from a prebuild with no CUDA toolkit on the library path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cuipc-prebuild-'));
    try {
      mkdirSync(join(dir, 'prebuilds', `${process.platform}-${process.arch}`), { recursive: true });
      copyFileSync(addonPath(), join(dir, 'prebuilds', `${process.platform}-${process.arch}`, 'cuipc.napi.glibc.node'));
      mkdirSync(join(dir, 'node_modules'));
      symlinkSync(join(packageRoot, 'node_modules', 'node-gyp-build'), join(dir, 'node_modules', 'node-gyp-build'));
      const r = spawnSync(process.execPath, ['-e', `
        const b = require('node-gyp-build')(${JSON.stringify(dir)});
        const report = b.load({ backend: 'cuda', driverCandidates: [], runtimeCandidates: [] });
        console.log(JSON.stringify({ path: require('node-gyp-build').path(${JSON.stringify(dir)}), runtime: report.runtime, count: b.getDeviceCount() }));
      `], { encoding: 'utf8', cwd: dir, env: { PATH: '/usr/bin:/bin', LD_LIBRARY_PATH: '' } });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.path).toContain(join('prebuilds', `${process.platform}-${process.arch}`));
      expect(out.runtime).toBeNull();
      expect(out.count.ok).toBe(false);
      expect(out.count.code).toBe(35);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the simulated device is built beside the addon', () => {
    expect(existsSync(join(packageRoot, 'build', 'Release', 'libcuipc_sim.so'))).toBe(true);
  });
});

describe('when the addon cannot be loaded', () => {
  test('one error lists what was tried and what to do; the CLI exits 3', () => {
    const env = { CUIPC_ADDON: join(tmpdir(), 'no-such-dir', 'cuipc.node') };
    const r = node(
      `import { openCuda, CuipcLoadError } from './dist/index.js';
       try { openCuda({ backend: 'sim' }); } catch (e) { console.log(JSON.stringify({ cls: e instanceof CuipcLoadError, message: e.message, tried: e.tried })); }`,
      env,
    );
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.cls).toBe(true);
    expect(out.message).toMatch(/the native addon could not be loaded/);
    expect(out.message).toMatch(/no-such-dir/);
    expect(out.message).toMatch(/npm rebuild cuipc/);
    const cli = spawnSync(process.execPath, [join(packageRoot, 'bin', 'cuipc.js'), 'doctor', '--backend', 'sim'], { encoding: 'utf8', env: { ...process.env, ...env } });
    expect(cli.status).toBe(3);
    expect(cli.stderr).toMatch(/the native addon could not be loaded/);
  });
});

describe('the platform package', () => {
  const glibcX64 = platformPackageName({}) !== null;

  /** A project with node_modules/cuipc (no build of its own) and, when asked, node_modules/@cuipc/linux-x64-gnu. */
  function project(withPlatform: boolean): { root: string; platform: string; cleanup(): void } {
    const dir = mkdtempSync(join(tmpdir(), 'cuipc-platform-'));
    const root = join(dir, 'node_modules', 'cuipc');
    const platform = join(dir, 'node_modules', '@cuipc', 'linux-x64-gnu');
    mkdirSync(root, { recursive: true });
    if (withPlatform) {
      mkdirSync(platform, { recursive: true });
      writeFileSync(join(platform, 'package.json'), JSON.stringify({ name: '@cuipc/linux-x64-gnu', version: '0.1.0', main: 'cuipc.glibc.node' }));
      for (const f of ['cuipc.glibc.node', 'libcuipc_sim.so', 'libcuipc_vmm_interposer.so']) writeFileSync(join(platform, f), '');
    }
    return { root, platform, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  }

  test('is named only for linux-x64 glibc', () => {
    expect(platformPackageName({ LIBC: 'glibc' }, 'linux', 'x64')).toBe('@cuipc/linux-x64-gnu');
    expect(platformPackageName({ LIBC: 'musl' }, 'linux', 'x64')).toBeNull();
    expect(platformPackageName({ LIBC: 'glibc' }, 'linux', 'arm64')).toBeNull();
    expect(platformPackageName({ LIBC: 'glibc' }, 'darwin', 'x64')).toBeNull();
  });

  test('is named as the install script and the platform package writer name it (scripts/platform.cjs)', () => {
    type Scripts = { platformPackageFor(env: Record<string, string>, platform: string, arch: string): { name: string } | null };
    const scripts = createRequire(import.meta.url)('../../scripts/platform.cjs') as Scripts;
    for (const [libc, platform, arch] of [['glibc', 'linux', 'x64'], ['musl', 'linux', 'x64'], ['glibc', 'linux', 'arm64'], ['glibc', 'darwin', 'x64']]) {
      expect(platformPackageName({ LIBC: libc }, platform, arch)).toBe(scripts.platformPackageFor({ LIBC: libc }, platform, arch)?.name ?? null);
    }
  });

  test.runIf(glibcX64)("findAddon takes its addon where the package has no build, and the libraries come from beside it", () => {
    const { root, platform, cleanup } = project(true);
    try {
      const found = findAddon({}, root);
      expect(found.path).toBe(join(platform, 'cuipc.glibc.node'));
      expect(found.searched).toContain(`@cuipc/linux-x64-gnu: ${join(platform, 'cuipc.glibc.node')}`);
      expect(findShippedLibrary('libcuipc_sim.so', { env: {}, root }).path).toBe(join(platform, 'libcuipc_sim.so'));
      // With an addon loaded from elsewhere (CUIPC_ADDON), the platform package still comes before build/.
      const beside = findShippedLibrary('libcuipc_vmm_interposer.so', { env: {}, root, addonDir: join(root, 'elsewhere') });
      expect(beside.path).toBe(join(platform, 'libcuipc_vmm_interposer.so'));
    } finally {
      cleanup();
    }
  });

  test.runIf(glibcX64)("a package's own build comes first", () => {
    const { root, cleanup } = project(true);
    try {
      mkdirSync(join(root, 'build', 'Release'), { recursive: true });
      writeFileSync(join(root, 'build', 'Release', 'cuipc.node'), '');
      expect(findAddon({}, root).path).toBe(join(root, 'build', 'Release', 'cuipc.node'));
    } finally {
      cleanup();
    }
  });

  test.runIf(glibcX64)('when it is not installed, the search names it', () => {
    const { root, cleanup } = project(false);
    try {
      const found = findAddon({}, root);
      expect(found.path).toBeNull();
      expect(found.why).toBeDefined();
      expect(found.searched).toContain('@cuipc/linux-x64-gnu (an optional dependency): not installed');
      expect(findAddon({ LIBC: 'musl' }, root).searched.join('\n')).toMatch(/@cuipc\/linux-x64-gnu: not for/);
    } finally {
      cleanup();
    }
  });
});
