// Help a person can scan (issue 23): every --help fits 80 columns, the probe's options are in
// groups with short flags for the common ones, and each command's help ends with examples.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../bin/cuipc.js', import.meta.url));

function help(command: string[]): string {
  const env = { ...process.env };
  delete env.COLUMNS;
  const r = spawnSync(process.execPath, [bin, ...command, '--help'], { encoding: 'utf8', timeout: 60_000, env });
  expect(r.status).toBe(0);
  return r.stdout;
}

const COMMANDS = [[], ['doctor'], ['probe'], ['matrix'], ['bisect'], ['env'], ['env', 'capture'], ['env', 'diff'], ['conformance'], ['trace'], ['paths']];

describe('--help', () => {
  it.each(COMMANDS.map((c) => [c.join(' ') || 'cuipc', c]))('%s fits 80 columns', (_name, command) => {
    const lines = help(command as string[]).split('\n');
    expect(lines.filter((l) => l.length > 80)).toEqual([]);
  });

  it.each(COMMANDS.filter((c) => c.length > 0 && c.join(' ') !== 'env').map((c) => [c.join(' '), c]))('%s ends with examples', (_name, command) => {
    expect(help(command as string[])).toMatch(/\nExamples?:\n(.*\n)*\s+(npx )?cuipc /);
  });

  it("probe's options are grouped, with short flags for the common ones", () => {
    const text = help(['probe']);
    for (const group of ['Probe options:', "The ranks' environment:", 'Output:']) expect(text).toContain(`\n${group}\n`);
    for (const flag of ['-r, --ranks <n>', '-e, --env <KEY=VALUE>', '-o, --out <file>', '-q, --quiet', '-v, --verbose']) expect(text).toContain(flag);
  });

  it('short flags work: -r and -e as --ranks and --env', () => {
    const r = spawnSync(process.execPath, [bin, 'probe', '-r', '1', '--inputs', '1', '-e', 'FOO=1', '--json'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, CUIPC_BACKEND: 'sim' } });
    const report = JSON.parse(r.stdout) as { options: { ranks: number; envKeys: string[] } };
    expect(report.options.ranks).toBe(1);
    expect(report.options.envKeys).toContain('FOO');
  });
});

describe('help prose', () => {
  it('is rejoined into paragraphs before it is wrapped: no line of a paragraph is broken twice', async () => {
    const { joinProseLines } = await import('../../lib/report/text.js');
    expect(joinProseLines('A long sentence written\nwith its own breaks.\n\nExamples:\n  cuipc x\n  cuipc y\n- an item\nthat continues')).toBe(
      'A long sentence written with its own breaks.\n\nExamples:\n  cuipc x\n  cuipc y\n- an item\nthat continues',
    );
  });
});
