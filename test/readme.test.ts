// The README is what a new user runs first, so its examples run here as written, on the
// simulated device: the TypeScript blocks (compiled as they stand; only the package name
// `cuipc` is pointed at this checkout's dist/), and the `npx cuipc ...` command lines. Where a
// block shows output as `# ` lines after a command, those lines must appear in the command's
// real output, in that order (`# ...` stands for lines left out), and an `(exit N)` in them
// must be the command's exit status.
//
// Not run here: `npm ci` / `npm test` / `npm run test:all` (this suite is one of them), and the `--launcher ray`
// commands, which need a Ray cluster (test/launch covers that launcher).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const DIST = pathToFileURL(join(ROOT, 'dist', 'index.js')).href;
// Inside the checkout so that `vitest` resolves from node_modules; removed after.
const work = mkdtempSync(join(ROOT, 'test', '.readme-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Block { lang: string; code: string }

function blocks(markdown: string): Block[] {
  return [...markdown.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1], code: m[2] }));
}

/** The environment of a user without a GPU who has set nothing for cuipc. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CUIPC_') && !/^npm_/i.test(k)) env[k] = v;
  return { ...env, ...extra };
}

function pointAtCheckout(code: string): string {
  return code.replace(/from 'cuipc'/g, `from '${DIST}'`);
}

const tsBlocks = blocks(README).filter((b) => b.lang === 'ts');

describe('README TypeScript examples', () => {
  it('has the harness example and the low-level example', () => {
    expect(tsBlocks.map((b) => /from 'vitest'/.test(b.code))).toEqual([true, false]);
  });

  it('the harness example passes as a vitest test, with no backend set in the environment', () => {
    const file = join(work, 'harness.example.ts');
    writeFileSync(file, pointAtCheckout(tsBlocks[0].code));
    writeFileSync(join(work, 'vitest.config.mjs'), "export default { test: { include: ['*.example.ts'], testTimeout: 60000 } };\n");
    const vitest = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
    const result = spawnSync(process.execPath, [vitest, 'run', '--root', work, '--config', join(work, 'vitest.config.mjs')], {
      cwd: work, env: userEnv(), encoding: 'utf8', timeout: 90_000,
    });
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toMatch(/1 passed/);
  }, 100_000);

  it('the low-level example runs, and the handle it shows is what the call returns', () => {
    const code = pointAtCheckout(tsBlocks[1].code);
    const js = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
    const file = join(work, 'low-level.example.mjs');
    writeFileSync(file, `${js}\nprocess.stdout.write(JSON.stringify(h) + '\\n');\n`);
    const result = spawnSync(process.execPath, [file], { cwd: work, env: userEnv(), encoding: 'utf8', timeout: 60_000 });
    expect(result.status, result.stderr).toBe(0);
    const shown = /\/\/ (\{ ok: false.*\})/.exec(tsBlocks[1].code)?.[1];
    expect(shown).toBeDefined();
    const h = JSON.parse(result.stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
    for (const [, key, value] of shown!.matchAll(/(\w+): ('[^']*'|\w+)/g)) {
      expect(JSON.stringify(h[key]), key).toBe(value.startsWith("'") ? JSON.stringify(value.slice(1, -1)) : value);
    }
  }, 70_000);
});

describe('README CommonJS example', () => {
  const jsBlocks = blocks(README).filter((b) => b.lang === 'js');

  it("runs with require('cuipc') as the package's main (dist/bundle/index.cjs) and prints the verdict", () => {
    expect(jsBlocks.length).toBe(1);
    expect(jsBlocks[0].code).toContain("require('cuipc')");
    const file = join(work, 'require.example.cjs');
    writeFileSync(file, jsBlocks[0].code.replace(/require\('cuipc'\)/g, `require(${JSON.stringify(ROOT)})`));
    const result = spawnSync(process.execPath, [file], { cwd: work, env: userEnv(), encoding: 'utf8', timeout: 60_000 });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe('passed');
  }, 70_000);
});

/** `npx cuipc ...` lines from the sh blocks, each with the `# ` output lines that follow it. */
function commands(): Array<{ command: string; expected: string[] }> {
  const found: Array<{ command: string; expected: string[] }> = [];
  // The bisect example is one script (its commands write the files the next ones read):
  // test/bisect/cli.test.ts runs it whole.
  const separate = README.replace(/<!-- bisect-example:start -->[\s\S]*?<!-- bisect-example:end -->/, '');
  for (const block of blocks(separate).filter((b) => b.lang === 'sh')) {
    const lines = block.code.split('\n');
    lines.forEach((line, i) => {
      const command = line.replace(/^npm ci && /, '').trim();
      if (!command.startsWith('npx cuipc ') || command.endsWith('\\') || command.includes('--launcher ray')) return;
      const expected: string[] = [];
      for (const next of lines.slice(i + 1)) {
        if (!next.startsWith('#')) break;
        expected.push(next.replace(/^# ?/, ''));
      }
      found.push({ command, expected });
    });
  }
  return found;
}

describe('README commands', () => {
  const list = commands();

  it('include the probe and the interposer example', () => {
    expect(list.map((c) => c.command)).toEqual(expect.arrayContaining([
      'npx cuipc probe --ranks 4 --backend auto',
      'npx cuipc probe --ranks 4 --env LD_PRELOAD=$(npx cuipc paths interposer) --env SGLANG_MEMORY_SAVER_CUDA_GRAPH=true',
      'npx cuipc probe --ranks 4 --env LD_PRELOAD=$(npx cuipc paths interposer)',
    ]));
  });

  for (const { command, expected } of list) {
    it(`${command}`, () => {
      // A user without a GPU follows the README's note: CUIPC_BACKEND=sim.
      const result = spawnSync('sh', ['-c', command], { cwd: ROOT, env: userEnv({ CUIPC_BACKEND: 'sim' }), encoding: 'utf8', timeout: 60_000 });
      const output = `${result.stdout}${result.stderr}`;
      const exit = expected.map((l) => /\(exit (\d)\)/.exec(l)).find(Boolean);
      expect(result.status, output).toBe(exit ? Number(exit[1]) : 0);
      const actual = output.split('\n').map((l) => l.trimEnd());
      let at = 0;
      for (const want of expected.filter((l) => l.trim() !== '...' && l.trim() !== '')) {
        const index = actual.findIndex((l, i) => i >= at && l === want.trimEnd());
        expect(index, `"${want}" in order in:\n${output}`).toBeGreaterThanOrEqual(0);
        at = index + 1;
      }
    }, 70_000);
  }
});
