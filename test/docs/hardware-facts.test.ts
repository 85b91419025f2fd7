// docs/hardware-facts.md is what reports cite for hardware behaviour, so every value it states
// must be what the H200 recording holds: its generated section is regenerated and compared, each
// `recorded:` line is checked against the cell it names, and every file and anchor it cites exists.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ESM script without type declarations
import { PAGE, RECORDING, regenerate } from '../../scripts/hardware-facts.mjs';

const ROOT = resolve(import.meta.dirname, '..', '..');
const page = readFileSync(PAGE as string, 'utf8');
const recording = JSON.parse(readFileSync(RECORDING as string, 'utf8')) as { cells: Array<{ id: string; observed: Record<string, unknown> }> };

describe('docs/hardware-facts.md', () => {
  it('lists every recorded cell as the recording holds it (node scripts/hardware-facts.mjs regenerates)', () => {
    expect((regenerate as (p: string, r: unknown) => string)(page, recording)).toBe(page);
  });

  it('states in each `recorded:` line exactly the values of the cell it names', () => {
    const lines = page.split('\n').filter((l) => l.startsWith('- recorded: '));
    expect(lines.length).toBeGreaterThan(15);
    const wrong: string[] = [];
    for (const line of lines) {
      const m = /^- recorded: `([^`]+)` (.+)$/.exec(line);
      if (!m) { wrong.push(`unreadable: ${line}`); continue; }
      const cell = recording.cells.find((c) => c.id === m[1]);
      if (!cell) { wrong.push(`no cell ${m[1]}`); continue; }
      for (const pair of m[2].trim().split(/\s+/)) {
        const [key, value] = pair.split('=');
        const actual = cell.observed[key];
        const text = typeof actual === 'string' ? actual : JSON.stringify(actual);
        if (text !== value) wrong.push(`${m[1]} ${key}: page says ${value}, recorded ${text}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('cites only files that are in the repository and anchors that are on the page', () => {
    const files = [...page.matchAll(/`((?:docs|test)\/[^`\s*]+\.(?:txt|jsonl|json))`/g)].map((m) => m[1]);
    expect(files.length).toBeGreaterThan(5);
    expect(files.filter((f) => !existsSync(join(ROOT, f)))).toEqual([]);
    const anchors = new Set([...page.matchAll(/<a id="([^"]+)"><\/a>/g)].map((m) => m[1]));
    const links = [...page.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]);
    expect(links.filter((l) => !anchors.has(l))).toEqual([]);
    for (const id of ['vmm-not-exportable', 'expandable-segments', 'last-error', 'capture', 'not-measured']) expect(anchors.has(id)).toBe(true);
  });
});
