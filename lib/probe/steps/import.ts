// The import step: what the share strategy maps of each peer's inputs, then the all-reduce's
// pointer tables, written to the device in one copy.
import { ptrToHex } from '../hex.js';
import type { InputLocator } from '../share/index.js';
import type { SessionState } from './state.js';

export async function importInputs(state: SessionState): Promise<void> {
  const { rank, ranks, inputs } = state.cfg;
  const cuda = state.api;
  const { strategy, ctx } = state.share;
  const locate: InputLocator[] = [];
  for (let peer = 0; peer < ranks; peer += 1) {
    if (peer === rank) {
      locate.push(strategy.ownInputs(ctx));
      continue;
    }
    const data = state.peers[peer];
    if (!data) throw new TypeError(`import without rank ${peer}'s export data`);
    const located = await strategy.importPeer(ctx, peer, data);
    if (!located) return;
    locate.push(located);
  }
  // Pointer table i: for each rank r, where input i of rank r is visible from here.
  const tables = state.tablesPtr;
  if (tables === null) throw new TypeError('import before capture');
  state.hostTables = Array.from({ length: inputs }, (_, i) => locate.map((at) => at(i)));
  // All tables are one block, table i at i * ranks pointers: one copy writes them all.
  const data = new Uint8Array(BigUint64Array.from(state.hostTables.flat()).buffer);
  await state.rec.call('cudaMemcpy', 'copyFromHost', { dst: ptrToHex(tables), bytes: data.byteLength, tables: inputs }, () => cuda.copyFromHost(tables, data), { ptr: tables });
}
