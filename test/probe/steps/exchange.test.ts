// The exchange step's wire check (checkExportData): a peer's export data comes from another
// process, so a wrong shape must be refused with a reason before the import step maps anything.
import { describe, expect, it } from 'vitest';
import type { ExportData } from '../../../lib/probe/protocol.js';
import { checkExportData, type ExportExpectation } from '../../../lib/probe/steps/exchange.js';

const ipc: ExportExpectation = { via: 'ipc', inputsIndexBases: true, checkBase: () => null };
const registered: ExportExpectation = { via: 'registered', inputsIndexBases: false, checkBase: () => null };

function data(inputs: ExportData['inputs'], bases = 2, via: ExportData['via'] = 'ipc'): ExportData {
  return { pid: 1234, via, bases: Array.from({ length: bases }, (_, b) => ({ base: `0x${(0x7f0000000000 + b * 0x200000).toString(16)}`, handle: 'ab'.repeat(64), bytes: 0x200000 })), inputs };
}

describe('checkExportData', () => {
  it('takes inputs that index the bases with their offsets', () => {
    expect(checkExportData(data({ base: [0, 0, 1], offset: [0, 4096, 0] }), 3, ipc)).toBeNull();
    expect(checkExportData(data({ base: [-1, -1], offset: [0, 4096] }, 0, 'registered'), 2, registered)).toBeNull();
  });

  it('refuses a count, an index or an offset that does not fit, saying which', () => {
    expect(checkExportData(data({ base: [0, 0], offset: [0, 4096] }), 3, ipc)).toBe('2 inputs, expected 3');
    expect(checkExportData(data({ base: [0, 0, 0], offset: [0, 4096] }), 3, ipc)).toBe('3 base indices and 2 offsets for 3 inputs');
    expect(checkExportData(data({ base: [0, 2, 1], offset: [0, 0, 0] }), 3, ipc)).toBe('an input refers to no base');
    expect(checkExportData(data({ base: [0, 1, 1], offset: [0, -8, 0] }), 3, ipc)).toBe('an input refers to no base');
    expect(checkExportData(data({ base: [0, 1], offset: [0, 0.5] }), 2, ipc)).toBe('an input refers to no base');
    expect(checkExportData(data({ base: [0, 1], offset: [0, 0] }, 2), 2, registered)).toBe('shared via ipc, expected registered');
  });

  it('refuses data without the arrays (an older or foreign peer), and nothing at all', () => {
    expect(checkExportData({ ...data({ base: [], offset: [] }), inputs: [{ base: 0, offset: 0 }] as unknown as ExportData['inputs'] }, 1, ipc)).toBe('no inputs, expected 1');
    expect(checkExportData(null, 1, ipc)).toBe('sent nothing');
  });
});
