// probe()'s onAnswer: the report comes as soon as the verdict is known, before the ranks have
// exited (a rank held in its exit by fixtures/slow-exit.mjs until the callback lets it go), and
// it is the final report less what the ranks' leaving adds; probe() still resolves only once
// every rank is gone. No duration is asserted: the order is forced by the held rank.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { probe, type ProbeReport } from '../../lib/probe/index.js';
import { isAlive } from './helpers.js';

const fixture = new URL('./fixtures/slow-exit.mjs', import.meta.url).href;
let scratch: string | null = null;
afterEach(() => {
  if (scratch) writeFileSync(join(scratch, 'release'), ''); // never leave a held rank behind
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  scratch = null;
});

function heldRank(rank: number): { env: Record<string, string>; release: string } {
  scratch = mkdtempSync(join(tmpdir(), 'cuipc-answer-'));
  const release = join(scratch, 'release');
  return { env: { NODE_OPTIONS: `--import=${fixture}`, CUIPC_TEST_SLOW_EXIT_RANK: String(rank), CUIPC_TEST_RELEASE: release }, release };
}

/** What the ranks' leaving adds to a report; the rest must be the same. */
function withoutLeaving(report: ProbeReport): unknown {
  return { ...report, durationMs: 0, cleanedUp: [], ranks: report.ranks.map((r) => ({ ...r, exit: null, stderrTail: '' })) };
}

describe('probe() onAnswer', () => {
  it('gets the verdict while a rank is still exiting; the final report is the same but for the leaving', async () => {
    const { env, release } = heldRank(1);
    const answers: Array<{ report: ProbeReport; alive: boolean[] }> = [];
    const report = await probe({
      ranks: 2,
      inputs: 4,
      backend: 'sim',
      env,
      onAnswer: (early) => {
        answers.push({ report: early, alive: early.ranks.map((r) => r.pid !== null && isAlive(r.pid)) });
        writeFileSync(release, '');
      },
    });
    expect(answers).toHaveLength(1);
    const [{ report: early, alive }] = answers;
    expect(early.result).toBe('passed');
    // Held until the callback let it go: it cannot have exited before the answer.
    expect(alive[1]).toBe(true);
    expect(early.ranks[1].exit).toBeNull();
    expect(report.result).toBe('passed');
    expect(report.exitCode).toBe(0);
    // Released, not killed: it left after the answer, on its own.
    expect(report.ranks[1].exit).toEqual({ code: 0, signal: null });
    expect(report.ranks.every((r) => r.pid !== null && !isAlive(r.pid))).toBe(true);
    expect(withoutLeaving(early)).toEqual(withoutLeaving(report));
  });

  it('a failing probe answers with its pinpoint before the ranks leave', async () => {
    const { env, release } = heldRank(0);
    let early: ProbeReport | null = null;
    const report = await probe({
      ranks: 2,
      inputs: 4,
      backend: 'sim',
      env: { ...env, CUIPC_SIM_FAULT: 'cudaIpcOpenMemHandle@1#1=1' },
      onAnswer: (answer) => {
        early = answer;
        writeFileSync(release, '');
      },
    });
    expect(report.result).toBe('failed');
    expect(early).not.toBeNull();
    expect(withoutLeaving(early as unknown as ProbeReport)).toEqual(withoutLeaving(report));
  });

  it('an exception in onAnswer rejects probe() after every rank is gone', async () => {
    const { env } = heldRank(99);
    let pids: Array<number | null> = [];
    await expect(
      probe({
        ranks: 2,
        inputs: 4,
        backend: 'sim',
        env,
        onAnswer: (answer) => {
          pids = answer.ranks.map((r) => r.pid);
          throw new Error('the caller broke');
        },
      }),
    ).rejects.toThrow('the caller broke');
    expect(pids.length).toBe(2);
    expect(pids.every((pid) => pid !== null && !isAlive(pid))).toBe(true);
  });

  it('a probe that ends before any rank starts answers once, with the final report', async () => {
    const controller = new AbortController();
    controller.abort();
    const answers: ProbeReport[] = [];
    const report = await probe({ ranks: 2, backend: 'sim', signal: controller.signal, onAnswer: (r) => answers.push(r) });
    expect(report.result).toBe('aborted');
    expect(answers).toEqual([report]);
  });

  it('onAnswer must be a function', async () => {
    await expect(probe({ backend: 'sim', onAnswer: 'no' as unknown as () => void })).rejects.toThrow(TypeError);
  });
});
