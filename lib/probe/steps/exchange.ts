// The exchange step: check what the all-gather brought from every peer before the import step
// opens or maps any of it.
import { checkExportData } from '../export-check.js';
import type { ExportData } from '../protocol.js';
import type { SessionState } from './state.js';

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
