// Ranks start without transparent huge pages (lib/launch/huge-pages.ts): a plain launch's ranks
// read their THP flag from /proc and find it off, and the coordinator's own flag is as it was.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startingWithoutHugePages } from '../../lib/launch/huge-pages.js';
import { plainLauncher } from '../../lib/launch/plain.js';
import { resolveProbeOptions } from '../../lib/probe/options.js';

const scratch = mkdtempSync(join(tmpdir(), 'cuipc-thp-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const flagOf = (status: string): string | undefined => /^THP_enabled:\s*(\d)$/m.exec(status)?.[1];
const ownFlag = (): string | undefined => flagOf(readFileSync('/proc/self/status', 'utf8'));
// Kernels before 5.0 show no flag in /proc; nothing to read back there.
const readable = ownFlag() !== undefined;

describe('ranks start without transparent huge pages', () => {
  it.runIf(readable)("a plain launch's ranks start with the flag set, and this process's flag is put back", async () => {
    const before = ownFlag();
    const resolved = resolveProbeOptions({ backend: 'sim', ranks: 2 }, {});
    // Each "rank" writes the flag it started with, read before it does anything else.
    const rank = "require('node:fs').writeFileSync(process.argv[1] + '/' + process.env.CUIPC_RANK, require('node:fs').readFileSync('/proc/self/status', 'utf8'))";
    const launched = plainLauncher(resolved, [0, 0], { program: process.execPath, args: ['-e', rank, scratch] }).start({});
    expect(ownFlag()).toBe(before);
    await Promise.all(launched.ranks.map((r) => r.exited));
    expect([0, 1].map((r) => flagOf(readFileSync(join(scratch, String(r)), 'utf8')))).toEqual(['0', '0']);
  });

  it.runIf(readable)('what the callback returns or throws comes back, and the flag is put back either way', () => {
    const before = ownFlag();
    expect(startingWithoutHugePages(() => ownFlag())).toBe('0');
    expect(ownFlag()).toBe(before);
    expect(() => startingWithoutHugePages(() => { throw new RangeError('from the callback'); })).toThrow('from the callback');
    expect(ownFlag()).toBe(before);
  });
});
