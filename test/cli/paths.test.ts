// `cuipc paths`, `--version` and `conformance --compare h200`: what a user reaches for first
// when wiring the interposer into LD_PRELOAD or checking an install. A missing library must be
// reported (exit 1, nothing on stdout for $(...)), never printed as if it were there.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shippedLibraries } from '../../lib/binding/libraries.js';
import { findShippedLibrary, vmmInterposerPath } from '../../lib/binding/native.js';
import { resolveReference, SHIPPED_RECORDINGS } from '../../lib/cli/conformance.js';
import { renderPaths, runPaths } from '../../lib/cli/paths.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'bin', 'cuipc.js');
const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** A package root with a build/Release holding the named files (empty stand-ins). */
function fakeRoot(files: string[]): string {
  const root = mkdtempSync(join(tmpdir(), 'cuipc-paths-'));
  scratch.push(root);
  mkdirSync(join(root, 'build', 'Release'), { recursive: true });
  for (const f of files) writeFileSync(join(root, 'build', 'Release', f), '');
  return root;
}

function capture(): { out: string; err: string; stdout: (t: string) => void; stderr: (t: string) => void } {
  const io = { out: '', err: '', stdout: (t: string) => { io.out += t; }, stderr: (t: string) => { io.err += t; } };
  return io;
}

const NO_OVERRIDES = { PATH: process.env.PATH };

describe('shipped libraries', () => {
  it('reports a missing library with every place looked, and never prints it as a path', () => {
    const root = fakeRoot(['cuipc.node', 'libcuipc_sim.so']);
    const libs = shippedLibraries(NO_OVERRIDES, root);
    const byId = new Map(libs.map((l) => [l.id, l]));
    expect(byId.get('sim')).toMatchObject({ exists: true, path: join(root, 'build', 'Release', 'libcuipc_sim.so') });
    expect(byId.get('interposer')).toMatchObject({ exists: false, path: null });
    expect(byId.get('interposer')!.searched).toContain(join(root, 'build', 'Release', 'libcuipc_vmm_interposer.so'));
    expect(byId.has('tms-standin')).toBe(false);
    const text = renderPaths(libs);
    expect(text).toMatch(/^interposer +MISSING$/m);
    expect(text).toContain(`looked in ${join(root, 'build', 'Release', 'libcuipc_vmm_interposer.so')}`);

    const one = capture();
    expect(runPaths('interposer', {}, one, libs)).toBe(1);
    expect(one.out).toBe('');
    expect(one.err).toContain('interposer');
    const all = capture();
    expect(runPaths(undefined, {}, all, libs)).toBe(1);
    const json = capture();
    expect(runPaths(undefined, { json: true }, json, libs)).toBe(1);
    const doc = JSON.parse(json.out) as { kind: string; libraries: Array<{ id: string; exists: boolean }> };
    expect(doc.kind).toBe('paths');
    expect(doc.libraries.find((l) => l.id === 'interposer')?.exists).toBe(false);
    expect(runPaths('nonesuch', {}, capture(), libs)).toBe(2);
  });

  it('lists the tms stand-in only when a build made one', () => {
    const root = fakeRoot(['cuipc.node', 'libcuipc_sim.so', 'libcuipc_vmm_interposer.so', 'libcuipc_tms_standin.so']);
    const tms = shippedLibraries(NO_OVERRIDES, root).find((l) => l.id === 'tms-standin');
    expect(tms).toMatchObject({ exists: true, optional: true, path: join(root, 'build', 'Release', 'libcuipc_tms_standin.so') });
  });

  it('finds every library by one rule: the override alone, else beside the addon, the prebuild folder, build/Release, build/Debug', () => {
    const root = fakeRoot(['cuipc.node', 'libcuipc_sim.so']);
    const prebuild = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    mkdirSync(prebuild, { recursive: true });
    mkdirSync(join(root, 'build', 'Debug'));
    for (const f of ['libcuipc_sim.so', 'libcuipc_vmm_interposer.so']) writeFileSync(join(prebuild, f), '');
    writeFileSync(join(root, 'build', 'Debug', 'libcuipc_trace.so'), '');
    const byId = new Map(shippedLibraries(NO_OVERRIDES, root).map((l) => [l.id, l]));
    // The addon is build/Release's: its sim wins over the prebuild's; what only the prebuild has comes from there.
    expect(byId.get('sim')!.path).toBe(join(root, 'build', 'Release', 'libcuipc_sim.so'));
    expect(byId.get('interposer')!.path).toBe(join(prebuild, 'libcuipc_vmm_interposer.so'));
    expect(byId.get('trace')!.path).toBe(join(root, 'build', 'Debug', 'libcuipc_trace.so'));
    expect(byId.get('interposer')!.searched).toEqual(['build/Release', prebuild, 'build/Debug'].map((d) => join(d.startsWith('/') ? d : join(root, d), 'libcuipc_vmm_interposer.so')));
    expect(findShippedLibrary('libcuipc_sim.so', { override: join(root, 'nonesuch.so'), root })).toEqual({ path: null, searched: [join(root, 'nonesuch.so')] });
  });

  it('on this checkout, names the interposer file the probe itself would preload', () => {
    const libs = shippedLibraries();
    for (const id of ['addon', 'sim', 'interposer'] as const) expect(libs.find((l) => l.id === id)?.exists).toBe(true);
    const result = spawnSync(process.execPath, [CLI, 'paths', 'interposer'], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`${resolve(vmmInterposerPath())}\n`);
  });
});

describe('--version and the shipped H200 recording', () => {
  it('--version prints the version in package.json', () => {
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const result = spawnSync(process.execPath, [CLI, '--version'], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`${version}\n`);
  });

  it('--compare h200 (or h200.json) reads the shipped recording unless such a file is here', () => {
    const shipped = join(SHIPPED_RECORDINGS, 'h200.json');
    expect(resolveReference('h200')).toBe(shipped);
    expect(resolveReference('h200.json')).toBe(shipped);
    expect(resolveReference('./h200.json')).toBe('./h200.json');
    const here = join(fakeRoot([]), 'h200.json');
    writeFileSync(here, '{}');
    expect(resolveReference(here)).toBe(here);
  });
});
