// Clean-up of /dev/shm after a probe removes only the probe's own objects (cuipc's prefix and
// the run id, regular files of this user), never a file that merely holds a rank's pid in its
// name: another program's psm_<pid>, a PyTorch or NCCL segment.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { leftoversOf, newSharedMemoryRunId, ownSharedMemoryPrefix, removeSharedMemoryLeftovers, sharedMemorySnapshot } from '../../lib/launch/shm.js';
import { expectNothingLeft, isHung, startCuipc, waitUntil } from '../chaos/helpers.js';

const scratch = mkdtempSync(join(tmpdir(), 'cuipc-shm-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('which names are the probe\'s own', () => {
  it('only names with cuipc\'s prefix and this run id that appeared during the probe', () => {
    const prefix = ownSharedMemoryPrefix('run1');
    expect(prefix).toBe('cuipc-run1-');
    const before = new Set(['cuipc-run1-old']);
    const after = ['cuipc-run1-old', 'cuipc-run1-a', 'cuipc-run2-a', 'psm_4242', 'torch_4242_0', 'nccl-4242', 'cuipc-run1x-a'];
    expect(leftoversOf(before, after, prefix)).toEqual(['cuipc-run1-a']);
  });

  it('a bare or foreign prefix selects nothing, whatever the names', () => {
    const after = ['cuipc-a', 'psm_1', 'x'];
    for (const prefix of ['', 'cuipc-', 'psm_', 'cuipc--']) expect(leftoversOf(new Set(), after, prefix)).toEqual([]);
  });

  it('run ids differ from one probe to the next', () => {
    expect(newSharedMemoryRunId()).not.toBe(newSharedMemoryRunId());
  });

  it('removes its own regular files only: a foreign file with a rank pid, a link or a folder of its prefix stay', () => {
    const dir = join(scratch, 'shm');
    mkdirSync(dir);
    const prefix = ownSharedMemoryPrefix('r9');
    const before = sharedMemorySnapshot(dir);
    writeFileSync(join(dir, `${prefix}seg`), '');
    writeFileSync(join(dir, `psm_${process.pid}`), '');
    writeFileSync(join(dir, 'outside'), '');
    symlinkSync(join(dir, 'outside'), join(dir, `${prefix}link`));
    mkdirSync(join(dir, `${prefix}folder`));
    expect(removeSharedMemoryLeftovers(before, prefix, dir)).toEqual([join(dir, `${prefix}seg`)]);
    expect(readdirSync(dir).sort()).toEqual([`${prefix}folder`, `${prefix}link`, 'outside', `psm_${process.pid}`].sort());
  });
});

describe('a probe whose ranks are killed leaves foreign /dev/shm files alone', () => {
  it('psm_<rank pid>, made while the ranks run, survives the probe and its clean-up', async () => {
    const run = startCuipc(['probe', '--ranks', '2', '--inputs', '2', '--timeout', '4000', '--env', 'CUIPC_SIM_FAULT=cudaGraphLaunch@1#1=hang']);
    const made: string[] = [];
    try {
      // Rank 1 hangs in replay until the step timeout kills every rank: the files appear mid-probe.
      await waitUntil(() => [...run.seen].some(isHung), 20_000, 'rank 1 to hang in cudaGraphLaunch');
      for (const pid of run.seen) {
        const path = join('/dev/shm', `psm_${pid}`);
        writeFileSync(path, 'not cuipc\'s');
        made.push(path);
      }
      const r = await run.done;
      expect(r.code).toBe(3);
      expect(made.length).toBeGreaterThanOrEqual(2);
      for (const path of made) expect(readdirSync('/dev/shm'), path).toContain(path.slice('/dev/shm/'.length));
    } finally {
      for (const path of made) {
        try {
          unlinkSync(path);
        } catch {
          // removed: the assertion above said so
        }
      }
    }
    await expectNothingLeft(run);
  });
});
