// The API's edges with absurd sizes: a RangeError that names the limit, before any host
// memory is allocated, and numbers in messages as JavaScript writes them (1e+20, not a
// wrapped negative int64). On the simulated device; the checks are in the addon, before CUDA.
import { describe, expect, it } from 'vitest';
import { openCuda } from '../../lib/cuda/index.js';

const cuda = openCuda({ backend: 'sim' });
cuda.setDevice(0);
const allocation = cuda.malloc('device', 4096);
const ptr = allocation.value!.ptr;

describe('copyToHost sizes', () => {
  it('2**40: RangeError naming the 4 GiB limit', () => {
    expect(() => cuda.copyToHost(ptr, 2 ** 40)).toThrow(RangeError);
    expect(() => cuda.copyToHost(ptr, 2 ** 40)).toThrow(/at most 4 GiB, 4294967296.*got 1099511627776/);
  });

  it('2**31 past a 4 KiB allocation: RangeError before 2 GB is allocated', () => {
    const before = process.memoryUsage().rss;
    expect(() => cuda.copyToHost(ptr, 2 ** 31)).toThrow(/bytes 2147483648 runs past the end of the allocation at src \(4096 byte\(s\) left of 4096\)/);
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 1024 * 1024);
  });

  it('an interior pointer counts from where it points', () => {
    expect(() => cuda.copyToHost(ptr + 4000n, 97)).toThrow(/96 byte\(s\) left of 4096/);
    expect(cuda.copyToHost(ptr + 4000n, 96).value?.length).toBe(96);
  });

  it('1e20 and -1: the number as given, not a wrapped negative', () => {
    expect(() => cuda.copyToHost(ptr, 1e20)).toThrow(/got 1e\+20$/);
    expect(() => cuda.memset(ptr, 0, 1e20)).toThrow(/bytes must be between 0 and 9007199254740992, got 1e\+20$/);
    expect(() => cuda.memset(ptr, 0, -1)).toThrow(/got -1$/);
    expect(() => cuda.memset(ptr, 0, 1.5)).toThrow(/must be an integer, got 1.5$/);
  });

  it('a whole allocation still copies', () => {
    expect(cuda.copyToHost(ptr, 4096).ok).toBe(true);
  });
});
