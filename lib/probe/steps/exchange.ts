// The exchange step: check what the all-gather brought from every peer before the import step
// opens or maps any of it. A peer's export data arrives from another process, so its shape is
// checked against what this rank's share strategy expects.
import { hexToPtr } from '../hex.js';
import type { ExportData, SharedBase } from '../protocol.js';
import type { SessionState } from './state.js';

/** What a share strategy says about the export data it expects (share/strategy.ts). */
export interface ExportExpectation {
  via: ExportData['via'];
  inputsIndexBases: boolean;
  checkBase(base: SharedBase): string | null;
}

/** Why a peer's export data cannot be used, or null: the wire check of the exchange step. */
export function checkExportData(data: ExportData | null | undefined, inputs: number, expected: ExportExpectation): string | null {
  if (!data) return 'sent nothing';
  if (!Number.isInteger(data.pid) || data.pid <= 0) return 'no pid';
  const { base: baseOf, offset: offsetOf } = data.inputs ?? {};
  if (!Array.isArray(baseOf) || !Array.isArray(offsetOf)) return `no inputs, expected ${inputs}`;
  if (baseOf.length !== offsetOf.length) return `${baseOf.length} base indices and ${offsetOf.length} offsets for ${inputs} inputs`;
  if (baseOf.length !== inputs) return `${baseOf.length} inputs, expected ${inputs}`;
  if (!Array.isArray(data.bases)) return 'no bases';
  if (data.via !== expected.via) return `shared via ${data.via}, expected ${expected.via}`;
  for (const base of data.bases) {
    try {
      hexToPtr(base.base);
    } catch {
      return `a malformed base ${String(base.base).slice(0, 20)}`;
    }
    const problem = expected.checkBase(base);
    if (problem) return problem;
  }
  for (let i = 0; i < inputs; i += 1) {
    const base = baseOf[i];
    const offset = offsetOf[i];
    const inRange = expected.inputsIndexBases ? Number.isInteger(base) && base >= 0 && base < data.bases.length : base === -1;
    if (!inRange || !Number.isInteger(offset) || offset < 0) return 'an input refers to no base';
  }
  return null;
}


export function exchange(state: SessionState, peers: Array<ExportData | null>): void {
  const { rank, ranks, inputs } = state.cfg;
  const { strategy } = state.share;
  state.peers = peers;
  for (let peer = 0; peer < ranks; peer += 1) {
    if (peer === rank) continue;
    const problem = checkExportData(peers[peer], inputs, strategy);
    if (problem) {
      state.rec.failWith('exchange', { peer }, 'all-gather', 'MalformedExchange', `rank ${peer}: ${problem}`);
      return;
    }
  }
  const total = peers.reduce((n, p) => n + (p ? p.bases.length : 0), 0);
  state.rec.succeeded('all-gather', 'exchange', { ranks, bases: total });
}
