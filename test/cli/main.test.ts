// The command line as a whole: output to a reader that stops early is no error.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../bin/cuipc.js', import.meta.url));

describe('output to a reader that stops early', () => {
  it('`cuipc probe --help | head -1` and `cuipc env capture | head -1` print their first line and no EPIPE trace', () => {
    const run = spawnSync('sh', ['-c', `'${process.execPath}' '${bin}' probe --help | head -1; '${process.execPath}' '${bin}' env capture | head -1`], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stdout.split('\n')[0]).toMatch(/^Usage: cuipc probe/);
    expect(run.stdout.split('\n')).toHaveLength(3);
    expect(run.stderr).not.toMatch(/EPIPE|Unhandled/);
  });
});
