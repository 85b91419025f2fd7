// lib/'s layer rules (.dependency-cruiser.cjs) hold: dependency-cruiser finds no cycle and no
// import back up a layer in lib/, every folder of lib/ has its place in a layer, and, so that a
// pass means something, the same configuration does find each kind of violation in a small
// made-up lib/ in a temporary folder.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CONFIG = '.dependency-cruiser.cjs';
const DEPCRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const { LAYERS } = createRequire(import.meta.url)(join(ROOT, CONFIG)) as { LAYERS: { name: string; paths: string[] }[] };

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

/** dependency-cruiser's violations for lib/ under `cwd` with the configuration found there. */
function cruise(cwd: string): Violation[] {
  const run = spawnSync(process.execPath, [DEPCRUISE, 'lib', '--config', CONFIG, '--output-type', 'json'], { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  expect(run.stdout, run.stderr).not.toBe('');
  return (JSON.parse(run.stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

const brief = (v: Violation): string => `${v.rule.name}: ${v.from} -> ${v.to}`;

describe('the layers of lib/', () => {
  it('has no import cycle and no import back up a layer', () => {
    expect(cruise(ROOT).map(brief)).toEqual([]);
  });

  it('places every folder of lib/ in exactly one layer, and names only what exists', () => {
    const paths = LAYERS.flatMap((l) => l.paths);
    expect(new Set(paths).size).toBe(paths.length);
    // What holds TypeScript: an empty folder a move left behind in a checkout is no module.
    const entries = readdirSync(join(ROOT, 'lib'))
      .map((name) => (statSync(join(ROOT, 'lib', name)).isDirectory() ? `lib/${name}/` : `lib/${name}`))
      .filter((e) => (e.endsWith('/') ? readdirSync(join(ROOT, e), { recursive: true }).some((f) => String(f).endsWith('.ts')) : e.endsWith('.ts')));
    for (const entry of entries) expect(paths, `${entry} has no layer in ${CONFIG}`).toContain(entry);
    for (const path of paths) expect(existsSync(join(ROOT, path)), `${CONFIG} names ${path}, which does not exist`).toBe(true);
  });
});

describe('the layer check', () => {
  const work = mkdtempSync(join(tmpdir(), 'cuipc-layers-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  /** A made-up tree: one module per case, named after the rule it must break (or `ok`). */
  const FILES: Record<string, string> = {
    'binding.d.ts': 'export type Ptr = bigint;\n',
    'bench/b.ts': 'export const b = 1;\n',
    'lib/cli/ok.ts': "import type { Ptr } from '../../binding.js';\nimport { c1 } from '../env/c1.js';\nexport const ok = (p: Ptr) => [p, c1];\n",
    'lib/report/r.ts': 'export const r = 1;\n',
    'lib/env/up.ts': "import { r } from '../report/r.js';\nexport const up = r;\n",
    'lib/env/c1.ts': "import { c2 } from './c2.js';\nexport const c1 = () => c2;\n",
    'lib/env/c2.ts': "import { c1 } from './c1.js';\nexport const c2 = () => c1;\n",
    'lib/cuda/k.ts': 'export const k = 1;\n',
    'lib/launch/peer.ts': "import { k } from '../cuda/k.js';\nexport const peer = k;\n",
    'lib/probe/p.ts': 'export interface P { p: number }\n',
    'lib/report/typeonly.ts': "import type { P } from '../probe/p.js';\nexport const t = (p: P) => p.p;\n",
    'lib/newthing/n.ts': "import { r } from '../report/r.js';\nexport const n = r;\n",
    'lib/files/dev.ts': "import { b } from '../../bench/b.js';\nexport const dev = b;\n",
  };

  it('finds each kind of violation, and nothing in what is allowed', () => {
    for (const [path, text] of Object.entries(FILES)) {
      mkdirSync(dirname(join(work, path)), { recursive: true });
      writeFileSync(join(work, path), text);
    }
    copyFileSync(join(ROOT, CONFIG), join(work, CONFIG));
    writeFileSync(join(work, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', strict: true }, include: ['lib/**/*.ts', 'binding.d.ts'] }));
    const found = cruise(work).map(brief).sort();
    expect(found).toEqual([
      'layer-env:env: lib/env/up.ts -> lib/report/r.ts',
      'layer-launch-cuda:launch: lib/launch/peer.ts -> lib/cuda/k.ts',
      'layer-report:report: lib/report/typeonly.ts -> lib/probe/p.ts',
      'no-circular: lib/env/c1.ts -> lib/env/c2.ts',
      'no-development-code: lib/files/dev.ts -> bench/b.ts',
      'not-in-a-layer: lib/newthing/n.ts -> lib/report/r.ts',
    ]);
  });
});
