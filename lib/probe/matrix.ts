// The matrix: which allocator x share strategy cells pass here, and so which remedy works.
import { cuipcVersion } from '../report/build.js';
import { REPORT_SCHEMA_VERSION, type MatrixCell, type MatrixRemedy, type MatrixReport, type ReportOptions, type ProbeReport } from '../report/types.js';
import { type InputAllocator, type ShareStrategy } from '../model/vocabulary.js';
import { reportOptionsOf, type ResolvedProbeOptions } from './options.js';

/** Why a cell means nothing (and is not run), or null. */
export function skipReason(alloc: InputAllocator, share: ShareStrategy): string | null {
  if (share === 'vmm-export' && alloc !== 'vmm-fd') {
    return 'vmm-export passes a POSIX fd from cuMemExportToShareableHandle, which exists only for VMM memory created with a POSIX-fd handle type (--alloc vmm-fd)';
  }
  return null;
}

const SHARE_ADVICE: Record<ShareStrategy, string> = {
  ipc: 'legacy IPC (cudaIpcGetMemHandle on each graph input, custom all-reduce v2)',
  'vmm-export': 'VMM export (cuMemExportToShareableHandle fds over a Unix socket, as NCCL and PyTorch do)',
  copy: 'copying graph inputs into the registered buffer (v1 unregistered path, the upstream fix)',
};

export function cellOf(alloc: InputAllocator, share: ShareStrategy, report: ProbeReport | null, skipped?: string): MatrixCell {
  if (!report) return { alloc, share, status: 'skipped', reason: skipped ?? 'not run' };
  const cell: MatrixCell = { alloc, share, status: report.result, durationMs: report.durationMs };
  if (report.abort) {
    cell.reason = report.abort.message;
    if (report.abort.step) cell.step = report.abort.step;
    if (report.abort.call) cell.call = report.abort.call;
  } else if (report.pinpoint) {
    const p = report.pinpoint;
    Object.assign(cell, { step: p.step, call: p.call, code: p.code, name: p.name });
    cell.reason = `rank ${p.rank}, ${p.step}: ${p.call} -> ${p.code} ${p.name}`;
    if (p.explanations[0]) cell.explanation = p.explanations[0].title;
  }
  return cell;
}

function remediesOf(cells: MatrixCell[]): MatrixRemedy[] {
  const remedies: MatrixRemedy[] = [];
  const allocs = [...new Set(cells.map((c) => c.alloc))];
  for (const alloc of allocs) {
    const mine = cells.filter((c) => c.alloc === alloc);
    const failing = mine.filter((c) => c.status === 'failed').map((c) => c.share);
    // Prefer what changes least: legacy IPC, then VMM export, then the copy.
    const working = (['ipc', 'vmm-export', 'copy'] as ShareStrategy[]).filter((s) => mine.some((c) => c.share === s && c.status === 'passed'));
    let advice: string;
    if (working.includes('ipc')) advice = `${alloc}: legacy IPC works; no remedy needed`;
    else if (working.length > 0) advice = `${alloc}: ${failing.length ? `${failing.join(', ')} fails; ` : ''}use ${SHARE_ADVICE[working[0]]}${working.length > 1 ? ` (also works: ${working.slice(1).join(', ')})` : ''}`;
    else if (mine.some((c) => c.status === 'aborted')) advice = `${alloc}: the probe could not run every cell; see the aborted cells`;
    else advice = `${alloc}: no share strategy worked; allocate graph inputs with cudaMalloc`;
    remedies.push({ alloc, failing, working, advice });
  }
  return remedies;
}

/** A matrix's options: the probe's, less what each cell sets itself. */
function withoutCellOptions(options: ReportOptions): MatrixReport['options'] {
  const { alloc: _alloc, share: _share, ...rest } = options;
  return rest;
}

export function buildMatrixReport(
  runs: Array<{ alloc: InputAllocator; share: ShareStrategy; report: ProbeReport | null; skipped?: string }>,
  options: ResolvedProbeOptions,
  startedAt: Date,
  durationMs: number,
): MatrixReport {
  const cells = runs.map((r) => cellOf(r.alloc, r.share, r.report, r.skipped));
  const first = runs.find((r) => r.report)?.report ?? null;
  return {
    kind: 'matrix',
    schemaVersion: REPORT_SCHEMA_VERSION,
    cuipcVersion: cuipcVersion(),
    simulated: runs.some((r) => r.report?.simulated === true) || (first === null && options.backend === 'sim'),
    startedAt: startedAt.toISOString(),
    durationMs,
    exitCode: cells.some((c) => c.status === 'aborted') ? 3 : 0,
    options: withoutCellOptions(reportOptionsOf(options, first?.options.devices ?? options.devices ?? [])),
    cells,
    remedies: remediesOf(cells),
  };
}
