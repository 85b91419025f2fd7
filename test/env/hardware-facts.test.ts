// Reports cite hardware behaviour by anchors of docs/hardware-facts.md (lib/env/hardware-facts.ts):
// every anchor cited must exist on the page, every listed anchor must be cited, and no source
// may cite a document that is not in the repository.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { citeFacts, FACT_ANCHORS, FACTS_PAGE } from '../../lib/env/hardware-facts.js';
import { detectHazards } from '../../lib/env/hazards.js';

const root = join(import.meta.dirname, '..', '..');
const page = readFileSync(join(root, FACTS_PAGE), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}
const lib = sources(join(root, 'lib')).map((path) => ({ path, text: readFileSync(path, 'utf8') }));

describe('citations of docs/hardware-facts.md', () => {
  it.each([...FACT_ANCHORS])('#%s is an anchor on the page', (anchor) => {
    expect(page).toContain(`<a id="${anchor}"></a>`);
  });

  it.each([...FACT_ANCHORS])('#%s is cited by a source in lib/', (anchor) => {
    const cited = lib.filter((f) => !f.path.endsWith('hardware-facts.ts') && (new RegExp(`citeFacts\\([^)]*'${anchor}'`).test(f.text) || f.text.includes(`hardware-facts.md#${anchor}`)));
    expect(cited.map((f) => f.path)).not.toEqual([]);
  });

  it('every anchor a comment or string in lib/ names is on the page', () => {
    const named = lib.flatMap((f) => [...f.text.matchAll(/hardware-facts\.md#([a-z0-9-]+)/g)].map((m) => m[1]));
    expect(named.length).toBeGreaterThan(0);
    for (const anchor of named) expect(page, anchor).toContain(`<a id="${anchor}"></a>`);
  });

  it('names the page and its anchors', () => {
    expect(citeFacts('capture')).toBe('docs/hardware-facts.md#capture');
    expect(citeFacts('vmm-not-exportable', 'expandable-segments')).toBe('docs/hardware-facts.md#vmm-not-exportable, #expandable-segments');
  });

  it('no source in lib/ cites the document that is not in the repository', () => {
    expect(lib.filter((f) => f.text.includes('h200-ipc-truth')).map((f) => f.path)).toEqual([]);
  });

  it('hazard evidence cites the page', () => {
    const h = detectHazards({ PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True' }, { inspectFiles: false });
    expect(h.map((x) => x.evidence).join('\n')).toMatch(/docs\/hardware-facts\.md#expandable-segments/);
  });
});
