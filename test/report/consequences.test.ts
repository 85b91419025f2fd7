// When a rank dies, what its peers then fail at is a consequence of the death, not a cause: the
// pinpoint is never a survivor's follow-on error (the 205 of opening a dead rank's handle, say),
// and the abort lists those calls as consequences.
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { buildProbeReport } from '../../lib/report/build.js';
import type { ProbeAbort } from '../../lib/report/types.js';
import { call, failure, rank, run } from './fixtures.js';

const schema = JSON.parse(readFileSync(new URL('../../schema/report.schema.json', import.meta.url), 'utf8')) as object;
const validate = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true }).compile(schema);

const died: ProbeAbort = { reason: 'crashed', message: 'rank 2 was killed (SIGKILL) in step import', rank: 2, step: 'import', call: 'cudaIpcOpenMemHandle', signal: 'SIGKILL', exitCode: null };
const followOn = failure({ rank: 0, step: 'import', provenance: null, call: call({ call: 'cudaIpcOpenMemHandle', code: 205, name: 'cudaErrorMapBufferObjectFailed', message: 'mapping of buffer object failed' }) });

describe('consequences of a rank that died', () => {
  it("a survivor's error in the dead rank's step is no pinpoint; the abort names it as a consequence", () => {
    const report = buildProbeReport(run({ ranks: [rank(0, {}, { import: 'failed' }), rank(1), rank(2, {}, { import: 'crashed' })], failures: [followOn], abort: died }));
    expect(report.result).toBe('aborted');
    expect(report.pinpoint).toBeNull();
    expect(report.abort?.consequences).toEqual([{ rank: 0, step: 'import', call: 'cudaIpcOpenMemHandle', code: 205, name: 'cudaErrorMapBufferObjectFailed' }]);
    expect(report.abort?.message).toMatch(/consequence, not a cause \(rank 0 import: cudaIpcOpenMemHandle -> 205\)/);
    expect(validate(JSON.parse(JSON.stringify(report)))).toBe(true);
  });

  it('a failure before the death stays the pinpoint', () => {
    const earlier = failure({ rank: 1, step: 'export' });
    const report = buildProbeReport(run({ ranks: [rank(0), rank(1, {}, { export: 'failed' }), rank(2, {}, { import: 'crashed' })], failures: [earlier, followOn], abort: died }));
    expect(report.pinpoint).toMatchObject({ rank: 1, step: 'export' });
    expect(report.abort?.consequences?.map((c) => c.rank)).toEqual([0]);
  });

  it('an interrupt is no death: nothing is called a consequence', () => {
    const interrupted: ProbeAbort = { ...died, reason: 'interrupted', signal: 'SIGINT' };
    const report = buildProbeReport(run({ failures: [followOn], abort: interrupted }));
    expect(report.pinpoint).toMatchObject({ rank: 0, step: 'import' });
    expect(report.abort?.consequences).toBeUndefined();
  });
});
