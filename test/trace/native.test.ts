// The injection library's own callback code, run without a GPU: test/trace/native/
// callback_harness.cc, linked with the library's sources (native/trace/*.cc), feeds it CUPTI
// callback data by hand and a fake cuPointerGetAttribute, and the trace it writes must read back cleanly and
// summarize to the VMM explanation. Skipped where no C++ compiler or CUPTI headers exist.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseTrace } from '../../lib/trace/read.js';
import { summarizeProcess } from '../../lib/trace/summary.js';
import { compileWithTrace, ROOT, traceBuildUnavailable } from '../contract/trace-build.js';
import { removeScratchDirs, scratchDir } from './helpers.js';

afterAll(removeScratchDirs);

const HARNESS = join(ROOT, 'test', 'trace', 'native', 'callback_harness.cc');

describe.skipIf(traceBuildUnavailable !== null)('injection library callback code (no GPU)', () => {
  it('writes a trace the reader accepts, with nesting, provenance and capture state', () => {
    const work = scratchDir('cuipc-harness-');
    const exe = compileWithTrace(HARNESS, work, 'harness');
    const out = scratchDir('cuipc-harness-trace-');
    const stdout = execFileSync(exe, [], { env: { ...process.env, CUIPC_TRACE_DIR: out, CUIPC_TRACE_RUN: 'harness-run', PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True', HF_TOKEN: 'secret-value' }, encoding: 'utf8' });
    const [file, released] = stdout.trim().split('\n');
    expect(file).toMatch(/cuipc-trace-harness-run-\d+\.jsonl$/);
    expect(released).toBe('2'); // one retain per IPC-export record (runtime and driver), each released again

    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('secret-value');
    const trace = parseTrace(text, file);
    expect(trace.problems).toEqual([]);
    expect(trace.process?.env.PYTORCH_CUDA_ALLOC_CONF).toBe('expandable_segments:True');
    expect(trace.process?.run).toBe('harness-run');
    expect(trace.end?.calls).toBe(7);
    expect(trace.calls.map((c) => `${c.seq} ${c.api} ${c.call} ${c.code}`)).toEqual([
      '1 driver cuMemCreate 0',
      '2 driver cuMemAddressReserve 0',
      '3 driver cuMemMap 0',
      '4 runtime cudaStreamBeginCapture 0',
      '5 runtime cudaIpcGetMemHandle 1',
      '6 driver cuIpcGetMemHandle 1',
      '7 runtime cudaStreamEndCapture 901',
    ]);
    // Each record names its code from the one table (native/loader/cuda_errors.h), runtime or driver.
    const named = trace.calls.map((c) => { const r = c as unknown as Record<string, unknown>; return `${r.codeName} ${r.codeMessage}`; });
    expect(named[0]).toBe('CUDA_SUCCESS no error');
    expect(named[4]).toBe('cudaErrorInvalidValue invalid argument');
    expect(named[5]).toBe('CUDA_ERROR_INVALID_VALUE invalid argument');
    expect(named[6]).toBe('cudaErrorStreamCaptureInvalidated operation failed due to a previous error during capture');
    const inner = trace.calls[5];
    expect(inner.within).toEqual({ call: 'cudaIpcGetMemHandle', seq: 5 });
    expect(inner.provenance).toMatchObject({ ptr: '0x7f2a00000000', memoryType: 2, legacyIpcCapable: false, allowedHandleTypes: 0, vmm: true, refused: {} });
    expect(inner.capture?.active).toEqual([expect.objectContaining({ stream: '0x5600aa000000', mode: 0, seq: 4, sameThread: true })]);
    expect(trace.calls[0].out).toEqual({ handle: '0xabc0' });
    expect(trace.calls[0].args.location).toEqual({ type: 1, id: 0 });

    const summary = summarizeProcess(trace);
    expect(summary.firstFailure?.call.seq).toBe(5);
    expect(summary.firstFailure?.inner.map((c) => c.seq)).toEqual([6]);
    expect(summary.firstFailure?.origin?.create?.seq).toBe(1);
    expect(summary.firstFailure?.explanations[0].id).toBe('vmm-memory');
    expect(summary.firstFailure?.capture?.active[0].mode).toBe('global');
  }, 120_000);
});
