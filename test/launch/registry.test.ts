// A launcher is one registration: this file registers a minimal one (each rank a direct child,
// every device visible) and a probe runs with it by name on the simulated device. Nothing else
// in lib/ learns about it.
import { describe, expect, it } from 'vitest';
import { getLauncher, launcherNames, registerLauncher } from '../../lib/launch/builtin.js';
import { killGroups, killGroupsNow, spawnGroupLeader, type GroupProcess, type RankProcess } from '../../lib/launch/processes.js';
import { RANK_ENV } from '../../lib/launch/rank-env.js';
import { probe } from '../../lib/probe/index.js';
import { ProbeUsageError } from '../../lib/probe/options.js';

registerLauncher<{ label: string }>({
  name: 'inline-test',
  summary: 'test only: each rank a direct child',
  options: [{ path: ['inlineLabel'], flag: null, group: 'launcher', label: 'inline label', consumer: 'launcher:inline-test', type: 'string', default: 'inline', description: 'test only' }],
  coordinatorAssignsDevices: true,
  resolve: (given) => ({ label: given.inlineLabel as string }),
  describe: () => ({ visibility: null, ray: null, envSnapshot: null }),
  create: (spec, _settings, devices, program) => ({
    kind: 'inline-test',
    deviceFor: (rank) => devices[rank],
    start(coordinatorEnv) {
      const ranks: Array<RankProcess & GroupProcess> = [];
      for (let rank = 0; rank < spec.ranks; rank += 1) {
        const env = { ...(process.env as Record<string, string>), ...spec.env, ...coordinatorEnv, [RANK_ENV]: String(rank) };
        ranks.push(Object.assign(spawnGroupLeader(program.program, program.args, env), { rank }));
      }
      return { ranks, stop: () => killGroups(ranks), stopNow: () => killGroupsNow(ranks) };
    },
  }),
});

describe('the launcher registry', () => {
  it('a registered launcher runs a probe by its name', async () => {
    expect(launcherNames()).toEqual(['plain', 'ray', 'inline-test']);
    const report = await probe({ backend: 'sim', ranks: 2, inputs: 4, launcher: 'inline-test' });
    expect(report.result, JSON.stringify(report.abort ?? report.pinpoint)).toBe('passed');
    expect(report.options.launch).toMatchObject({ launcher: 'inline-test', visibility: null, ray: null });
  });

  it("a launcher's own options apply to it alone", async () => {
    await expect(probe({ backend: 'sim', ranks: 2, visibility: 'per-rank', launcher: 'inline-test' })).rejects.toThrow(/visibility applies to launcher plain/);
    await expect(probe({ backend: 'sim', ranks: 2, launcher: 'nope' })).rejects.toThrow(ProbeUsageError);
    await expect(probe({ backend: 'sim', ranks: 2, launcher: 'nope' })).rejects.toThrow(/launcher must be one of plain, ray, inline-test/);
  });

  it('refuses a second launcher of the same name, and rows that say another consumer', () => {
    expect(() => registerLauncher({ ...getLauncher('plain') })).toThrow(/registered already/);
    expect(() => registerLauncher({ ...getLauncher('plain'), name: 'other', options: getLauncher('plain').options })).toThrow(/must say consumer 'launcher:other'/);
  });
});
