// What `cuipc trace` costs the program it wraps: the PyTorch share_graph_inputs program (capture,
// export, all-gather, open, replay) run alternately without and with the CUPTI injection.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../dist/binding/native.js';
import { findInjectionLibrary } from '../dist/binding/libraries.js';
import { runTorch, type TorchRun } from './probe-runs.js';

export interface TraceOverheadResult {
  ranks: number;
  inputs: number;
  untraced: TorchRun[];
  traced: TorchRun[];
  skipped: string | null;
}

export async function measureTraceOverhead(python: string, torchSkipped: string | null, runs: number): Promise<TraceOverheadResult> {
  const result: TraceOverheadResult = { ranks: 2, inputs: 72, untraced: [], traced: [], skipped: torchSkipped };
  if (torchSkipped) return result;
  const library = findInjectionLibrary();
  if (!library.path) {
    result.skipped = `skipped: no trace injection library (looked in ${library.searched.join(', ')})`;
    return result;
  }
  const out = mkdtempSync(join(tmpdir(), 'cuipc-bench-trace-'));
  try {
    const trace = [process.execPath, join(packageRoot, 'bin', 'cuipc.js'), 'trace', '--trace-dir', out, '--'];
    // Alternate, so drift in the machine's state falls on both sides alike.
    for (let i = 0; i < runs; i++) {
      result.untraced.push(await runTorch(python, result.ranks, result.inputs));
      result.traced.push(await runTorch(python, result.ranks, result.inputs, trace));
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  return result;
}
