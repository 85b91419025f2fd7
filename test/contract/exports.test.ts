// The native/TypeScript contract: the addon exports exactly what binding.d.ts declares in
// NativeBinding (no missing function that TypeScript would call, no undeclared export that
// nothing types), and binding.constants carries the numbers TypeScript reads. The addon is
// loaded in a child process, as node-llama-cpp tries its binding, so a crash or a failed
// load reports here instead of taking the test runner down.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './trace-build.js';

/** The body of `export interface NativeBinding { ... }`, following re-exports from binding.d.ts. */
function nativeBindingSource(file: string, seen = new Set<string>()): string {
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  const start = text.search(/export interface NativeBinding\s*\{/);
  if (start >= 0) {
    let depth = 0;
    for (let i = text.indexOf('{', start); i < text.length; i++) {
      if (text[i] === '{') depth++;
      else if (text[i] === '}' && --depth === 0) return text.slice(text.indexOf('{', start) + 1, i);
    }
    throw new Error(`${file}: NativeBinding is not closed`);
  }
  for (const m of text.matchAll(/from\s+'(\.[^']+)'/g)) {
    const base = resolve(dirname(file), m[1].replace(/\.js$/, ''));
    for (const next of [`${base}.d.ts`, `${base}.ts`]) {
      if (existsSync(next) && !seen.has(next)) {
        try {
          return nativeBindingSource(next, seen);
        } catch {
          // not there: try the next re-export
        }
      }
    }
  }
  throw new Error(`${file}: no NativeBinding interface`);
}

/** Member names at the interface's top level (comments and nested types skipped). */
function declaredMembers(body: string): string[] {
  const code = body.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');
  const names: string[] = [];
  let depth = 0;
  for (const line of code.split('\n')) {
    if (depth === 0) {
      const m = /^\s*(?:readonly\s+)?([A-Za-z_$][\w$]*)\??\s*[(:<]/.exec(line);
      if (m) names.push(m[1]);
    }
    for (const c of line) {
      if (c === '{' || c === '(' || c === '[') depth++;
      else if (c === '}' || c === ')' || c === ']') depth--;
    }
  }
  return names;
}

// Also reads one cudaMalloc allocation's attributes on the simulated device by slot name.
const PROBE = `
const path = require('node:path');
const gyp = require('node-gyp-build');
const addon = process.env.CUIPC_ADDON || gyp.path(process.argv[1]);
const binding = require(addon);
const constants = binding.constants;
const sim = path.join(path.dirname(addon), 'libcuipc_sim.so');
binding.load({ backend: 'sim', driverCandidates: [{ candidate: sim, source: 'test' }], runtimeCandidates: [] });
const bytes = 3 << 20;
const a = binding.malloc('device', bytes);
const n = constants.pointerAttributeSlots.length;
const values = new BigUint64Array(n), codes = new Int32Array(n);
const missing = binding.pointerAttributesInto(a.value.ptr, values, codes);
const bySlot = {};
constants.pointerAttributeSlots.forEach((name, i) => { bySlot[name] = [codes[i], String(values[i])]; });
const handle = new Uint8Array(constants.ipcHandleBytes);
const handleCode = binding.ipcGetMemHandleInto(a.value.ptr, handle);
binding.free(a.value.ptr);
process.stdout.write(JSON.stringify({
  keys: Object.keys(binding),
  functions: Object.keys(binding).filter((k) => typeof binding[k] === 'function'),
  constants,
  frozen: Object.isFrozen(constants) && Object.isFrozen(constants.pointerAttributeSlots),
  attributes: { missing, bytes, ptr: String(a.value.ptr), bySlot },
  handleCode,
}));
`;

interface Loaded {
  keys: string[];
  functions: string[];
  constants: { ipcHandleBytes: number; pointerAttributeSlots: string[] };
  frozen: boolean;
  attributes: { missing: number; bytes: number; ptr: string; bySlot: Record<string, [number, string]> };
  handleCode: number;
}

function loadInChild(): Loaded {
  const r = spawnSync(process.execPath, ['-e', PROBE, ROOT], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`the addon did not load in a child process (status ${r.status}, signal ${r.signal}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as Loaded;
}

describe('addon exports = binding.d.ts NativeBinding', () => {
  const declared = declaredMembers(nativeBindingSource(join(ROOT, 'binding.d.ts')));
  const loaded = loadInChild();

  it('the declaration parses to a plausible member list', () => {
    expect(declared.length).toBeGreaterThan(40);
    expect(declared).toContain('load');
    expect(declared).toContain('constants');
    expect(new Set(declared).size).toBe(declared.length);
  });

  it('every declared member is exported, and nothing else is', () => {
    const missing = declared.filter((n) => !loaded.keys.includes(n));
    const undeclared = loaded.keys.filter((n) => !declared.includes(n));
    expect({ missing, undeclared }).toEqual({ missing: [], undeclared: [] });
  });

  it('every export but constants is a function', () => {
    expect(loaded.keys.filter((k) => !loaded.functions.includes(k))).toEqual(['constants']);
  });

  it('constants: the IPC handle size and the pointer-attribute slots, frozen', () => {
    expect(loaded.frozen).toBe(true);
    expect(loaded.constants.ipcHandleBytes).toBe(64);  // CUDA_IPC_HANDLE_SIZE
    // The slots name every PointerAttributes field but ptr, once each.
    const attrs = declaredMembers(/export interface PointerAttributes\s*\{([\s\S]*?)\n\}/.exec(readFileSync(join(ROOT, 'binding.d.ts'), 'utf8'))?.[1] ?? '');
    expect(attrs.length).toBeGreaterThan(5);
    expect([...loaded.constants.pointerAttributeSlots].sort()).toEqual(attrs.filter((a) => a !== 'ptr').sort());
    expect(loaded.constants.pointerAttributeSlots.at(-1)).toBe('retainAllocationHandle');
  });

  it('each slot answers the attribute it names (cudaMalloc memory on the simulated device)', () => {
    const { missing, bytes, ptr, bySlot } = loaded.attributes;
    expect(missing).toBe(0);
    expect(bySlot.memoryType).toEqual([0, '2']);  // CU_MEMORYTYPE_DEVICE
    expect(bySlot.deviceOrdinal).toEqual([0, '0']);
    expect(bySlot.isManaged).toEqual([0, '0']);
    expect(bySlot.rangeStart).toEqual([0, ptr]);
    expect(bySlot.rangeSize).toEqual([0, String(bytes)]);
    expect(bySlot.isLegacyIpcCapable).toEqual([0, '1']);
    expect(bySlot.allowedHandleTypes).toEqual([0, '0']);
    expect(bySlot.retainAllocationHandle[1]).toBe('0');  // not VMM memory
    expect(loaded.handleCode).toBe(0);  // a handle fits in ipcHandleBytes
  });
});
