// PyTorch's allocator settings read as PyTorch reads them: what it accepts, and what it raises on.
import { describe, expect, it } from 'vitest';
import { readTorchAllocConf } from '../../lib/env/alloc-conf.js';

describe('readTorchAllocConf', () => {
  it('defaults to the native backend without expandable segments', () => {
    expect(readTorchAllocConf({})).toEqual({ ok: true, conf: { variable: null, value: null, backend: 'native', expandableSegments: false } });
  });

  it.each([
    ['expandable_segments:True', { expandableSegments: true, backend: 'native' }],
    ['expandable_segments:False', { expandableSegments: false }],
    [' expandable_segments : True , max_split_size_mb:128', { expandableSegments: true }],
    ['backend:cudaMallocAsync', { backend: 'cudaMallocAsync' }],
    ['roundup_power2_divisions:[256:1,512:2,>:8],expandable_segments:True', { expandableSegments: true }],
    ['', { expandableSegments: false }],
  ])('accepts %j', (value, conf) => {
    const r = readTorchAllocConf({ PYTORCH_CUDA_ALLOC_CONF: value });
    expect(r.ok && r.conf).toMatchObject({ variable: 'PYTORCH_CUDA_ALLOC_CONF', ...conf });
  });

  it.each([
    ['expandable_segments:true', /Expected 'True' or 'False' at index 2 in ConfigTokenizer but got 'true'/],
    ['expandable_segments', /expected :/],
    ['Expandable_Segments:True', /Unrecognized key 'Expandable_Segments' in CUDA allocator config\./],
    ['backend:cudamallocasync', /Unknown allocator backend/],
    ['expandable_segments:True;max_split_size_mb:64', /Expected 'True' or 'False' at index 2 in ConfigTokenizer but got 'True;max_split_size_mb'/],
    ['max_split_size_mb:', /expecting max_split_size_mb value/],
  ])('raises on %j as PyTorch does', (value, message) => {
    const r = readTorchAllocConf({ PYTORCH_CUDA_ALLOC_CONF: value });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(message);
  });

  it('with both set, PYTORCH_CUDA_ALLOC_CONF wins, as PyTorch 2.11 measured', () => {
    const r = readTorchAllocConf({ PYTORCH_ALLOC_CONF: 'expandable_segments:False', PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True' });
    expect(r.ok && r.conf).toMatchObject({ variable: 'PYTORCH_CUDA_ALLOC_CONF', expandableSegments: true });
    expect(readTorchAllocConf({ PYTORCH_ALLOC_CONF: 'expandable_segments:True' })).toMatchObject({ ok: true, conf: { variable: 'PYTORCH_ALLOC_CONF', expandableSegments: true } });
  });
});
