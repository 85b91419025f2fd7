// Backend resolution's one home (lib/binding/backend.ts): the option, else CUIPC_BACKEND, else
// the caller's default; a bad value names where it came from; 'auto' follows the driver library.
import { describe, expect, it } from 'vitest';
import { concreteBackend, driverLibraryPresent, requestedBackend } from '../../lib/binding/backend.js';
import { resolveBackend as fromCuda } from '../../lib/cuda/index.js';
import { resolveBackend } from '../../lib/binding/backend.js';

describe('backend resolution', () => {
  it('takes the option, else CUIPC_BACKEND, else the default', () => {
    expect(requestedBackend('sim', { CUIPC_BACKEND: 'cuda' })).toEqual({ choice: 'sim', from: 'option' });
    expect(requestedBackend(undefined, { CUIPC_BACKEND: 'sim' })).toEqual({ choice: 'sim', from: 'CUIPC_BACKEND' });
    expect(requestedBackend(undefined, {})).toEqual({ choice: 'cuda', from: 'default' });
    expect(requestedBackend(undefined, {}, 'auto')).toEqual({ choice: 'auto', from: 'default' });
  });

  it('names where a bad value came from', () => {
    expect(() => requestedBackend('gpu', {})).toThrow(new RangeError("backend must be 'cuda', 'sim' or 'auto' (from the option), got 'gpu'"));
    expect(() => requestedBackend(undefined, { CUIPC_BACKEND: '' })).toThrow(/\(from CUIPC_BACKEND\), got ''/);
  });

  it("decides 'auto' by the driver library, and leaves a concrete choice alone", () => {
    expect(concreteBackend('auto')).toBe(driverLibraryPresent() ? 'cuda' : 'sim');
    expect(concreteBackend('sim')).toBe('sim');
    expect(concreteBackend('cuda')).toBe('cuda');
  });

  it('is the one the library exports from lib/cuda', () => {
    expect(fromCuda).toBe(resolveBackend);
  });
});
