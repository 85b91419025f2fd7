import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { buildProbeReport, firstFailure } from '../../lib/report/build.js';
import { renderProbeReport, SIMULATED_BANNER } from '../../lib/report/render.js';
import { toProvenance } from '../../lib/report/provenance.js';
import { call, failure, provenance, rank, run } from './fixtures.js';

const schema = JSON.parse(readFileSync(new URL('../../schema/report.schema.json', import.meta.url), 'utf8')) as object;
const validate = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true }).compile(schema);

function valid(document: unknown): boolean {
  const ok = validate(JSON.parse(JSON.stringify(document)));
  return ok as boolean;
}

describe('building the report', () => {
  it('a clean run passes with exit 0 and no pinpoint', () => {
    const report = buildProbeReport(run());
    expect(report).toMatchObject({ kind: 'probe', schemaVersion: 1, result: 'passed', exitCode: 0, pinpoint: null, simulated: false });
    expect(valid(report)).toBe(true);
    expect(renderProbeReport(report)).not.toContain('SIMULATED');
  });

  it('pinpoints the earliest step, then the lowest rank, and not teardown when something else failed', () => {
    const failures = [
      failure({ rank: 1, step: 'teardown' }),
      failure({ rank: 1, step: 'export' }),
      failure({ rank: 0, step: 'import', provenance: null, call: call({ call: 'cudaIpcOpenMemHandle' }) }),
      failure({ rank: 0, step: 'export' }),
    ];
    expect(firstFailure(failures)).toBe(failures[3]);
    const report = buildProbeReport(run({ failures, ranks: [rank(0, {}, { export: 'failed' }), rank(1, {}, { export: 'failed' })] }));
    expect(report).toMatchObject({ result: 'failed', exitCode: 1 });
    expect(report.pinpoint).toMatchObject({ rank: 0, step: 'export', call: 'cudaIpcGetMemHandle', code: 1, origin: 'own' });
    expect(valid(report)).toBe(true);
  });

  it('an abort is exit 3 whatever else failed, and the schema ties result to exit code', () => {
    const report = buildProbeReport(run({ abort: { reason: 'crashed', message: 'rank 1 was killed by SIGKILL in step import during cudaIpcOpenMemHandle', rank: 1, step: 'import', call: 'cudaIpcOpenMemHandle', args: { flags: 1 }, signal: 'SIGKILL', exitCode: null }, failures: [failure()] }));
    expect(report).toMatchObject({ result: 'aborted', exitCode: 3 });
    expect(valid(report)).toBe(true);
    expect(valid({ ...report, exitCode: 0 })).toBe(false);
    expect(valid({ ...report, schemaVersion: 2 })).toBe(false);
    expect(renderProbeReport(report)).toMatch(/COULD NOT RUN \(exit 3, crashed\)[^\n]*\n {2}rank 1, step import, call in flight: cudaIpcOpenMemHandle \(flags=1\)/);
  });

  it('says SIMULATED first and last when any part came from the simulated device', () => {
    const report = buildProbeReport(run({ ranks: [rank(0, { loader: { backend: 'sim', simulated: true, driver: null, runtime: null, allocation: [], kernels: { available: true, reason: '' } } }), rank(1)] }));
    expect(report.simulated).toBe(true);
    const text = renderProbeReport(report);
    expect(text.startsWith(SIMULATED_BANNER)).toBe(true);
    expect(text.trimEnd().endsWith(SIMULATED_BANNER)).toBe(true);
  });

  it('renders the grid, then the pinpoint with provenance, capture state and the ranked explanations', () => {
    const report = buildProbeReport(run({ failures: [failure()], ranks: [rank(0, {}, { export: 'failed', exchange: 'skipped' }), rank(1)] }));
    const text = renderProbeReport(report);
    const grid = text.indexOf('rank 0   ok');
    const pinpoint = text.indexOf('Pinpoint');
    expect(grid).toBeGreaterThan(0);
    expect(pinpoint).toBeGreaterThan(grid);
    expect(text).toMatch(/rank 0 {3}ok +ok +ok +FAIL +skip/);
    expect(text).toMatch(/the call's own error: last error before 0 cudaSuccess, after 1 cudaErrorInvalidValue/);
    expect(text).toMatch(/legacy-IPC-capable no, allowed handle types 0x0 \(none\)/);
    expect(text).toMatch(/capture: stream 0x10, not capturing \(--capture-mode global\)/);
    expect(text).toMatch(/Why \(most likely first\)\n {2}1\. \[high\] The pointer is VMM memory/);
  });

  it('keeps rejected messages in the report', () => {
    const report = buildProbeReport(run({ rejected: [{ atMs: 3, from: 'tcp 127.0.0.1:5000', reason: 'no token', sample: '{\\"type\\":\\"hello\\"}' }], rejectedDropped: 2 }));
    expect(valid(report)).toBe(true);
    expect(renderProbeReport(report)).toMatch(/Rejected 3 message\(s\)/);
  });
});

describe('provenance', () => {
  const answer = <T>(value: T) => ({ code: 0, value });
  const base = {
    ptr: 0x7f00n,
    memoryType: answer(2),
    deviceOrdinal: answer(0),
    isManaged: answer(false),
    rangeStart: answer(0x7f00n),
    rangeSize: answer(4096),
    mapped: answer(true),
    isLegacyIpcCapable: answer(true),
    allowedHandleTypes: answer(0),
    mempool: answer(0n),
    retainAllocationHandle: { code: 1 },
  };

  it('classifies by the attributes that tell VMM from cudaMalloc', () => {
    expect(toProvenance(base)).toMatchObject({ classification: 'device', vmm: false, mempool: null, rangeStart: '0x7f00', legacyIpcCapable: true });
    expect(toProvenance({ ...base, isLegacyIpcCapable: answer(false), allowedHandleTypes: answer(1), retainAllocationHandle: answer(true) })).toMatchObject({ classification: 'vmm', allowedHandleTypeNames: ['posix-fd'] });
    expect(toProvenance({ ...base, isLegacyIpcCapable: answer(false), mempool: answer(0x99n) }).classification).toBe('pool');
    expect(toProvenance({ ...base, isLegacyIpcCapable: answer(false), isManaged: answer(true) }).classification).toBe('managed');
    expect(toProvenance({ ...base, memoryType: answer(1), isLegacyIpcCapable: answer(false) }).classification).toBe('host');
    const unknown = toProvenance({ ...base, memoryType: { code: 1 }, rangeStart: { code: 1 }, isLegacyIpcCapable: { code: 1 } });
    expect(unknown).toMatchObject({ classification: 'unknown', memoryType: null, refused: { memoryType: 1, rangeStart: 1, isLegacyIpcCapable: 1 } });
    expect(provenance('vmm').classification).toBe('vmm');
  });
});
