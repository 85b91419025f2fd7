// docs/architecture.md shows the layers of lib/ and which folder imports which; its generated
// section must be what scripts/architecture.mjs makes from the code now, and the files the page
// names must exist.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ESM script without type declarations
import { folderGraph, PAGE, regenerate } from '../../scripts/architecture.mjs';

type Graph = Array<[string, string[]]>;
const ROOT = resolve(import.meta.dirname, '..', '..');
const page = readFileSync(PAGE as string, 'utf8');
const graph = (folderGraph as () => Graph)();
const render = regenerate as (page: string, graph: Graph) => string;

describe('docs/architecture.md', () => {
  it('shows the layers and the imports as they are now (node scripts/architecture.mjs regenerates)', () => {
    expect(render(page, graph)).toBe(page);
  });

  it('would be out of date after one more import between folders', () => {
    const more = graph.map(([from, to]): [string, string[]] => [from, from === 'lib/files/' ? [...to, 'lib/env/'] : to]);
    expect(render(page, more)).not.toBe(page);
    expect(render(page, more)).toContain('files --> env');
  });

  it('names only files and folders that exist', () => {
    const named = [...page.matchAll(/`((?:lib|native|test|docs|scripts)\/[^`\s]*|binding\.d\.ts)`/g)].map((m) => m[1]);
    expect(named.length).toBeGreaterThan(20);
    expect(named.filter((p) => !existsSync(join(ROOT, p)))).toEqual([]);
  });
});
