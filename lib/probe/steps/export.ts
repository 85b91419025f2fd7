// The export step: each graph input's allocation base, de-duplicated, then what the share
// strategy sends for each base. The bases are read in one batch, announced once.
import type { Ptr } from '../../../binding.js';
import { ptrToHex } from '../hex.js';
import type { ExportData, RoundData } from '../protocol.js';
import type { SessionState } from './state.js';

export async function exportInputs(state: SessionState): Promise<RoundData> {
  const cuda = state.api;
  const { strategy, ctx } = state.share;
  state.rec.announce('export', 'cuPointerGetAttribute', 'rangeStartBatch', { count: state.inputs.length });
  const before = cuda.peekAtLastError();
  const ranges = cuda.rangeStartBatch(state.inputs);
  const argsOf = (i: number) => ({ ptr: ptrToHex(state.inputs[i]), attribute: 'CU_POINTER_ATTRIBUTE_RANGE_START_ADDR', input: i });
  // The lookups up to the first failure are one record (with the first input's arguments), the
  // failure one more; arguments are formatted only for those, not for every input.
  const firstFailed = ranges.failed > 0 ? ranges.codes.findIndex((code) => code !== 0) : -1;
  const succeeded = firstFailed < 0 ? ranges.count : firstFailed;
  if (succeeded > 0) state.rec.succeeded(ranges.call, 'rangeStartBatch', argsOf(0), succeeded);
  if (firstFailed >= 0) {
    state.rec.fail('rangeStartBatch', argsOf(firstFailed), ranges.status(firstFailed), { ptr: state.inputs[firstFailed] }, before);
    return { kind: 'none' };
  }
  const baseIndex = new Map<bigint, number>();
  const bases: Ptr[] = [];
  const inputs: ExportData['inputs'] = { base: [], offset: [] };
  for (let i = 0; i < ranges.count; i += 1) {
    const base = ranges.bases[i];
    let index = baseIndex.get(base);
    if (index === undefined) {
      index = bases.length;
      baseIndex.set(base, index);
      bases.push(base);
    }
    inputs.base.push(index);
    inputs.offset.push(Number(state.inputs[i] - base));
  }
  state.rec.note(`${state.inputs.length} inputs in ${bases.length} allocation bases`);
  const exported = await strategy.export(ctx, { bases, inputs });
  return exported ? { kind: 'export', export: exported } : { kind: 'none' };
}
