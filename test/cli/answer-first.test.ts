// `cuipc probe` answers first, then tears down (lib/cli/answer-first.ts): the verdict is on
// stdout while a rank is still exiting (held by test/probe/fixtures/slow-exit.mjs until the test
// has read the verdict), the process still waits for it and exits with the documented status,
// and -o gets the final report. A signal while the ranks leave turns the answer into
// INTERRUPTED (exit 130), said on one more line. The order is forced by the held rank; nothing
// is timed.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProbeReport } from '../../lib/report/types.js';
import { isAlive } from '../probe/helpers.js';

const bin = fileURLToPath(new URL('../../bin/cuipc.js', import.meta.url));
const fixture = new URL('../probe/fixtures/slow-exit.mjs', import.meta.url).href;
let scratch: string | null = null;
afterEach(() => {
  if (scratch) writeFileSync(join(scratch, 'release'), '');
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  scratch = null;
});

interface Run {
  /** Resolves with stdout so far once it contains `text`. */
  seen(text: string): Promise<string>;
  exited: Promise<{ code: number | null; stdout: string }>;
  kill(signal: NodeJS.Signals): void;
  release: string;
  out: string;
}

function startProbe(args: string[]): Run {
  scratch = mkdtempSync(join(tmpdir(), 'cuipc-answer-cli-'));
  const release = join(scratch, 'release');
  const out = join(scratch, 'report.json');
  const child = spawn(process.execPath, [bin, 'probe', '--backend', 'sim', '--ranks', '2', '--inputs', '4', '-o', out, ...args], {
    env: { ...process.env, CUIPC_BACKEND: 'sim', NODE_OPTIONS: `--import=${fixture}`, CUIPC_TEST_SLOW_EXIT_RANK: '1', CUIPC_TEST_RELEASE: release },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  const waiting: Array<{ text: string; resolve: (s: string) => void }> = [];
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const w of waiting.splice(0)) {
      if (stdout.includes(w.text)) w.resolve(stdout);
      else waiting.push(w);
    }
  });
  const exited = new Promise<{ code: number | null; stdout: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout })));
  return {
    seen: (text) => (stdout.includes(text) ? Promise.resolve(stdout) : new Promise((resolve) => waiting.push({ text, resolve }))),
    exited,
    kill: (signal) => child.kill(signal),
    release,
    out,
  };
}

describe('cuipc probe answers first', () => {
  it('prints the verdict while a rank is still exiting, then waits for it and exits 0', async () => {
    const run = startProbe([]);
    const early = await run.seen('(exit 0)');
    expect(early).toMatch(/PASSED/);
    // Only now may the held rank go: whatever came before was printed before it exited.
    writeFileSync(run.release, '');
    const { code, stdout } = await run.exited;
    expect(code).toBe(0);
    expect(stdout).toBe(early); // the verdict once, nothing after it
    const report = JSON.parse(readFileSync(run.out, 'utf8')) as ProbeReport;
    expect(report.result).toBe('passed');
    expect(report.ranks[1].exit).toEqual({ code: 0, signal: null }); // released, not killed
    expect(report.ranks.every((r) => r.pid !== null && !isAlive(r.pid))).toBe(true);
  });

  it('SIGINT while the ranks leave: one more line says INTERRUPTED, exit 130, no rank left', async () => {
    const run = startProbe([]);
    await run.seen('(exit 0)');
    run.kill('SIGINT');
    const { code, stdout } = await run.exited;
    expect(code).toBe(130);
    const lines = stdout.trimEnd().split('\n');
    expect(lines.at(-2)).toMatch(/\(exit 0\)/);
    expect(lines.at(-1)).toMatch(/^INTERRUPTED \(exit 130\) while the ranks were leaving, after the answer above: interrupted by SIGINT in step teardown/);
    const report = JSON.parse(readFileSync(run.out, 'utf8')) as ProbeReport;
    expect(report.result).toBe('aborted');
    expect(report.ranks.every((r) => r.pid !== null && !isAlive(r.pid))).toBe(true);
  });

  it('--json prints only the final report, after the ranks left', async () => {
    const run = startProbe(['--json']);
    const leaving = join(`${run.release}.leaving`);
    // The held rank is exiting: let it go, then the JSON comes with its exit.
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        try {
          readFileSync(leaving);
          clearInterval(poll);
          resolve();
        } catch {
          // not yet
        }
      }, 20);
    });
    writeFileSync(run.release, '');
    const { code, stdout } = await run.exited;
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as ProbeReport;
    expect(report.ranks[1].exit).toEqual({ code: 0, signal: null });
  });
});
