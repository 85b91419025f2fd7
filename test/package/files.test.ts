// package.json's `files` against the bench: the benchmark is a development tool (bench/, built
// to dist-bench/) and must not ship, nor the dist/bench or lib/bench a checkout built before it
// moved out of lib/ still holds. Nor does anything ship twice: the bundles run, so the
// TypeScript sources, tsc's module tree and its source maps stay home, and the prebuilds ship
// in the platform package (@cuipc/linux-x64-gnu), not in cuipc's tarball. `npm pack --dry-run` in a folder with the real package.json
// and a stand-in file at each of those places lists what a pack would take; no build, no
// scripts, a few seconds (pack.test.ts checks the real tarball, from a clean copy).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'cuipc-files-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Stand-ins: what ships (the control), every place bench code is or was, and second copies. */
const SHIPPED = ['dist/bundle/index.js', 'dist/bundle/index.cjs', 'dist/types/index.d.ts', 'dist/binding.d.ts', 'lib/env/relevant-variables.json', 'native/addon.cc', 'bin/cuipc.js'];
const TWICE = ['lib/index.ts', 'lib/probe/rank.ts', 'dist/index.js', 'dist/index.js.map', 'dist/probe/rank.js', 'dist/probe/index.d.ts', 'dist/cli/main.d.ts', 'build/Release/cuipc.node', 'prebuilds/linux-x64/cuipc.glibc.node', 'dist/platform/linux-x64-gnu/cuipc.glibc.node', 'platform/linux-x64-gnu/cuipc.glibc.node'];
const BENCH = ['bench/run.ts', 'bench/torch_share_graph_inputs.py', 'dist-bench/run.js', 'dist/bench/run.js', 'lib/bench/run.ts', 'native/bench/raw_probe.cc'];

describe("package.json's files", () => {
  it('takes the product, no bench file and nothing twice', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
    delete pkg.scripts;
    writeFileSync(join(work, 'package.json'), JSON.stringify(pkg));
    for (const file of [...SHIPPED, ...BENCH, ...TWICE]) {
      mkdirSync(dirname(join(work, file)), { recursive: true });
      writeFileSync(join(work, file), '');
    }
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
    const packed = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: work, env, encoding: 'utf8', timeout: 60_000 });
    expect(packed.status, packed.stderr).toBe(0);
    const listed = (JSON.parse(packed.stdout) as Array<{ files: Array<{ path: string }> }>)[0].files.map((f) => f.path);
    for (const file of SHIPPED) expect(listed).toContain(file);
    expect(listed.filter((f) => BENCH.includes(f) || /(^|\/)(bench|dist-bench)\//.test(f))).toEqual([]);
    expect(listed.filter((f) => TWICE.includes(f))).toEqual([]);
  }, 70_000);
});
