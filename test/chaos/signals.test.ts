// Chaos: signals to the coordinator, and a coordinator that dies. A rank hung in a CUDA call
// at each step (the simulated device's `hang` fault, seen as a thread blocked in pause())
// holds the probe there; then SIGINT, SIGTERM or SIGHUP reaches the coordinator, which must
// stop every rank, remove its files and print the report so far marked INTERRUPTED with exit
// 130, 143 or 129. A SIGKILLed coordinator cannot clean up: its ranks must end themselves
// within a second (the addon's lifeline thread), also from inside the hung call.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rankProgramPath } from '../../lib/probe/index.js';
import { assertValidReport } from '../probe/helpers.js';
import { descendantsOf, expectNothingLeft, faultAt, freshDir, isAlive, isHung, startCuipc, STEP_FAULTS, waitUntil, type Run } from './helpers.js';

const SIGNALS = [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
] as const;

/** Waits until a rank of the run is blocked in the injected hang. */
async function hungRank(run: Run): Promise<number> {
  let hung = 0;
  await waitUntil(() => {
    hung = [...run.seen].find(isHung) ?? 0;
    return hung !== 0;
  }, 20_000, 'a rank to reach the injected hang');
  return hung;
}

describe('a signal to the coordinator at each step', () => {
  const cases = Object.keys(STEP_FAULTS).map((step, i) => [step, ...SIGNALS[i % SIGNALS.length]] as const);
  it.each(cases)('hung in %s, %s: every rank stopped, report marked INTERRUPTED, exit %i, nothing left', async (step, signal, code) => {
    const run = startCuipc(['probe', '--ranks', '2', '--inputs', '2', '--verbose', '--timeout', '30000', '--env', `CUIPC_SIM_FAULT=${faultAt(step, 2, 'hang')}`]);
    await hungRank(run);
    // A moment for rank 0 to finish the quick calls it was making (a loaded machine may not
    // have run them yet), so that the one call still in flight is the hung one.
    await new Promise((r) => setTimeout(r, 300));
    const sent = Date.now();
    process.kill(run.pid, signal);
    const r = await run.done;
    expect(r.code).toBe(code);
    expect(Date.now() - sent).toBeLessThan(5000);
    const call = STEP_FAULTS[step].split('@')[0];
    expect(r.stdout).toContain(`INTERRUPTED (exit ${code}): interrupted by ${signal} in step ${step}; rank 1 was in ${call}; every rank was stopped`);
    expect(r.stdout).toMatch(/rank 1 {3}(ok {8}){0,8}killed/);
    await expectNothingLeft(run);
  });

  it('the interrupted report written with -o FILE follows the schema', async () => {
    const out = join(freshDir('out'), 'report.json');
    const run = startCuipc(['probe', '--ranks', '3', '--inputs', '2', '-o', out, '--quiet', '--env', `CUIPC_SIM_FAULT=${faultAt('import', 3, 'hang')}`]);
    await hungRank(run);
    process.kill(run.pid, 'SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    const report = JSON.parse(readFileSync(out, 'utf8')) as { result: string; exitCode: number; abort: Record<string, unknown>; ranks: Array<{ steps: { import: { outcome: string } } }> };
    assertValidReport(report);
    expect(report).toMatchObject({ result: 'aborted', exitCode: 130, abort: { reason: 'interrupted', signal: 'SIGINT', step: 'import', rank: 1, call: 'cudaIpcOpenMemHandle' } });
    expect(report.ranks[1].steps.import.outcome).toBe('interrupted');
    await expectNothingLeft(run);
  });

  it('over a Unix socket: the socket file is removed too', async () => {
    const dir = freshDir('sock');
    const socket = join(dir, 'rv.sock');
    const run = startCuipc(['probe', '--ranks', '2', '--inputs', '2', '--socket', socket, '--env', `CUIPC_SIM_FAULT=${faultAt('replay', 2, 'hang')}`]);
    await hungRank(run);
    process.kill(run.pid, 'SIGTERM');
    expect((await run.done).code).toBe(143);
    await expectNothingLeft(run);
    expect(() => readFileSync(socket)).toThrow(/ENOENT/);
  });

  it('a second signal exits at once; the ranks still do not survive', async () => {
    const run = startCuipc(['probe', '--ranks', '2', '--inputs', '2', '--env', `CUIPC_SIM_FAULT=${faultAt('import', 2, 'hang')}`]);
    await hungRank(run);
    process.kill(run.pid, 'SIGINT');
    process.kill(run.pid, 'SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    await expectNothingLeft(run);
  });
});

describe('cuipc matrix stops too', () => {
  it('SIGINT in the first cell: that cell interrupted, no further cell started, exit 130, nothing left', async () => {
    const run = startCuipc(['matrix', '--ranks', '2', '--inputs', '2', '--env', `CUIPC_SIM_FAULT=${faultAt('import', 2, 'hang')}`]);
    await hungRank(run);
    process.kill(run.pid, 'SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(r.stdout).toMatch(/torch \+ ipc: interrupted by SIGINT in step import/);
    expect(r.stdout).toMatch(/INTERRUPTED by SIGINT: the cells above ran; no further cell was started/);
    await expectNothingLeft(run);
  });
});

describe('a coordinator that is SIGKILLed', () => {
  // import: the hang is on a libuv worker thread (the batched open); replay: on the JavaScript thread.
  it.each(['import', 'replay'])('hung in %s: every rank ends itself within a second', async (step) => {
    const run = startCuipc(['probe', '--ranks', '3', '--inputs', '2', '--timeout', '30000', '--env', `CUIPC_SIM_FAULT=${faultAt(step, 3, 'hang')}`]);
    await hungRank(run);
    const ranks = descendantsOf(run.pid);
    expect(ranks.length).toBe(3);
    process.kill(run.pid, 'SIGKILL');
    const killed = Date.now();
    await waitUntil(() => !ranks.some(isAlive), 3000, 'the orphaned ranks to end');
    // 1 s: the lifeline's grace (400 ms) and its 50 ms poll, with room for a loaded machine.
    expect(Date.now() - killed).toBeLessThan(1500);
    await expectNothingLeft(run, 0);
  });
});

describe('a rank whose coordinator died before it could watch it', () => {
  // Reparented before it armed its lifeline, a rank must not adopt its new parent as the one to
  // watch: the plain launcher names the coordinator (CUIPC_PARENT_PID) and the rank checks it.
  it('leaves at once, saying why, when its parent is not the coordinator it was started by', () => {
    const rank = spawnSync(process.execPath, [rankProgramPath()], {
      encoding: 'utf8', timeout: 10_000,
      env: { ...process.env, CUIPC_PARENT_PID: '999999999', CUIPC_PROBE_TOKEN: 'x', CUIPC_PROBE_ADDRESS: 'tcp:127.0.0.1:9', CUIPC_RANK: '0' },
    });
    expect(rank.status).toBe(1);
    expect(rank.stderr).toMatch(/the coordinator that started this rank is gone/);
  });
});

describe('cuipc trace passes signals on', () => {
  it('SIGTERM reaches the traced command (and its children), then cuipc reports and exits with its status', async () => {
    const dir = freshDir('trace');
    const library = join(dir, 'libcuipc_trace.so');
    writeFileSync(library, ''); // a stand-in: the runner only needs the file (no CUDA runs in `sh`)
    const run = startCuipc(['trace', '--trace-dir', join(dir, 'out'), '--', 'sh', '-c', 'sleep 30 & wait'], { CUIPC_TRACE_LIBRARY: library });
    await waitUntil(() => run.seen.size >= 2, 10_000, 'the traced command and its child');
    process.kill(run.pid, 'SIGTERM');
    const r = await run.done;
    expect(r.code).toBe(143);
    await expectNothingLeft(run);
  });
});
