// The replay step, in two rounds: every rank fills its inputs (fill) before any graph reads a
// peer's, then each launches its graph (launch).
import type { Ptr } from '../../../binding.js';
import { ptrToHex } from '../hex.js';
import { fillBytes, seedOf } from '../values.js';
import type { SessionState } from './state.js';

export async function fill(state: SessionState): Promise<void> {
  const { rank, inputs, bytes } = state.cfg;
  const cuda = state.api;
  const stream = state.stream as Ptr;
  const count = bytes / 4;
  if (state.kernels) {
    // Every input's fill, launched by one addon call.
    const ptrs = BigUint64Array.from(state.inputs);
    const seeds = Uint32Array.from({ length: inputs }, (_, i) => seedOf(rank, i));
    const filled = state.rec.batch(
      'cuLaunchKernel',
      'launchFillBatch',
      { launches: inputs, count, stream: ptrToHex(stream) },
      () => cuda.launchFillBatch(ptrs, count, seeds, stream),
      (i) => ({ ptr: ptrToHex(ptrs[i]), count, seed: seeds[i], stream: ptrToHex(stream) }),
      (i) => ({ ptr: ptrs[i] }),
    );
    if (!filled) return;
  } else {
    for (let i = 0; i < inputs; i += 1) {
      const ptr = state.inputs[i];
      const seed = seedOf(rank, i);
      const filled = await state.rec.call('cudaMemcpy', 'copyFromHost', { dst: ptrToHex(ptr), bytes, seed }, () => cuda.copyFromHost(ptr, fillBytes(seed, count)), { ptr });
      if (!filled.ok) return;
    }
  }
  const synced = await state.rec.call('cudaStreamSynchronize', 'streamSynchronizeAsync', { stream: ptrToHex(stream) }, () => cuda.streamSynchronizeAsync(stream));
  if (!synced.ok) return;
  const { strategy, ctx } = state.share;
  await strategy.afterFill(ctx);
}

export async function launch(state: SessionState): Promise<void> {
  const cuda = state.api;
  const stream = state.stream as Ptr;
  const exec = state.exec as Ptr;
  const launched = await state.rec.call('cudaGraphLaunch', 'graphLaunch', { exec: ptrToHex(exec), stream: ptrToHex(stream) }, () => cuda.graphLaunch(exec, stream));
  if (!launched.ok) return;
  state.graphLaunched = true;
  await state.rec.call('cudaStreamSynchronize', 'streamSynchronizeAsync', { stream: ptrToHex(stream) }, () => cuda.streamSynchronizeAsync(stream));
}
