// The plain launcher's device visibility (all devices, or one per rank as Ray gives them) and
// ranks started in a captured environment snapshot, on four simulated devices.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { vmmInterposerPath } from '../../lib/binding/native.js';
import { captureEnvironment } from '../../lib/env/capture.js';
import { probe, type ProbeOptions, type ProbeReport } from '../../lib/probe/index.js';
import { renderProbeReport } from '../../lib/report/render.js';
import { assertValidReport, isAlive } from '../probe/helpers.js';

process.env.CUIPC_SIM_DEVICES = '4';
delete process.env.CUDA_VISIBLE_DEVICES;
const scratch = mkdtempSync(join(tmpdir(), 'cuipc-visibility-'));
const pids: number[] = [];
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  for (const pid of pids) expect(isAlive(pid), `rank pid ${pid} outlived its probe`).toBe(false);
});

async function run(options: ProbeOptions): Promise<ProbeReport> {
  const report = await probe({ backend: 'sim', inputs: 2, bytes: 1024, timeoutMs: 10_000, ...options });
  assertValidReport(JSON.parse(JSON.stringify(report)));
  for (const rank of report.ranks) if (rank.pid !== null) pids.push(rank.pid);
  return report;
}

describe('plain launcher, device visibility', () => {
  it('all (default): every rank sees every device and uses its own ordinal', async () => {
    const report = await run({ ranks: 4 });
    expect(report.result).toBe('passed');
    expect(report.options.launch).toMatchObject({ launcher: 'plain', visibility: 'all', ray: null, envSnapshot: null, coordinatorHost: '127.0.0.1' });
    report.ranks.forEach((rank, i) => {
      expect(rank.placement).toEqual({ cudaVisibleDevices: null, ray: null, hostname: hostname() });
      expect(rank.requestedDevice).toBe(i);
      expect(rank.device?.ordinal).toBe(i);
    });
    expect(new Set(report.ranks.map((r) => r.device?.uuid)).size).toBe(4);
  });

  it('per-rank: CUDA_VISIBLE_DEVICES names one device per rank, each uses ordinal 0, as under Ray', async () => {
    const report = await run({ ranks: 4, visibility: 'per-rank' });
    expect(report.result).toBe('passed');
    report.ranks.forEach((rank, i) => {
      expect(rank.placement?.cudaVisibleDevices).toBe(String(i));
      expect(rank.requestedDevice).toBe(0);
      expect(rank.device?.ordinal).toBe(0);
    });
    // Ordinal 0 everywhere, yet four physical devices: identity is by UUID and PCI bus id.
    expect(new Set(report.ranks.map((r) => r.device?.uuid)).size).toBe(4);
    expect(new Set(report.ranks.map((r) => r.device?.pciBusId)).size).toBe(4);
    const text = renderProbeReport(report);
    expect(text).toMatch(/launcher plain: one device per rank \(CUDA_VISIBLE_DEVICES\)/);
    expect(text).toMatch(/rank 2 \(pid \d+\): device 0 = .*SIM-[0-9a-f-]+2, .*\[CUDA_VISIBLE_DEVICES=2\]/);
  });

  it('per-rank with an explicit mapping: ranks 0,1 on device 3, ranks 2,3 on device 1', async () => {
    const report = await run({ ranks: 4, visibility: 'per-rank', devices: [3, 3, 1, 1] });
    expect(report.result).toBe('passed');
    expect(report.ranks.map((r) => r.placement?.cudaVisibleDevices)).toEqual(['3', '3', '1', '1']);
    expect(report.ranks[0].device?.uuid).toBe(report.ranks[1].device?.uuid);
    expect(report.ranks[0].device?.uuid).not.toBe(report.ranks[2].device?.uuid);
  });
});

describe('plain launcher, ranks in a captured environment', () => {
  it('replays a snapshot carrying an LD_PRELOAD interposer: the export fails, the interposer is named', async () => {
    const snapshot = captureEnvironment({ env: { ...process.env, LD_PRELOAD: vmmInterposerPath(), SGLANG_MEMORY_SAVER_CUDA_GRAPH: 'true' }, label: 'ray actor', inspectFiles: false });
    const clean = await run({ ranks: 2 });
    expect(clean.result).toBe('passed');
    const report = await run({ ranks: 2, envSnapshot: snapshot });
    expect(report.result).toBe('failed');
    expect(report.options.launch?.envSnapshot).toMatchObject({ label: 'ray actor', pid: process.pid });
    expect(report.pinpoint).toMatchObject({ step: 'export', call: 'cudaIpcGetMemHandle', code: 1 });
    expect(report.pinpoint?.explanations[0].id).toBe('vmm-memory');
    expect(report.pinpoint?.explanations[0].summary).toMatch(/libcuipc_vmm_interposer\.so/);
    expect(report.ranks[0].hazards.some((h) => h.variable === 'LD_PRELOAD')).toBe(true);
    expect(renderProbeReport(report)).toMatch(/environment replayed from snapshot 'ray actor'/);
  });

  it('leaves out what the snapshot lacks: a snapshot without LD_PRELOAD runs clean under a preloading shell', async () => {
    const { LD_PRELOAD: _dropped, ...withoutPreload } = process.env;
    const snapshot = captureEnvironment({ env: withoutPreload, inspectFiles: false });
    const saved = process.env.LD_PRELOAD;
    process.env.LD_PRELOAD = vmmInterposerPath();
    try {
      const report = await run({ ranks: 2, envSnapshot: snapshot });
      expect(report.result).toBe('passed');
    } finally {
      if (saved === undefined) delete process.env.LD_PRELOAD;
      else process.env.LD_PRELOAD = saved;
    }
  });

  it('the CLI takes --env-snapshot FILE, and refuses a file that is not a snapshot (exit 2)', () => {
    const bin = fileURLToPath(new URL('../../bin/cuipc.js', import.meta.url));
    const good = join(scratch, 'actor.json');
    writeFileSync(good, JSON.stringify(captureEnvironment({ env: { ...process.env, LD_PRELOAD: vmmInterposerPath(), SGLANG_MEMORY_SAVER_CUDA_GRAPH: 'true' }, inspectFiles: false })));
    const bad = join(scratch, 'bad.json');
    writeFileSync(bad, '{"hello": 1}');
    const cuipc = (...args: string[]) => spawnSync(process.execPath, [bin, 'probe', '--backend', 'sim', '--ranks', '2', '--inputs', '2', ...args], { encoding: 'utf8', timeout: 60_000 });
    expect(cuipc('--env-snapshot', good).status).toBe(1);
    const refused = cuipc('--env-snapshot', bad);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/--env-snapshot: .*bad\.json: not a cuipc environment snapshot/);
    const withRay = cuipc('--env-snapshot', good, '--launcher', 'ray');
    expect(withRay.status).toBe(2);
    expect(withRay.stderr).toMatch(/environment snapshot applies to launcher plain/);
  });
});

describe('plain launcher, a snapshot taken inside a Ray actor (issue 21)', () => {
  // What a Ray worker's environment holds: Ray's marks and the actor's GPU as CUDA_VISIBLE_DEVICES.
  const actorEnv = (extra: Record<string, string> = {}) => ({ ...process.env, RAY_RAYLET_PID: '4242', RAY_JOB_ID: '01000000', CUDA_VISIBLE_DEVICES: '2', ...extra });

  it('replays with one device per rank, as Ray assigns, instead of the literal ordinal of the actor\'s GPU', async () => {
    const snapshot = captureEnvironment({ env: actorEnv(), label: 'actor', inspectFiles: false });
    expect(snapshot.visibility).toMatchObject({ cudaVisibleDevices: '2', assignedBy: 'ray', ray: { jobId: '01000000' } });
    const report = await run({ ranks: 4, envSnapshot: JSON.parse(JSON.stringify(snapshot)) });
    expect(report.result).toBe('passed');
    expect(report.options.launch?.visibility).toBe('per-rank');
    expect(report.ranks.map((r) => r.placement?.cudaVisibleDevices)).toEqual(['0', '1', '2', '3']);
    expect(report.ranks.every((r) => r.device?.ordinal === 0)).toBe(true);
  });

  it('a literal CUDA_VISIBLE_DEVICES outside Ray is replayed as it was', async () => {
    const { RAY_JOB_ID: _j, RAY_RAYLET_PID: _p, ...shellEnv } = actorEnv({ CUDA_VISIBLE_DEVICES: '1,3' });
    const snapshot = captureEnvironment({ env: shellEnv, inspectFiles: false });
    expect(snapshot.visibility?.assignedBy).toBe('environment');
    const report = await run({ ranks: 2, envSnapshot: snapshot });
    expect(report.result).toBe('passed');
    expect(report.options.launch?.visibility).toBe('all');
    expect(report.ranks.map((r) => r.placement?.cudaVisibleDevices)).toEqual(['1,3', '1,3']);
    expect(report.ranks.map((r) => r.device?.ordinal)).toEqual([0, 1]);
  });

  it("counts the devices the snapshot's ranks see, not this process's: a snapshot that saw 2 of 4 devices runs 4 ranks on 2", async () => {
    const snapshot = captureEnvironment({ env: { ...process.env, CUIPC_SIM_DEVICES: '2' }, label: 'two devices', inspectFiles: false });
    const report = await run({ ranks: 4, envSnapshot: snapshot });
    expect(report.result).toBe('passed');
    expect(report.ranks.map((r) => r.requestedDevice)).toEqual([0, 1, 0, 1]);
  });

  it('a snapshot that sees no device aborts before any rank starts, naming the variables', async () => {
    const snapshot = captureEnvironment({ env: { ...process.env, CUDA_VISIBLE_DEVICES: '' }, inspectFiles: false });
    const report = await run({ ranks: 2, envSnapshot: snapshot });
    expect(report.result).toBe('aborted');
    expect(report.abort?.message).toMatch(/no device is visible in the ranks' environment \(CUDA_VISIBLE_DEVICES="", CUIPC_SIM_DEVICES="4"\)/);
  });
});
