// The platform package (@cuipc/linux-x64-gnu) that carries the prebuild: its committed manifest
// (platform/linux-x64-gnu/package.json, a workspace so that the lock file resolves cuipc's
// optional dependency on it), its version against cuipc's, and what scripts/platform-package.cjs
// writes from a prebuild: the prebuild's files and a package.json, nothing else. Stand-in files,
// no build (test/package/pack.test.ts packs the real one).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
const require = createRequire(import.meta.url);
const { writePlatformPackage } = require(join(ROOT, 'scripts', 'platform-package.cjs')) as {
  writePlatformPackage(root: string, prebuildDir: string): { dir: string; pkg: Record<string, unknown> & { files: string[] } };
};
const work = mkdtempSync(join(tmpdir(), 'cuipc-platform-package-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

type Manifest = { name: string; version: string; license: string; os: string[]; cpu: string[]; libc: string[]; main: string; files: string[]; scripts?: unknown };
const read = (file: string): Manifest & Record<string, unknown> => JSON.parse(readFileSync(file, 'utf8')) as Manifest & Record<string, unknown>;
const PREBUILD = ['cuipc-native.sha256', 'cuipc.glibc.node', 'libcuipc_sim.so', 'libcuipc_tms_standin.so', 'libcuipc_trace.so', 'libcuipc_vmm_interposer.so'];

/** A root with cuipc's package.json, the platform manifest and a stand-in prebuild of `files`. */
function fakeRoot(files: string[], version?: string): { root: string; prebuild: string } {
  const root = mkdtempSync(join(work, 'root-'));
  cpSync(join(ROOT, 'package.json'), join(root, 'package.json'));
  cpSync(join(ROOT, 'LICENSE'), join(root, 'LICENSE'));
  mkdirSync(join(root, 'platform', 'linux-x64-gnu'), { recursive: true });
  const manifest = read(join(ROOT, 'platform', 'linux-x64-gnu', 'package.json'));
  writeFileSync(join(root, 'platform', 'linux-x64-gnu', 'package.json'), JSON.stringify({ ...manifest, version: version ?? manifest.version }));
  const prebuild = join(root, 'prebuilds', 'linux-x64');
  mkdirSync(prebuild, { recursive: true });
  for (const f of files) writeFileSync(join(prebuild, f), f);
  return { root, prebuild };
}

describe('the platform package', () => {
  const main = read(join(ROOT, 'package.json')) as Manifest & { optionalDependencies: Record<string, string>; workspaces: string[] };
  const platform = read(join(ROOT, 'platform', 'linux-x64-gnu', 'package.json'));

  it("has cuipc's exact version, as cuipc's optional dependency and as a workspace", () => {
    expect(platform.name).toBe('@cuipc/linux-x64-gnu');
    expect(platform.version).toBe(main.version);
    expect(main.optionalDependencies).toEqual({ '@cuipc/linux-x64-gnu': main.version });
    expect(main.workspaces).toContain('platform/linux-x64-gnu');
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; link?: boolean }> };
    expect(lock.packages['node_modules/@cuipc/linux-x64-gnu']).toMatchObject({ link: true, resolved: 'platform/linux-x64-gnu' });
    expect(lock.packages['platform/linux-x64-gnu']?.version).toBe(main.version);
  });

  it("is for linux-x64 glibc, with cuipc's license and no scripts; cuipc's tarball leaves the prebuilds to it", () => {
    expect(platform).toMatchObject({ os: ['linux'], cpu: ['x64'], libc: ['glibc'], license: main.license });
    expect(platform.scripts).toBeUndefined();
    expect([...platform.files].sort()).toEqual(PREBUILD);
    expect(main.files).not.toContain('prebuilds');
    expect(main.scripts).toMatchObject({ 'pack:all': expect.stringContaining('scripts/platform-package.cjs --pack') });
  });

  it('is written from a prebuild: its files and a package.json, nothing else', () => {
    const { root, prebuild } = fakeRoot(PREBUILD);
    const { dir, pkg } = writePlatformPackage(root, prebuild);
    expect(dir).toBe(join(root, 'dist', 'platform', 'linux-x64-gnu'));
    expect(readdirSync(dir).sort()).toEqual([...PREBUILD, 'package.json', 'LICENSE'].sort());
    expect(read(join(dir, 'package.json'))).toEqual(pkg);
    expect(pkg).toMatchObject({ name: '@cuipc/linux-x64-gnu', version: main.version, main: 'cuipc.glibc.node', os: ['linux'], cpu: ['x64'], libc: ['glibc'] });
    expect(readFileSync(join(dir, 'cuipc-native.sha256'), 'utf8')).toBe('cuipc-native.sha256');
  });

  it('lists only what the prebuild has (no trace library without CUPTI), and refuses a version apart from cuipc', () => {
    const partial = fakeRoot(PREBUILD.filter((f) => f !== 'libcuipc_trace.so'));
    expect(writePlatformPackage(partial.root, partial.prebuild).pkg.files).not.toContain('libcuipc_trace.so');
    const apart = fakeRoot(PREBUILD, '0.0.1');
    expect(() => writePlatformPackage(apart.root, apart.prebuild)).toThrow(/version 0\.0\.1, cuipc .*must be equal/);
    const none = fakeRoot(['libcuipc_sim.so']);
    expect(() => writePlatformPackage(none.root, none.prebuild)).toThrow(/holds no addon/);
  });

  it('prints only the tarball name on stdout when it packs', () => {
    const { root } = fakeRoot(PREBUILD);
    mkdirSync(join(root, 'scripts'));
    for (const script of ['platform-package.cjs', 'platform.cjs']) cpSync(join(ROOT, 'scripts', script), join(root, 'scripts', script));
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'platform-package.cjs'), '--pack', '--pack-destination', root], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`cuipc-linux-x64-gnu-${main.version}.tgz\n`);
    const listed = spawnSync('tar', ['tzf', join(root, r.stdout.trim())], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).sort();
    expect(listed).toEqual([...PREBUILD, 'package.json', 'LICENSE'].map((f) => `package/${f}`).sort());
  }, 70_000);
});
