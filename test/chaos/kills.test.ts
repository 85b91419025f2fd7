// Chaos: ranks killed or hung at every step, as `cuipc probe` runs them on the simulated device.
// Each case asserts the exit status, the message naming rank, step and call, and that nothing
// of the run is left (processes by their ids, the run's temporary folder, /dev/shm). The kill
// matrix samples 2 and 4 ranks x every step with a CUDA call (16 probes); the simulated
// device's faults stand in for a real crash (SIGKILL inside the call) and a real hang (the
// call never returns); they do not reproduce a driver that fails to clean up after a death.
import { describe, expect, it } from 'vitest';
import { expectNothingLeft, faultAt, startCuipc, STEP_FAULTS } from './helpers.js';

const MATRIX = [2, 4].flatMap((ranks) => Object.keys(STEP_FAULTS).map((step) => [ranks, step] as const));

describe('kill matrix: rank 1 killed in each step', () => {
  it.each(MATRIX)('%i ranks, killed in %s: exit 3, named, nothing left', async (ranks, step) => {
    const run = startCuipc(['probe', '--ranks', String(ranks), '--inputs', '2', '--env', `CUIPC_SIM_FAULT=${faultAt(step, ranks, 'kill')}`]);
    const r = await run.done;
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(new RegExp(`COULD NOT RUN \\(exit 3, crashed\\): rank 1 was killed by SIGKILL in step ${step} during ${STEP_FAULTS[step].split('@')[0]}`));
    expect(run.seen.size).toBeGreaterThanOrEqual(ranks);
    await expectNothingLeft(run);
  });
});

describe('several ranks dying in one step', () => {
  it('every rank killed in cudaGraphLaunch is shown DIED, none ok', async () => {
    const run = startCuipc(['probe', '--ranks', '4', '--inputs', '2', '--json', '--env', 'CUIPC_SIM_FAULT=cudaGraphLaunch#1=kill']);
    const r = await run.done;
    expect(r.code).toBe(3);
    const report = JSON.parse(r.stdout) as { abort: { message: string }; ranks: Array<{ steps: Record<string, { outcome: string }> }> };
    expect(report.ranks.map((k) => k.steps.replay.outcome)).toEqual(['crashed', 'crashed', 'crashed', 'crashed']);
    expect(report.abort.message).toMatch(/ranks 1, 2, 3 died in this step too/);
    await expectNothingLeft(run);
  });

  it('two of four ranks killed: those two DIED, the two that finished the step keep it, nobody verifies', async () => {
    const run = startCuipc(['probe', '--ranks', '4', '--inputs', '2', '--json', '--env', 'CUIPC_SIM_FAULT=cudaGraphLaunch@1#1=kill;cudaGraphLaunch@3#1=kill']);
    const r = await run.done;
    expect(r.code).toBe(3);
    const report = JSON.parse(r.stdout) as { ranks: Array<{ steps: Record<string, { outcome: string }> }> };
    const replay = report.ranks.map((k) => k.steps.replay.outcome);
    expect([replay[1], replay[3]]).toEqual(['crashed', 'crashed']);
    // Ranks 0 and 2 finished their launch (passed) unless the abort came first (stopped in it).
    for (const outcome of [replay[0], replay[2]]) expect(['passed', 'interrupted']).toContain(outcome);
    expect(report.ranks.map((k) => k.steps.verify.outcome)).toEqual(['not-run', 'not-run', 'not-run', 'not-run']);
    await expectNothingLeft(run);
  });
});

describe('hangs', () => {
  it.each(['register', 'import', 'replay'])('a rank hung in %s: exit 3 within the timeout, nothing left', async (step) => {
    const run = startCuipc(['probe', '--ranks', '2', '--inputs', '2', '--timeout', '1000', '--env', `CUIPC_SIM_FAULT=${faultAt(step, 2, 'hang')}`]);
    const r = await run.done;
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(new RegExp(`COULD NOT RUN \\(exit 3, hung\\): rank 1 did not finish step ${step} within 1000 ms; it was in ${STEP_FAULTS[step].split('@')[0]}`));
    expect(r.ms).toBeLessThan(1000 * 2 + 6000);
    await expectNothingLeft(run);
  });
});
