// The packed tarball is what users install: it must install and run with no compiler, no
// cmake and no CUDA toolkit (the prebuild), carry what its help and docs promise (LICENSE, the
// H200 recording, the hardware-facts page, sources for every source map), and nothing a
// source install should not build (the benchmark program).
//
// The pack runs in a copy of the checkout (the files git would commit), so its clean native
// build cannot disturb the build/ the other test files load the addon from. The install runs
// with a PATH that holds only node, npm, npx and sh. About 30 s on an idle 2-core machine (the
// clean native build is most of it); the generous timeouts are for a loaded one.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'cuipc-pack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The environment without what an enclosing `npm test` set for itself (npm_config_*, ...). */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'CUIPC_BACKEND') env[k] = v;
  return { ...env, ...extra };
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeout = 80_000): SpawnSyncReturns<string> {
  return spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout });
}

function which(name: string): string | null {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : null;
}

let tarball = '';
let listing: string[] = [];
let unpacked = '';
let app = '';
let toolless: NodeJS.ProcessEnv = {};

beforeAll(() => {
  // 1. A copy of the checkout: tracked files and untracked ones git does not ignore.
  const src = join(work, 'src');
  const files = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  if (files.status !== 0) throw new Error(`git ls-files failed: ${files.stderr}`);
  for (const file of files.stdout.split('\0').filter((f) => f && existsSync(join(ROOT, f)))) {
    mkdirSync(dirname(join(src, file)), { recursive: true });
    cpSync(join(ROOT, file), join(src, file));
  }
  symlinkSync(join(ROOT, 'node_modules'), join(src, 'node_modules'));

  // 2. npm pack: prepack builds the prebuilds, prepare compiles the TypeScript.
  const packed = run('npm', ['pack', '--pack-destination', work], src, cleanEnv({}), 140_000);
  if (packed.status !== 0) throw new Error(`npm pack failed (${packed.status}):\n${packed.stdout}\n${packed.stderr}`);
  const name = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (!name) throw new Error(`npm pack wrote no tarball:\n${packed.stdout}`);
  tarball = join(work, name);
  rmSync(src, { recursive: true, force: true });
  listing = spawnSync('tar', ['tzf', tarball], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
  unpacked = join(work, 'unpacked');
  mkdirSync(unpacked);
  spawnSync('tar', ['xzf', tarball, '-C', unpacked]);

  // 3. A PATH with node, npm, npx and sh only: no cmake, no compiler, no make, no nvcc.
  const bin = join(work, 'bin');
  mkdirSync(bin);
  for (const tool of ['node', 'npm', 'npx', 'sh']) {
    const path = which(tool);
    if (!path) throw new Error(`${tool} is not on the PATH`);
    symlinkSync(path, join(bin, tool));
  }
  toolless = cleanEnv({ PATH: bin, HOME: process.env.HOME ?? work });

  // 4. Install the tarball into an empty project that allows its install script to run.
  app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, allowScripts: { cuipc: true } }));
}, 150_000);

describe('the packed tarball', () => {
  it('holds the prebuilds, stamped with the native sources they were built from', () => {
    const prebuilds = listing.filter((f) => f.startsWith(`prebuilds/${process.platform}-${process.arch}/`));
    expect(prebuilds.some((f) => f.endsWith('.node'))).toBe(true);
    for (const lib of ['libcuipc_sim.so', 'libcuipc_vmm_interposer.so', 'cuipc-native.sha256']) {
      expect(prebuilds.map((f) => f.split('/').pop())).toContain(lib);
    }
    const hash = spawnSync(process.execPath, [join(unpacked, 'package', 'scripts', 'native-hash.cjs')], { encoding: 'utf8' });
    const stamp = readFileSync(join(unpacked, 'package', 'prebuilds', `${process.platform}-${process.arch}`, 'cuipc-native.sha256'), 'utf8');
    expect(stamp.trim()).toBe(hash.stdout.trim());
  });

  it('ships LICENSE (Apache-2.0), the H200 recording and the hardware-facts page; not the bench program', () => {
    const pkg = JSON.parse(readFileSync(join(unpacked, 'package', 'package.json'), 'utf8')) as { license: string; dependencies: Record<string, string> };
    expect(pkg.license).toBe('Apache-2.0');
    expect(readFileSync(join(unpacked, 'package', 'LICENSE'), 'utf8')).toMatch(/Apache License\s+Version 2\.0, January 2004/);
    expect(listing).toContain('test/fixtures/conformance/h200.json');
    expect(listing).toContain('docs/hardware-facts.md');
    // The bench is a development tool (bench/, compiled to dist-bench/): none of it ships
    // (test/package/files.test.ts holds package.json's files to that for a stale dist/bench too).
    expect(listing.filter((f) => /(^|\/)(bench|dist-bench)\//.test(f))).toEqual([]);
    expect(Object.keys(pkg.dependencies)).not.toContain('cmake-js');
  });

  it('has no source map that points to a file it does not ship', () => {
    const maps = listing.filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(0);
    const shipped = new Set(listing.map((f) => normalize(f)));
    const dangling: string[] = [];
    for (const map of maps) {
      const { sources } = JSON.parse(readFileSync(join(unpacked, 'package', map), 'utf8')) as { sources: string[] };
      for (const source of sources) {
        const target = normalize(join(dirname(map), source));
        if (!shipped.has(target)) dangling.push(`${map} -> ${target}`);
      }
    }
    expect(dangling).toEqual([]);
  });

  it('installs with no build tool on the PATH and `npx cuipc probe --backend sim --ranks 4` passes', () => {
    for (const tool of ['cmake', 'g++', 'c++', 'make', 'nvcc']) {
      expect(spawnSync(tool, ['--version'], { env: toolless }).error, `${tool} must not be reachable`).toBeDefined();
    }
    const install = run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', tarball], app, toolless);
    expect(install.status, `${install.stdout}\n${install.stderr}`).toBe(0);
    expect(install.stdout).toContain(`cuipc: using prebuilds/${process.platform}-${process.arch}/`);
    expect(existsSync(join(app, 'node_modules', 'cmake-js'))).toBe(false);
    expect(existsSync(join(app, 'node_modules', 'cuipc', 'build'))).toBe(false);

    const probe = run('npx', ['cuipc', 'probe', '--backend', 'sim', '--ranks', '4'], app, toolless, 60_000);
    expect(probe.status, `${probe.stdout}\n${probe.stderr}`).toBe(0);
    expect(probe.stdout).toMatch(/^PASSED: every step passed on ranks 0-3/m);

    const compare = run('npx', ['cuipc', 'conformance', '--backend', 'sim', '--compare', 'h200.json'], app, toolless, 30_000);
    expect(compare.status, `${compare.stdout}\n${compare.stderr}`).toBe(0);
    expect(compare.stdout).toContain('Every cell matches the reference recording.');

    const paths = run('npx', ['cuipc', 'paths', '--json'], app, toolless, 30_000);
    const libs = (JSON.parse(paths.stdout) as { libraries: Array<{ id: string; path: string | null; exists: boolean }> }).libraries;
    const prebuildDir = join(app, 'node_modules', 'cuipc', 'prebuilds', `${process.platform}-${process.arch}`);
    for (const id of ['sim', 'interposer']) expect(libs.find((l) => l.id === id)?.path).toBe(join(prebuildDir, id === 'sim' ? 'libcuipc_sim.so' : 'libcuipc_vmm_interposer.so'));
    const traceShipped = listing.some((f) => f.endsWith('/libcuipc_trace.so'));
    expect(libs.find((l) => l.id === 'trace')?.exists).toBe(traceShipped);
    expect(paths.status).toBe(libs.every((l) => l.exists) ? 0 : 1);
  }, 85_000);
});
