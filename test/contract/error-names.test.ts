// CUDA error names and messages have one home, native/loader/cuda_errors.h; TypeScript reads
// them through the addon's describeError. A TypeScript copy is allowed only for summarising a
// trace without the addon (lib/trace/codes.ts), and then it must say what the home says: this
// test compares every code it names with describeError on the simulated device (whose
// cudaGetErrorName/cuGetErrorName answer from the same table), in a child process.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT } from './trace-build.js';

const CODES = [...Array(1000).keys(), 10000];

const PROBE = `
const path = require('node:path');
const gyp = require('node-gyp-build');
const addon = process.env.CUIPC_ADDON || gyp.path(process.argv[1]);
const binding = require(addon);
const sim = path.join(path.dirname(addon), 'libcuipc_sim.so');
binding.load({ backend: 'sim', driverCandidates: [{ candidate: sim, source: 'test' }], runtimeCandidates: [] });
const codes = JSON.parse(process.argv[2]);
const out = { runtime: {}, driver: {} };
for (const c of codes) { out.runtime[c] = binding.describeError(c, false); out.driver[c] = binding.describeError(c, true); }
process.stdout.write(JSON.stringify(out));
`;

function describeAll(): { runtime: Record<number, [string, string]>; driver: Record<number, [string, string]> } {
  const r = spawnSync(process.execPath, ['-e', PROBE, ROOT, JSON.stringify(CODES)], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`the addon did not load in a child process (status ${r.status}):\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('CUDA error names: one table', () => {
  const native = describeAll();

  it('the table names runtime and driver codes apart (35 is a runtime code only)', () => {
    expect(native.runtime[1]).toEqual(['cudaErrorInvalidValue', 'invalid argument']);
    expect(native.driver[1]).toEqual(['CUDA_ERROR_INVALID_VALUE', 'invalid argument']);
    expect(native.runtime[35][0]).toBe('cudaErrorInsufficientDriver');
    // cuda.h defines no CUresult 35; it is not CUDA_ERROR_UNKNOWN (999).
    expect(native.driver[35][0]).not.toBe('CUDA_ERROR_UNKNOWN');
    expect(native.driver[999][0]).toBe('CUDA_ERROR_UNKNOWN');
    expect(native.runtime[901][0]).toBe('cudaErrorStreamCaptureInvalidated');
  });

  it('a TypeScript copy for trace summaries (if any) agrees with the table', async () => {
    const codes = await import('../../lib/trace/codes.js').catch(() => null);
    if (codes === null || typeof codes.codeText !== 'function') return;  // no copy: nothing to hold
    let compared = 0;
    for (const api of ['runtime', 'driver'] as const) {
      for (const code of CODES) {
        const ts = codes.codeText(api, code);
        if (ts.name.startsWith('cudaError ') || ts.name.startsWith('CUresult ')) continue;  // the copy does not name it
        expect([ts.name, ts.message], `${api} ${code}`).toEqual(native[api][code]);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(10);
  });
});
