// Shared by the trace tests: the fixture folder, and a trace folder built from fixtures with
// the file names the tracer writes.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProcessTrace } from '../../lib/trace/format.js';
import { parseTrace } from '../../lib/trace/read.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/trace/', import.meta.url));

export function fixtureText(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

export function fixture(name: string): ProcessTrace {
  return parseTrace(fixtureText(name), join(FIXTURES, name));
}

const scratch: string[] = [];

/** Removes the folders scratchDir made (each test file calls it in afterAll). */
export function removeScratchDirs(): void {
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A temporary folder, removed by removeScratchDirs. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

/** A folder holding the fixtures under tracer-style names (cuipc-trace-<run>-<pid>.jsonl). */
export function traceFolder(names: string[]): string {
  const dir = scratchDir('cuipc-trace-test-');
  for (const name of names) {
    const trace = fixture(name);
    const p = trace.process;
    if (!p) throw new Error(`${name} has no process line`);
    writeFileSync(join(dir, `cuipc-trace-${p.run ? `${p.run}-` : ''}${p.pid}.jsonl`), fixtureText(name));
  }
  return dir;
}
