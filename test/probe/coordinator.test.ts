// The coordinator against fake ranks (no CUDA): lock step, rejection of garbage and of
// token-less messages, a rank that dies, a rank that hangs, and nothing left behind.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { plainLauncher } from '../../lib/launch/plain.js';
import { coordinate } from '../../lib/probe/coordinator/index.js';
import { resolveProbeOptions, type ProbeOptions } from '../../lib/probe/options.js';
import { renderProbeReport } from '../../lib/report/render.js';
import { STEPS } from '../../lib/model/vocabulary.js';
import { assertValidReport, isAlive } from './helpers.js';

const fakeRank = fileURLToPath(new URL('./fixtures/fake-rank.mjs', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'cuipc-coord-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(options: ProbeOptions) {
  const resolved = resolveProbeOptions({ backend: 'sim', ranks: 3, timeoutMs: 3000, ...options }, {});
  return coordinate({
    options: resolved,
    launcher: plainLauncher(resolved, Array.from({ length: resolved.ranks }, () => 0), { program: process.execPath, args: [fakeRank] }),
    coordinatorSimulated: true,
  });
}

function expectAllGone(pids: Array<number | null>): void {
  for (const pid of pids) {
    expect(pid).toBeTypeOf('number');
    expect(isAlive(pid as number), `pid ${pid} is still alive`).toBe(false);
  }
}

describe('coordinator with fake ranks', () => {
  it('drives every step in lock step and lets the ranks leave', async () => {
    const report = await run({});
    assertValidReport(report);
    expect(report.result).toBe('passed');
    expect(report.exitCode).toBe(0);
    for (const rank of report.ranks) {
      expect(STEPS.map((s) => rank.steps[s].outcome)).toEqual(STEPS.map(() => 'passed'));
      expect(rank.exit).toEqual({ code: 0, signal: null });
    }
    expectAllGone(report.ranks.map((r) => r.pid));
  });

  it('rejects garbage and token-less messages, records them, and carries on', async () => {
    const report = await run({ ranks: 2, env: { FAKE_MODE_1: 'noise' } });
    assertValidReport(report);
    expect(report.result).toBe('passed');
    const reasons = report.rejected.map((r) => r.reason);
    expect(reasons).toContain('not JSON');
    expect(reasons).toContain('no token');
    expect(report.rejected.some((r) => r.sample.includes('garbage from elsewhere'))).toBe(true);
    expect(renderProbeReport(report)).toMatch(/Rejected 3 message\(s\) on the rendezvous/);
  });

  it('never admits a rank whose hello has no token: it is reported as not connecting (exit 3)', async () => {
    const started = Date.now();
    const report = await run({ ranks: 2, timeoutMs: 1500, env: { FAKE_MODE_0: 'no-token' } });
    assertValidReport(report);
    expect(Date.now() - started).toBeLessThan(1500 + 4000);
    expect(report.result).toBe('aborted');
    expect(report.exitCode).toBe(3);
    // The fake rank leaves when its connection is dropped; the report says why it never got in.
    expect(report.abort).toMatchObject({ rank: 0, step: 'init' });
    expect(report.abort?.message).toMatch(/never got past the rendezvous \(1 message\(s\) rejected, the first: no token\)/);
    expect(report.rejected[0]).toMatchObject({ reason: 'no token' });
    expectAllGone(report.ranks.map((r) => r.pid));
  });

  it('names the rank, step and call when a rank dies, and kills the others', async () => {
    const report = await run({ env: { FAKE_MODE_2: 'die-at:import' } });
    assertValidReport(report);
    expect(report.exitCode).toBe(3);
    expect(report.abort).toMatchObject({ reason: 'crashed', rank: 2, step: 'import', call: 'cudaIpcOpenMemHandle', signal: 'SIGKILL' });
    expect(report.ranks[2].steps.import.outcome).toBe('crashed');
    expect(report.ranks[2].steps.import.inFlight?.call).toBe('cudaIpcOpenMemHandle');
    expect(report.ranks[0].steps.exchange.outcome).toBe('passed');
    expect(report.ranks[0].steps.replay.outcome).toBe('not-run');
    expect(renderProbeReport(report)).toMatch(/COULD NOT RUN \(exit 3, crashed\): rank 2 was killed by SIGKILL in step import during cudaIpcOpenMemHandle/);
    expectAllGone(report.ranks.map((r) => r.pid));
  });

  it('a call made before its round that returned is not the one a rank is named as stuck in', async () => {
    // Rank 0 started its context early and it returned; rank 1 then hangs in init. Interrupted
    // there, the report must name rank 1's call, not rank 0's older, finished cudaFree.
    const interrupt = new AbortController();
    const resolved = resolveProbeOptions({ backend: 'sim', ranks: 2, timeoutMs: 30_000, env: { FAKE_MODE_0: 'early', FAKE_MODE_1: 'hang-at:init' } }, {});
    const report = await coordinate({
      options: resolved,
      launcher: plainLauncher(resolved, [0, 0], { program: process.execPath, args: [fakeRank] }),
      coordinatorSimulated: true,
      interrupt: interrupt.signal,
      onProgress: (progress) => {
        // Rank 0's early calls and rank 1's hang arrive on two connections in either order: the
        // signal comes once rank 0 has said its call returned and rank 1 is stuck, whichever is last.
        const rank0Returned = progress.connected === 2 && progress.ranks[0]?.call === null;
        if (rank0Returned && progress.ranks[1]?.call === 'cudaIpcOpenMemHandle' && !interrupt.signal.aborted) interrupt.abort('SIGINT');
      },
    });
    assertValidReport(report);
    expect(report.abort).toMatchObject({ reason: 'interrupted', rank: 1, step: 'init', call: 'cudaIpcOpenMemHandle' });
    expectAllGone(report.ranks.map((r) => r.pid));
  });

  it('ends a hung step within the timeout and kills the whole process group', async () => {
    const pidFile = join(scratch, 'child.pid');
    const started = Date.now();
    const report = await run({ timeoutMs: 1500, env: { FAKE_MODE_1: 'hang-at:export', FAKE_CHILD_PID_FILE: pidFile } });
    const elapsed = Date.now() - started;
    assertValidReport(report);
    expect(report.exitCode).toBe(3);
    expect(report.abort).toMatchObject({ reason: 'hung', rank: 1, step: 'export', call: 'cudaIpcOpenMemHandle' });
    expect(report.ranks[1].steps.export.outcome).toBe('hung');
    expect(report.ranks[0].steps.export.outcome).toBe('passed');
    // The timeout, plus at most SIGTERM's grace and SIGKILL's.
    expect(elapsed).toBeLessThan(1500 + 5000);
    expect(existsSync(pidFile)).toBe(true);
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    expectAllGone([...report.ranks.map((r) => r.pid), grandchild]);
  });

  it('works over a Unix socket and removes it afterwards', async () => {
    const socket = join(scratch, 'rendezvous.sock');
    const report = await run({ ranks: 2, socket });
    expect(report.result).toBe('passed');
    expect(report.options.rendezvous).toBe('unix');
    expect(existsSync(socket)).toBe(false);
  });

  it('reports a rank program that cannot start', async () => {
    const resolved = resolveProbeOptions({ backend: 'sim', ranks: 2, timeoutMs: 2000 }, {});
    const report = await coordinate({
      options: resolved,
      launcher: plainLauncher(resolved, [0, 0], { program: join(scratch, 'no-such-program'), args: [] }),
      coordinatorSimulated: true,
    });
    assertValidReport(report);
    expect(report.exitCode).toBe(3);
    expect(report.abort?.reason).toBe('spawn-failed');
    expect(report.abort?.message).toMatch(/ENOENT/);
  });
});
