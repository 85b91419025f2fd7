import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openCuda, type Cuda } from '../../../lib/cuda/index.js';

/** The backend under test: the simulated device in `npm test`, the GPU in `npm run test:gpu`. */
export async function cudaUnderTest(): Promise<Cuda> {
  const cuda = openCuda();
  const init = await cuda.initDeviceAsync(0);
  if (!init.ok) throw new Error(`device 0 could not be initialised: ${init.code} ${init.name} (${init.message})`);
  return cuda;
}

export interface OtherProcessAnswer {
  init: number;
  open?: number;
  fdOk?: boolean;
  fdMessage?: string;
  memcpy?: number;
  sum?: number | null;
  kernel?: number;
  kernelSum?: number;
  close?: number;
}

export function inOtherProcess(request: Record<string, unknown>): OtherProcessAnswer {
  const script = fileURLToPath(new URL('./other-process.mjs', import.meta.url));
  const result = spawnSync(process.execPath, [script, JSON.stringify(request)], { encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`other process failed (${result.status} ${result.signal}): ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as OtherProcessAnswer;
}

/** The fill kernel's pattern: seed * 2654435761 + i (mod 2^32). */
export function fillPattern(seed: number, count: number): Uint32Array {
  const a = new Uint32Array(count);
  for (let i = 0; i < count; i++) a[i] = (Math.imul(seed, 2654435761) + i) >>> 0;
  return a;
}

export function sum32(a: Uint32Array): number {
  let s = 0;
  for (const v of a) s = (s + v) >>> 0;
  return s;
}
