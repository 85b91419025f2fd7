// The one list of CUIPC_* variables (lib/env/variables.ts) against what the sources read and
// what README's table says: a variable read anywhere must be listed, a listed one must be read
// where the list says, and the README's table must be the list.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CUIPC_VARIABLES, variablesTable } from '../../lib/env/variables.js';

const ROOT = join(import.meta.dirname, '..', '..');
const SKIP = new Set(['node_modules', 'dist', 'build', 'prebuilds', '.git']);

function files(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .filter((e) => !SKIP.has(e.name) && !e.name.startsWith('.readme-'))
    .flatMap((e) => (e.isDirectory() ? files(join(path, e.name)) : /\.(ts|cts|mts|mjs|cjs|js|py|cc|h|sh)$/.test(e.name) ? [join(path, e.name)] : []));
}

// What reads a variable: process.env.X / env.X / env['X'] (TS, JS), getenv("X") (C++), a quoted
// name (a constant that names it: lib/probe/protocol.ts, python/cuipc_ray). An assignment is no read.
const READS = [
  /(?:process\.)?env(?:\.|\[['"])(CUIPC_[A-Z0-9_]+)\b(?!['"]?\]?\s*=[^=])/g,
  /getenv\("(CUIPC_[A-Z0-9_]+)"\)/g,
  /['"](CUIPC_[A-Z0-9_]+)['"]/g,
];
const SOURCES = ['lib', 'bench', 'native', 'python', 'scripts', 'bin', 'test'].flatMap((d) => files(join(ROOT, d)))
  .filter((f) => !f.endsWith(join('lib', 'env', 'variables.ts')) && !f.endsWith(join('test', 'env', 'variables.test.ts')))
  .map((path) => ({ path: relative(ROOT, path), text: readFileSync(path, 'utf8') }));

describe('CUIPC_* environment variables', () => {
  it('every variable a source reads is in the list', () => {
    const listed = new Set(CUIPC_VARIABLES.map((v) => v.name));
    const unlisted = new Map<string, string>();
    for (const { path, text } of SOURCES) {
      for (const pattern of READS) {
        for (const m of text.matchAll(pattern)) if (!listed.has(m[1] as `CUIPC_${string}`)) unlisted.set(m[1], path);
      }
    }
    expect(Object.fromEntries(unlisted)).toEqual({});
  });

  it.each(CUIPC_VARIABLES.map((v) => [v.name, v] as const))('%s is named where the list says it is read', (name, v) => {
    expect(new Set(CUIPC_VARIABLES.map((x) => x.name)).size).toBe(CUIPC_VARIABLES.length);
    for (const place of v.readBy) {
      expect(existsSync(join(ROOT, place)), place).toBe(true);
      const texts = files(join(ROOT, place)).map((f) => readFileSync(f, 'utf8'));
      expect(texts.some((t) => t.includes(name)), `${name} in ${place}`).toBe(true);
    }
  });

  it("README's table is the list", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(variablesTable());
    // Every variable README mentions anywhere is in the list.
    const named = new Set([...readme.matchAll(/\bCUIPC_[A-Z0-9_]*[A-Z0-9]\b/g)].map((m) => m[0]));
    for (const n of named) expect(CUIPC_VARIABLES.map((v) => v.name as string), n).toContain(n);
  });
});
