// Where a pointer came from, from the trace itself: the traced allocation that holds it just
// before a call, and whether it was released by then.
import { describe, expect, it } from 'vitest';
import type { TraceCallLine } from '../../lib/trace/format.js';
import { findOrigin } from '../../lib/trace/origin.js';
import { fixture } from './helpers.js';

describe('findOrigin', () => {
  it('finds where an exported pointer came from when nothing failed: the runtime call, not the driver call inside it', () => {
    const calls = fixture('plain_cudamalloc.synthetic.jsonl').calls;
    const origin = findOrigin(calls, '0x7f5000000400', 3);
    expect(origin?.how).toBe('allocation');
    expect(origin?.call.call).toBe('cudaMalloc');
    expect(origin?.madeBy?.lib).toMatch(/libc10_cuda\.so$/);
  });

  it('tells a freed allocation from a live one', () => {
    const call = (seq: number, kind: TraceCallLine['kind'], args: TraceCallLine['args'], out?: TraceCallLine['out']): TraceCallLine => ({
      type: 'call', seq, t: seq, tid: 1, api: 'runtime', call: kind === 'alloc' ? 'cudaMalloc' : 'cudaFree', kind, code: 0, args, ...(out ? { out } : {}),
    });
    const calls = [call(1, 'alloc', { size: 4096 }, { ptr: '0x1000' }), call(2, 'free', { ptr: '0x1000' })];
    expect(findOrigin(calls, '0x1800', 2)?.released).toBeNull();
    const gone = findOrigin(calls, '0x1800', 3);
    expect(gone?.released?.call).toBe('cudaFree');
    expect(findOrigin(calls, '0x9000', 3)).toBeNull();
  });
});
