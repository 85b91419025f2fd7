// The packed tarballs are what users install: cuipc's own and the platform package
// @cuipc/linux-x64-gnu that carries the linux-x64 prebuild (its optional dependency). Installed
// together they must install and run with no compiler, no cmake and no CUDA toolkit, loading the
// addon from the platform package, work from both `import` and `require`, carry what the help
// and docs promise (LICENSE, the H200 recording, the hardware-facts page, the native sources a
// source build needs where no prebuild fits), ship what runs once (no TypeScript sources beside
// the bundles, no module tree, no source maps, no prebuilds in cuipc's own) and nothing a source
// install should not build (the benchmark program); `npm pack --json` prints only JSON. cuipc
// alone, without a compiler, fails its install saying to install the platform package.
//
// The pack runs in a copy of the checkout (the files git would commit), so its clean native
// build cannot disturb the build/ the other test files load the addon from. The installs run
// with a PATH that holds only node, npm, npx and sh. About 30 s on an idle 2-core machine (the
// clean native build is most of it); the generous timeouts are for a loaded one.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
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

/**
 * cuipc's tarball's budget: 400 kB, now that the linux-x64 prebuilds (addon 79 kB, simulated
 * device 41 kB, trace library 36 kB, interposer and stand-in 15 kB; -Os: a 176 kB tarball of
 * their own) ship in @cuipc/linux-x64-gnu. What is left is about 301 kB: the library bundle about
 * 94 kB and the rank program's own about 25 kB (compressed; a rank loads only its own, which saves
 * it 12-23 ms of start-up), the native sources a source build needs about 80 kB, the declarations
 * 27 kB, and README, LICENSE, Python payload, schemas and docs 55 kB (with the prebuilds it was
 * 462 kB; 1.1 MB before that).
 */
const MAX_TARBALL_BYTES = 400_000;
/** What @cuipc/linux-x64-gnu holds: the prebuild folder's files (the trace library only where CUPTI was found). */
const PREBUILD_FILES = ['cuipc.glibc.node', 'libcuipc_sim.so', 'libcuipc_vmm_interposer.so', 'libcuipc_tms_standin.so', 'cuipc-native.sha256'];

let tarball = '';
let packSize = 0;
let listing: string[] = [];
let unpacked = '';
let platformTarball = '';
let platformListing: string[] = [];
let platformUnpacked = '';
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

  // 2. npm pack --json: prepack builds the prebuilds, compiles the TypeScript and writes the
  //    platform package's folder, all of its output on stderr, so stdout is the JSON alone
  //    (JSON.parse throws otherwise). Then the platform package, as `npm run pack:all` packs it:
  //    its name alone on stdout.
  const packed = run('npm', ['pack', '--json', '--pack-destination', work], src, cleanEnv({}), 140_000);
  if (packed.status !== 0) throw new Error(`npm pack failed (${packed.status}):\n${packed.stdout}\n${packed.stderr}`);
  const name = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (!name) throw new Error(`npm pack wrote no tarball:\n${packed.stdout}`);
  tarball = join(work, name);
  packSize = (JSON.parse(packed.stdout) as Array<{ size: number }>)[0].size;
  const platform = run(process.execPath, [join(src, 'scripts', 'platform-package.cjs'), '--pack', '--pack-destination', work], src, cleanEnv({}), 60_000);
  if (platform.status !== 0 || !/^[\w.-]+\.tgz\n$/.test(platform.stdout)) throw new Error(`the platform package's pack failed (${platform.status}):\n${platform.stdout}\n${platform.stderr}`);
  platformTarball = join(work, platform.stdout.trim());
  rmSync(src, { recursive: true, force: true });
  const list = (file: string): string[] => spawnSync('tar', ['tzf', file], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
  listing = list(tarball);
  platformListing = list(platformTarball);
  unpacked = join(work, 'unpacked');
  platformUnpacked = join(work, 'unpacked-platform');
  mkdirSync(unpacked);
  mkdirSync(platformUnpacked);
  spawnSync('tar', ['xzf', tarball, '-C', unpacked]);
  spawnSync('tar', ['xzf', platformTarball, '-C', platformUnpacked]);

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
  it('leaves the prebuilds to the platform package, its optional dependency at its exact version', () => {
    expect(listing.filter((f) => f.startsWith('prebuilds/') || f.endsWith('.node') || f.endsWith('.so'))).toEqual([]);
    const pkg = JSON.parse(readFileSync(join(unpacked, 'package', 'package.json'), 'utf8')) as { version: string; optionalDependencies: Record<string, string> };
    expect(pkg.optionalDependencies).toEqual({ '@cuipc/linux-x64-gnu': pkg.version });
    expect(platformTarball).toBe(join(work, `cuipc-linux-x64-gnu-${pkg.version}.tgz`));
  });

  it('has a platform package of the prebuild files alone, for linux x64 glibc, stamped with the native sources cuipc ships', () => {
    const traceShipped = platformListing.includes('libcuipc_trace.so');
    expect([...platformListing].sort()).toEqual([...PREBUILD_FILES, ...(traceShipped ? ['libcuipc_trace.so'] : []), 'package.json', 'LICENSE'].sort());
    const pkg = JSON.parse(readFileSync(join(platformUnpacked, 'package', 'package.json'), 'utf8')) as Record<string, unknown>;
    const main = JSON.parse(readFileSync(join(unpacked, 'package', 'package.json'), 'utf8')) as { version: string; license: string };
    expect(pkg).toMatchObject({ name: '@cuipc/linux-x64-gnu', version: main.version, license: main.license, os: ['linux'], cpu: ['x64'], libc: ['glibc'], main: 'cuipc.glibc.node' });
    expect(pkg.scripts).toBeUndefined();
    const hash = spawnSync(process.execPath, [join(unpacked, 'package', 'scripts', 'native-hash.cjs')], { encoding: 'utf8' });
    const stamp = readFileSync(join(platformUnpacked, 'package', 'cuipc-native.sha256'), 'utf8');
    expect(stamp.trim()).toBe(hash.stdout.trim());
    // The size, for the record (the budget is cuipc's own tarball's).
    console.log(`cuipc tarball ${packSize} bytes; @cuipc/linux-x64-gnu tarball ${statSync(platformTarball).size} bytes`);
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

  it(`ships what runs once, within ${MAX_TARBALL_BYTES / 1000} kB, and a package.json with no prepare script`, () => {
    expect(packSize).toBe(statSync(tarball).size);
    expect(packSize).toBeLessThanOrEqual(MAX_TARBALL_BYTES);
    // The JavaScript is dist/bundle alone: no TypeScript sources, no module tree, no source maps,
    // no local build output.
    expect(listing.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(listing.filter((f) => f.endsWith('.js') || f.endsWith('.cjs')).filter((f) => !/^(dist\/bundle|bin|scripts)\//.test(f) && !f.startsWith('python/'))).toEqual([]);
    expect(listing.filter((f) => f.endsWith('.map') || /^(build|lib\/(?!env\/relevant-variables\.json$))/.test(f))).toEqual([]);
    // What a source build needs where no prebuild fits (scripts/install.cjs).
    for (const file of ['CMakeLists.txt', 'native/addon.cc', 'lib/env/relevant-variables.json', 'scripts/install.cjs', 'scripts/native-hash.cjs']) expect(listing).toContain(file);
    const pkg = JSON.parse(readFileSync(join(unpacked, 'package', 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(Object.keys(pkg.scripts)).not.toContain('prepare');
  });

  it('has declarations whose every relative import it ships', () => {
    const shipped = new Set(listing.map((f) => normalize(f)));
    const dangling: string[] = [];
    for (const file of listing.filter((f) => /\.d\.c?ts$/.test(f))) {
      const text = readFileSync(join(unpacked, 'package', file), 'utf8');
      for (const [, spec] of text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)\.js'/g)) {
        const target = normalize(join(dirname(file), `${spec}.d.ts`));
        if (!shipped.has(target)) dangling.push(`${file} -> ${target}`);
      }
    }
    expect(listing).toContain('dist/types/index.d.ts');
    expect(dangling).toEqual([]);
  });

  it('installs with the platform package and no build tool on the PATH, and `npx cuipc probe --backend sim --ranks 4` passes', () => {
    for (const tool of ['cmake', 'g++', 'c++', 'make', 'nvcc']) {
      expect(spawnSync(tool, ['--version'], { env: toolless }).error, `${tool} must not be reachable`).toBeDefined();
    }
    // Both tarballs in one install, as `npm install ./cuipc-*.tgz`: the platform package's local
    // tarball satisfies cuipc's optional dependency, so npm asks no registry for it (--loglevel
    // http lists every request on stderr); cuipc's regular dependencies may come from the cache.
    const install = run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', '--loglevel', 'http', platformTarball, tarball], app, toolless);
    expect(install.status, `${install.stdout}\n${install.stderr}`).toBe(0);
    expect(install.stderr).not.toMatch(/GET \d+ \S*@cuipc/i);
    expect(install.stdout).toContain('cuipc: using @cuipc/linux-x64-gnu/cuipc.glibc.node');
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
    // The addon, and the libraries beside it, come from the platform package.
    const platformDir = join(app, 'node_modules', '@cuipc', 'linux-x64-gnu');
    expect(libs.find((l) => l.id === 'addon')?.path).toBe(join(platformDir, 'cuipc.glibc.node'));
    for (const id of ['sim', 'interposer']) expect(libs.find((l) => l.id === id)?.path).toBe(join(platformDir, id === 'sim' ? 'libcuipc_sim.so' : 'libcuipc_vmm_interposer.so'));
    const traceShipped = platformListing.includes('libcuipc_trace.so');
    expect(libs.find((l) => l.id === 'trace')?.exists).toBe(traceShipped);
    expect(paths.status).toBe(libs.every((l) => l.exists) ? 0 : 1);

    // doctor: on the simulated device it passes; on this machine it gives a verdict (no GPU:
    // COULD NOT CHECK, exit 3), never a crash.
    const simDoctor = run('npx', ['cuipc', 'doctor'], app, { ...toolless, CUIPC_BACKEND: 'sim' }, 30_000);
    expect(simDoctor.status, `${simDoctor.stdout}\n${simDoctor.stderr}`).toBe(0);
    expect(simDoctor.stdout).toMatch(/^OK: /m);
    const doctor = run('npx', ['cuipc', 'doctor'], app, toolless, 30_000);
    expect([0, 1, 3], `${doctor.stdout}\n${doctor.stderr}`).toContain(doctor.status);
    expect(doctor.stdout).toMatch(/^(OK|HAZARD \[high\]|FAILED|COULD NOT CHECK)\b/m);
    expect(doctor.stderr).not.toMatch(/\n\s+at /);
  }, 85_000);

  it('works from both import and require in the installed project', () => {
    const program = (load: string): string => `${load}
      const report = await cuipc.probe({ backend: 'sim', ranks: 2 });
      const cuda = cuipc.openCuda({ backend: 'sim' });
      const a = cuda.malloc('device', 1 << 20);
      const h = a.ok ? cuda.ipcGetMemHandle(a.value.ptr) : a;
      let refused = '';
      try { await cuipc.probe({ ranks: 0 }); } catch (e) { refused = e instanceof cuipc.ProbeUsageError ? 'usage' : String(e); }
      console.log(JSON.stringify({ result: report.result, exported: h.ok, refused, render: typeof cuipc.renderProbeReport(report) }));`;
    const expected = { result: 'passed', exported: true, refused: 'usage', render: 'string' };
    writeFileSync(join(app, 'use.mjs'), program("import * as cuipc from 'cuipc';"));
    writeFileSync(join(app, 'use.cjs'), `(async () => { ${program("const cuipc = require('cuipc');")} })().catch((e) => { console.error(e); process.exit(1); });`);
    for (const file of ['use.mjs', 'use.cjs']) {
      const r = run(process.execPath, [file], app, toolless, 60_000);
      expect(r.status, `${file}:\n${r.stdout}\n${r.stderr}`).toBe(0);
      expect(JSON.parse(r.stdout.trim().split('\n').pop() ?? ''), file).toEqual(expected);
    }
  }, 130_000);

  it('without the platform package and a compiler, fails its install naming the platform package; with scripts off, doctor names it', () => {
    // --offline: the registry is never asked. The optional dependency is not in the cache, so
    // npm leaves it out (as it does where os, cpu or libc do not fit); cuipc's regular
    // dependencies are in the cache since the install above.
    const bare = join(work, 'bare');
    mkdirSync(bare);
    writeFileSync(join(bare, 'package.json'), JSON.stringify({ name: 'bare', private: true }));
    const install = run('npm', ['install', '--no-audit', '--no-fund', '--offline', '--foreground-scripts', tarball], bare, toolless);
    const output = `${install.stdout}\n${install.stderr}`;
    expect(install.status, output).not.toBe(0);
    expect(output).toContain('@cuipc/linux-x64-gnu (an optional dependency) is not installed');
    expect(output).toContain('npm install @cuipc/linux-x64-gnu@');
    expect(existsSync(join(bare, 'node_modules', '@cuipc', 'linux-x64-gnu'))).toBe(false);

    const noScripts = run('npm', ['install', '--no-audit', '--no-fund', '--offline', '--ignore-scripts', tarball], bare, toolless);
    expect(noScripts.status, `${noScripts.stdout}\n${noScripts.stderr}`).toBe(0);
    const doctor = run('npx', ['cuipc', 'doctor'], bare, toolless, 30_000);
    expect(doctor.status).toBe(3);
    expect(doctor.stderr).toContain('tried @cuipc/linux-x64-gnu (an optional dependency): not installed');
    expect(doctor.stderr).toContain('What to do: install @cuipc/linux-x64-gnu (npm install --include=optional) or build from source: CUIPC_FORCE_BUILD=1 npm rebuild cuipc');
  }, 90_000);
});
