// --check-fixes (lib/probe/fix-checks.ts): each fix of a failed probe's answer that a probe
// option can express is replayed as a probe of its own. The seed on the simulated device (the
// torch_memory_saver ABI stand-in, as test/probe/memory-saver.test.ts sets it up): unsetting
// SGLANG_MEMORY_SAVER_CUDA_GRAPH and --share copy pass, VMM export does not (the hook serves the
// probe's own cudaMalloc during capture and dies); the table maps each fix text to its change;
// SIGINT during the replays stops them and leaves nothing behind.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { tmsStandinPath } from '../../lib/binding/native.js';
import { applyFixChange, fixRowOf, FIX_TABLE } from '../../lib/probe/fix-checks.js';
import { probe, type ProbeOptions, type ProbeReport } from '../../lib/probe/index.js';
import { renderProbeReport } from '../../lib/report/render.js';
import { renderProbeMarkdown } from '../../lib/report/markdown.js';
import type { FixCheck } from '../../lib/report/types.js';
import { expectNothingLeft, isHung, startCuipc, waitUntil } from '../chaos/helpers.js';
import { assertValidReport } from './helpers.js';

const standin = tmsStandinPath();
// As memory-saver.test.ts's seed: the hook, the variable, and what the RL framework's runtime_env adds.
const seedEnv = { LD_PRELOAD: standin, SGLANG_MEMORY_SAVER_CUDA_GRAPH: 'true', CUDA_DEVICE_MAX_CONNECTIONS: '1', NCCL_NVLS_ENABLE: '1' };
const small: ProbeOptions = { backend: 'sim', ranks: 2, inputs: 9, bytes: 1024, timeoutMs: 10_000 };

const byChange = (checks: readonly FixCheck[]): Record<string, string> =>
  Object.fromEntries(checks.map((c) => [c.status === 'not-checked' ? c.fix.slice(0, 40) : c.change, c.status === 'tried' ? `tried ${c.result} ${c.step} ${c.call}` : c.status === 'cleared' ? `cleared ${c.step} ${c.call}` : c.status]));

describe('the seed with checkFixes', () => {
  it('replays each fix: unsetting the variable passes, --share copy clears the export failure (the stand-in, as 0.0.9, then cannot free outside its region), VMM export cannot run', async () => {
    const report = await probe({ ...small, env: seedEnv, checkFixes: true });
    assertValidReport(JSON.parse(JSON.stringify(report)));
    expect(report.result).toBe('failed');
    expect(report.exitCode).toBe(1);
    const checks = report.fixChecks?.checks ?? [];
    expect(byChange(checks)).toEqual({
      "SGLANG_MEMORY_SAVER_CUDA_GRAPH unset in the ranks' environment": 'verified',
      '--share copy': 'cleared teardown cudaFree',
      '--alloc vmm-fd --share vmm-export': 'tried aborted capture cudaMalloc',
    });
    expect(report.fixChecks?.interrupted).toBeNull();
    // The report's Fix list: verified first, each marked.
    const lines = renderProbeReport(report, { brief: true }).split('\n');
    const fix = lines.findIndex((l) => l.startsWith('Fix ('));
    expect(lines[fix]).toMatch(/^Fix \(1 of 3 replayed pass, 1 more clears this failure only, [\d.]+ s\):$/);
    expect(lines[fix + 1]).toMatch(/^ {2}- \[verified: passes with it\] keep CUDA-graph capture out .*unset SGLANG_MEMORY_SAVER_CUDA_GRAPH/);
    expect(lines[fix + 2]).toMatch(/^ {2}- \[clears this failure; later: teardown, cudaFree -> 1\] share graph inputs/);
    expect(lines[fix + 3]).toMatch(/^ {2}- \[tried: could not run \(crashed: capture, cudaMalloc\)\] export VMM memory/);
    const markdown = renderProbeMarkdown(report);
    expect(markdown).toMatch(/^Checked: 1 of 3 replayed pass/m);
    expect(markdown).toMatch(/^- \\\[verified: passes with it\\\] keep CUDA-graph/m); // brackets escaped
  }, 60_000);

  it('expandable segments: dropping the setting passes, and the unrelated variable is not replayed', async () => {
    const report = await probe({ ...small, env: { PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True,max_split_size_mb:64' }, checkFixes: true });
    expect(report.result).toBe('failed');
    const checks = report.fixChecks?.checks ?? [];
    expect(checks.find((c) => c.status !== 'not-checked' && c.change === 'PYTORCH_CUDA_ALLOC_CONF without expandable_segments')?.status).toBe('verified');
    // --alloc vmm-fd --share vmm-export bypasses PyTorch: it passes here, unlike under the hook.
    expect(byChange(checks)['--alloc vmm-fd --share vmm-export']).toBe('verified');
  }, 60_000);

  it('without checkFixes the library runs one probe and the report has no fixChecks', async () => {
    const report = await probe({ ...small, env: seedEnv });
    expect(report.result).toBe('failed');
    expect(report.fixChecks).toBeUndefined();
    await expect(probe({ ...small, checkFixes: 'yes' as never })).rejects.toThrow(TypeError);
  }, 30_000);
});

describe('the fix table', () => {
  const failed = { options: { alloc: 'torch', share: 'ipc', captureMode: 'global', memorySaverRegion: 'auto' }, ranks: [{ loader: { allocation: [{ symbol: 'cudaMalloc', path: '/opt/tms/hook.so', interposed: true }] }, memorySaver: null }] } as unknown as ProbeReport;

  it('maps the rules\' fix texts to changes, the most direct first', () => {
    expect(fixRowOf('launch without that LD_PRELOAD entry, or keep CUDA-graph capture out of its region (SGLang: unset SGLANG_MEMORY_SAVER_CUDA_GRAPH)')?.id).toBe('drop-preload');
    expect(fixRowOf("remove expandable_segments:True from the inference server's environment, or share graph inputs by copying them (SGLANG_OPT_USE_CUSTOM_ALL_REDUCE_V2=0)")?.id).toBe('drop-expandable-segments');
    expect(fixRowOf('use the native backend for the inference server (unset PYTORCH_CUDA_ALLOC_CONF, or backend:native)')?.id).toBe('native-backend');
    expect(fixRowOf('move the call (allocation, synchronisation, IPC open) out of the capture, before cudaStreamBeginCapture')).toBeNull();
    expect(new Set(FIX_TABLE.map((r) => r.id)).size).toBe(FIX_TABLE.length);
  });

  it('changes a variable where the ranks get it: --env, an env snapshot; one from cuipc\'s own environment is not checked', () => {
    const unset = { kind: 'unset', variable: 'SGLANG_MEMORY_SAVER_CUDA_GRAPH' } as const;
    const fromEnv = applyFixChange(unset, { env: { SGLANG_MEMORY_SAVER_CUDA_GRAPH: '1', A: 'b' } }, failed, {});
    expect(fromEnv).toEqual({ ok: true, options: { env: { A: 'b' } }, change: "SGLANG_MEMORY_SAVER_CUDA_GRAPH unset in the ranks' environment" });
    const snapshot = { environment: { SGLANG_MEMORY_SAVER_CUDA_GRAPH: '1', PATH: '/bin' } } as never;
    const fromSnapshot = applyFixChange(unset, { envSnapshot: snapshot }, failed, { SGLANG_MEMORY_SAVER_CUDA_GRAPH: '1' });
    expect(fromSnapshot.ok && fromSnapshot.options.envSnapshot?.environment).toEqual({ PATH: '/bin' });
    const fromShell = applyFixChange(unset, {}, failed, { SGLANG_MEMORY_SAVER_CUDA_GRAPH: '1' });
    expect(fromShell).toEqual({ ok: false, why: expect.stringMatching(/comes from cuipc's own environment.*env -u SGLANG_MEMORY_SAVER_CUDA_GRAPH/) });
    expect(applyFixChange(unset, {}, failed, {})).toEqual({ ok: false, why: 'SGLANG_MEMORY_SAVER_CUDA_GRAPH is not set for the ranks' });
  });

  it('drops the preload entry that served cudaMalloc, one allocator key, or sets an option not already set', () => {
    const drop = applyFixChange({ kind: 'drop-preload' }, { env: { LD_PRELOAD: '/lib/a.so:/opt/tms/hook.so' } }, failed, {});
    expect(drop).toEqual({ ok: true, options: { env: { LD_PRELOAD: '/lib/a.so' } }, change: 'LD_PRELOAD without /opt/tms/hook.so' });
    const conf = applyFixChange({ kind: 'alloc-conf-drop', key: 'backend' }, { env: { PYTORCH_CUDA_ALLOC_CONF: 'backend:cudaMallocAsync' } }, failed, {});
    expect(conf).toEqual({ ok: true, options: { env: {} }, change: 'PYTORCH_CUDA_ALLOC_CONF without backend' });
    expect(applyFixChange({ kind: 'options', set: { share: 'ipc' } }, {}, failed, {})).toEqual({ ok: false, why: 'the probe already ran with --share ipc' });
  });
});

/** Processes whose environment holds `marker`: any left after a run is a leak. */
function ranksMarked(marker: string): number[] {
  const found: number[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number)) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').includes(marker)) found.push(pid);
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

describe('stopping the replays', () => {
  it('an abort during a replay stops it, starts no other, and leaves no rank behind', async () => {
    const marker = `CUIPC_TEST_FIX_MARK_${process.pid}`;
    const controller = new AbortController();
    // The original probe fails at export before any graph launch; the first replay reaches the launch and hangs there.
    const env = { ...seedEnv, CUIPC_SIM_FAULT: 'cudaGraphLaunch@1#1=hang', [marker]: '1' };
    const report = await probe({
      ...small,
      env,
      checkFixes: true,
      signal: controller.signal,
      onFixCheck: (e) => {
        if (e.index === 1 && e.check === null) setTimeout(() => controller.abort(), 1500);
      },
    });
    expect(report.result).toBe('failed');
    expect(report.fixChecks?.interrupted).toBe('abort');
    expect(report.fixChecks?.checks.map((c) => (c.status === 'not-checked' ? c.why : c.status))).toEqual([
      'stopped by abort during its replay',
      'stopped by abort before its replay',
      'stopped by abort before its replay',
    ]);
    expect(ranksMarked(marker)).toEqual([]);
  }, 60_000);

  it('cuipc probe: SIGINT while a replay hangs exits 130 with the verdict standing, and nothing is left', async () => {
    const run = startCuipc(['probe', '--ranks', '2', '--inputs', '2', '--timeout', '30000', ...Object.entries(seedEnv).flatMap(([k, v]) => ['--env', `${k}=${v}`]), '--env', 'CUIPC_SIM_FAULT=cudaGraphLaunch@1#1=hang']);
    await waitUntil(() => [...run.seen].some((pid) => isHung(pid)), 30_000, 'a replay rank hung in cudaGraphLaunch');
    run.child.kill('SIGINT');
    const done = await run.done;
    expect(done.code).toBe(130);
    expect(done.stdout).toMatch(/^FAILED: cudaIpcGetMemHandle -> 1 \(invalid argument\) at export/m);
    expect(done.stdout).toMatch(/^ {2}- \[not checked \(stopped by SIGINT during its replay\)\] keep CUDA-graph capture/m);
    expect(done.stdout).toMatch(/^INTERRUPTED while replaying the fixes \(SIGINT\): the verdict above stands/m);
    await expectNothingLeft(run);
  }, 60_000);
});
