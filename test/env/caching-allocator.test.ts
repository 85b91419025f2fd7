// The segment layout PyTorch's caching allocator gives (c10/cuda/CUDACachingAllocator.cpp:
// round_size, get_allocation_size, get_free_block, should_split), for a table of request sizes.
import { describe, expect, it } from 'vitest';
import { planAllocations, roundSize, segmentSize } from '../../lib/env/caching-allocator.js';

const KiB = 1024;
const MiB = 1024 * 1024;

describe('PyTorch caching allocator rules', () => {
  it.each([
    [1, 512],
    [512, 512],
    [513, 1024],
    [4096, 4096],
    [MiB + 1, MiB + 512],
  ])('round_size(%i) = %i', (bytes, rounded) => expect(roundSize(bytes)).toBe(rounded));

  it.each([
    [512, 2 * MiB],
    [MiB, 2 * MiB],
    [MiB + 512, 20 * MiB],
    [10 * MiB - 512, 20 * MiB],
    [10 * MiB, 10 * MiB],
    [11 * MiB + 512, 12 * MiB],
    [100 * MiB, 100 * MiB],
  ])('a request of %i bytes makes a segment of %i', (rounded, segment) => expect(segmentSize(rounded)).toBe(segment));
});

describe('planAllocations', () => {
  it('packs 72 inputs of 4 KiB and their 288 KiB output into one 2 MiB segment, back to back', () => {
    const plan = planAllocations([...Array.from({ length: 72 }, () => 4 * KiB), 72 * 4 * KiB]);
    expect(plan.segments).toEqual([{ pool: 'small', bytes: 2 * MiB }]);
    expect(plan.blocks.slice(0, 72).map((b) => b.offset)).toEqual(Array.from({ length: 72 }, (_, i) => i * 4 * KiB));
    expect(plan.blocks[72]).toEqual({ segment: 0, offset: 72 * 4 * KiB, bytes: 72 * 4 * KiB, requested: 72 * 4 * KiB });
  });

  it('starts a new small segment when the free block is too small', () => {
    const plan = planAllocations([MiB, MiB, MiB]);
    expect(plan.segments).toEqual([{ pool: 'small', bytes: 2 * MiB }, { pool: 'small', bytes: 2 * MiB }]);
    expect(plan.blocks.map((b) => [b.segment, b.offset])).toEqual([[0, 0], [0, MiB], [1, 0]]);
  });

  it('splits a 20 MiB large segment only while more than 1 MiB would remain', () => {
    const plan = planAllocations([9 * MiB, 9 * MiB, 9 * MiB]);
    expect(plan.segments.map((s) => s.bytes)).toEqual([20 * MiB, 20 * MiB]);
    expect(plan.blocks.map((b) => [b.segment, b.offset, b.bytes])).toEqual([[0, 0, 9 * MiB], [0, 9 * MiB, 9 * MiB], [1, 0, 9 * MiB]]);
    // A remainder of 1 MiB - 512 is not split off: the block is the whole segment.
    const whole = planAllocations([19 * MiB + 512, 512]);
    expect(whole.blocks[0]).toMatchObject({ segment: 0, offset: 0, bytes: 20 * MiB });
    expect(whole.segments).toEqual([{ pool: 'large', bytes: 20 * MiB }, { pool: 'small', bytes: 2 * MiB }]);
  });

  it('with expandable segments keeps any remainder of 512 bytes or more', () => {
    const plan = planAllocations([19 * MiB + 512], { expandableSegments: true });
    expect(plan.blocks[0].bytes).toBe(19 * MiB + 512);
  });

  it('takes the smallest free block that fits (best fit), then the lowest address', () => {
    // Segment 0 keeps 512 KiB free after two 768 KiB tensors; 900 KiB opens segment 1 (1148 KiB free).
    const plan = planAllocations([768 * KiB, 768 * KiB, 900 * KiB, 256 * KiB]);
    expect(plan.blocks[2]).toMatchObject({ segment: 1, offset: 0 });
    expect(plan.blocks[3]).toMatchObject({ segment: 0, offset: 1536 * KiB });
  });

  it('gives large requests a segment of their own, rounded to 2 MiB', () => {
    const plan = planAllocations([64 * MiB + 1]);
    expect(plan.segments).toEqual([{ pool: 'large', bytes: 66 * MiB }]);
    // The 2 MiB - 512 left is more than 1 MiB: split off for later requests.
    expect(plan.blocks[0].bytes).toBe(64 * MiB + 512);
  });

  it('refuses a request that is not a positive integer', () => {
    expect(() => planAllocations([0])).toThrow(RangeError);
    expect(() => planAllocations([1.5])).toThrow(/positive integer/);
  });
});
