// The layout of the addon's packed forms as lib/cuda/hot.ts reads them: the IPC handle size and
// the order of pointerAttributesInto's slots. binding.d.ts declares PointerAttributes' fields in
// slot order and documents 64-byte handles; where the addon exports its own constants (their
// native home), the TypeScript values must be those.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAddon } from '../../lib/binding/native.js';
import { IPC_HANDLE_BYTES, POINTER_ATTRIBUTE_SLOTS } from '../../lib/cuda/hot.js';
import { IPC_HANDLE_BYTES as exported } from '../../lib/index.js';

const declarations = readFileSync(join(import.meta.dirname, '..', '..', 'binding.d.ts'), 'utf8');

function interfaceMembers(name: string): string[] {
  const body = new RegExp(`export interface ${name} \\{([\\s\\S]*?)\\n\\}`).exec(declarations)?.[1] ?? '';
  return [...body.matchAll(/^ {2}(?:readonly )?(\w+)\??:/gm)].map((m) => m[1]);
}

describe('packed-form layout', () => {
  it("reads pointerAttributesInto's slots in the order binding.d.ts declares PointerAttributes", () => {
    expect(interfaceMembers('PointerAttributes')).toEqual(['ptr', ...POINTER_ATTRIBUTE_SLOTS]);
  });

  it('uses the 64-byte handles binding.d.ts documents, and exports that size', () => {
    expect(declarations).toMatch(/64 bytes per pointer/);
    expect(IPC_HANDLE_BYTES).toBe(64);
    expect(exported).toBe(IPC_HANDLE_BYTES);
  });

  const { binding } = loadAddon();
  const constants = (binding as { constants?: { ipcHandleBytes: number; pointerAttributeSlots: readonly string[] } }).constants;
  it.skipIf(constants === undefined)("matches the addon's own constants, their native home", () => {
    expect(constants?.ipcHandleBytes).toBe(IPC_HANDLE_BYTES);
    expect(constants?.pointerAttributeSlots).toEqual([...POINTER_ATTRIBUTE_SLOTS]);
  });
});
