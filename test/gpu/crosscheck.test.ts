// PyTorch is the authority: on a GPU host with torch, torch_share_graph_inputs.py (beside this
// file) replays share_graph_inputs with PyTorch itself, and `cuipc probe` must give the same
// verdict in the same environment: the result, and where it failed (step, call, code) or where
// a rank died. Cases: the default allocator, expandable segments, the cudaMallocAsync backend,
// and each torch_memory_saver build named in CUIPC_TEST_TMS_HOOKS ("0.0.9=/path/hook.so;head=..."),
// with SGLANG_MEMORY_SAVER_CUDA_GRAPH on, off, and TMS_INIT_ENABLE=1. Without
// CUIPC_TEST_TORCH_PYTHON (a python that imports torch) it is skipped. With
// CUIPC_CROSSCHECK_TABLE set, the agreement table is written there as Markdown
// (docs/torch-agreement.md keeps the last one).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { probe } from '../../lib/probe/index.js';
import type { ProbeReport } from '../../lib/report/types.js';

const python = process.env.CUIPC_TEST_TORCH_PYTHON;
const program = fileURLToPath(new URL('./torch_share_graph_inputs.py', import.meta.url));
const RANKS = 2;
const INPUTS = 72;
const BYTES = 4096;

interface Verdict {
  result: string;
  /** "export cudaIpcGetMemHandle 1", "died in register", or "" for a pass. */
  where: string;
}

interface TorchOutput {
  result: 'passed' | 'failed' | 'aborted';
  ranks: Array<{ rank: number; teardown?: string }>;
  pinpoint: { step: string; call: string; code: number } | null;
  abort: { step: string | null; detail: string | null } | null;
  torch: string;
  device: string;
}

function torchVerdict(out: TorchOutput): Verdict {
  if (out.result === 'failed' && out.pinpoint) return { result: 'failed', where: `${out.pinpoint.step} ${out.pinpoint.call} ${out.pinpoint.code}` };
  if (out.result === 'aborted') return { result: 'aborted', where: `died in ${out.abort?.step ?? '?'}` };
  return { result: out.result, where: '' };
}

function probeVerdict(report: ProbeReport): Verdict {
  if (report.result === 'failed') return { result: 'failed', where: `${report.pinpoint.step} ${report.pinpoint.call} ${report.pinpoint.code}` };
  if (report.result === 'aborted') return { result: 'aborted', where: `died in ${report.abort.step ?? '?'}` };
  return { result: 'passed', where: '' };
}

function cases(): Array<[string, Record<string, string>]> {
  const list: Array<[string, Record<string, string>]> = [
    ['default allocator', {}],
    ['expandable_segments:True', { PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True' }],
    ['backend:cudaMallocAsync', { PYTORCH_CUDA_ALLOC_CONF: 'backend:cudaMallocAsync' }],
  ];
  const hooks = (process.env.CUIPC_TEST_TMS_HOOKS ?? '').split(';').filter(Boolean).map((pair) => pair.split('=') as [string, string]);
  for (const [release, path] of hooks) {
    list.push([`torch_memory_saver ${release}, SGLANG_MEMORY_SAVER_CUDA_GRAPH=true`, { LD_PRELOAD: path, SGLANG_MEMORY_SAVER_CUDA_GRAPH: 'true' }]);
    list.push([`torch_memory_saver ${release}, variable unset`, { LD_PRELOAD: path }]);
    list.push([`torch_memory_saver ${release}, TMS_INIT_ENABLE=1`, { LD_PRELOAD: path, TMS_INIT_ENABLE: '1' }]);
  }
  return list;
}

const rows: string[] = [];
let versions = '';

describe.skipIf(!python)('cuipc probe agrees with PyTorch (torch_share_graph_inputs.py)', () => {
  afterAll(() => {
    const table = process.env.CUIPC_CROSSCHECK_TABLE;
    if (!table) return;
    const header = `| case | PyTorch | cuipc probe | agree | PyTorch afterwards |\n|---|---|---|---|---|\n`;
    writeFileSync(table, `${versions}\n\n${header}${rows.join('\n')}\n`);
  });

  it.each(cases())('%s', async (name, env) => {
    const ran = spawnSync(python as string, [program, '--ranks', String(RANKS), '--inputs', String(INPUTS), '--bytes', String(BYTES), '--json'], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 180_000,
    });
    const line = ran.stdout.trim().split('\n').pop() ?? '';
    let out: TorchOutput;
    try {
      out = JSON.parse(line) as TorchOutput;
    } catch {
      throw new Error(`the PyTorch program printed no JSON (status ${ran.status}): ${ran.stderr.slice(-2000)}`);
    }
    versions = `PyTorch ${out.torch} on ${out.device}; ${RANKS} ranks x ${INPUTS} inputs x ${BYTES} bytes`;
    const report = await probe({ backend: 'cuda', ranks: RANKS, inputs: INPUTS, bytes: BYTES, timeoutMs: 60_000, env });
    const torch = torchVerdict(out);
    const ours = probeVerdict(report);
    const agree = torch.result === ours.result && torch.where === ours.where;
    const afterwards = out.ranks.flatMap((r) => (r.teardown ? [`rank ${r.rank} ${r.teardown}`] : [])).join('; ');
    rows.push(`| ${name} | ${torch.result} ${torch.where} | ${ours.result} ${ours.where} | ${agree ? 'yes' : '**no**'} | ${afterwards} |`);
    expect(ours).toEqual(torch);
  });
});
