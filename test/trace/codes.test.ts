// lib/trace/codes.ts names the codes of traces that carry numbers only, where no addon may
// load. It is a copy, so it is held here to the one home of CUDA error names and messages: the
// native table behind the addon's describeError (the simulated device answers from it).
import { describe, expect, it } from 'vitest';
import { openCuda } from '../../lib/cuda/index.js';
import { callCodeText, codeText } from '../../lib/trace/codes.js';
import { loadAddon } from '../../lib/binding/native.js';

describe('trace code names', () => {
  it('every code the trace table names is named the same by the native table', () => {
    openCuda({ backend: 'sim' });
    const { binding } = loadAddon();
    let compared = 0;
    for (const api of ['runtime', 'driver'] as const) {
      for (let code = 0; code <= 1000; code++) {
        const mine = codeText(api, code);
        if (mine.name === (api === 'runtime' ? `cudaError ${code}` : `CUresult ${code}`)) continue;
        expect(binding.describeError(code, api === 'driver'), `${api} ${code}`).toEqual([mine.name, mine.message]);
        compared++;
      }
    }
    expect(compared).toBeGreaterThanOrEqual(30);
  });

  it("prefers the trace's own name and message, as the tracer writes them", () => {
    expect(callCodeText({ api: 'driver', code: 1, codeName: 'CUDA_ERROR_INVALID_VALUE', codeMessage: 'invalid argument' })).toEqual({ name: 'CUDA_ERROR_INVALID_VALUE', message: 'invalid argument' });
    expect(callCodeText({ api: 'runtime', code: 901 })).toEqual({ name: 'cudaErrorStreamCaptureInvalidated', message: 'operation failed due to a previous error during capture' });
    expect(callCodeText({ api: 'driver', code: 4242 })).toEqual({ name: 'CUresult 4242', message: 'error 4242' });
  });
});
