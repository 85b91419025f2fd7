// The slow-suite list (test/suites.ts) decides what `npm test` leaves to `npm run test:all`: an
// entry that names no file would silently leave a slow suite in the quick loop (or a renamed one
// out of nothing), so each entry must match a test file, and the configurations must partition
// the suites: quick + slow = all, nothing in both.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NOT_HERE, SLOW_SUITES } from '../suites.js';

function testFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return entry.name === 'fixtures' ? [] : testFiles(path);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** The globs test/suites.ts uses: a path, or one with ** (any folders) and * (within a name). */
function globRegExp(pattern: string): RegExp {
  const source = pattern.split('/**/').map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')).join('/(?:.*/)?');
  return new RegExp(`^${source}$`);
}

const all = testFiles('test').filter((file) => !file.startsWith('test/gpu/')).sort();
const matches = (pattern: string): string[] => all.filter((file) => globRegExp(pattern).test(file));

describe('the slow-suite list', () => {
  it.each(SLOW_SUITES)('%s names at least one test file', (pattern) => {
    expect(matches(pattern).length).toBeGreaterThan(0);
  });

  it('splits the suites: those npm test runs and the slow ones are all of them, with none in both', () => {
    const slow = new Set(SLOW_SUITES.flatMap(matches));
    const quick = all.filter((file) => !slow.has(file));
    expect(quick.length).toBeGreaterThan(0);
    expect([...quick, ...slow].sort()).toEqual(all);
    expect(NOT_HERE).toContain('test/gpu/**');
  });
});
