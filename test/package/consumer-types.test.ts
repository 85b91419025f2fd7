// A consumer's view of the types: a small project compiled with `tsc --strict` against the
// package as it resolves from node_modules (dist/types/, through the import and the require
// condition alike). Results narrow without non-null assertions, and misuse does not compile.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const scratch = mkdtempSync(join(tmpdir(), 'cuipc-consumer-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

mkdirSync(join(scratch, 'node_modules'));
symlinkSync(root, join(scratch, 'node_modules', 'cuipc'), 'dir');
writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
writeFileSync(join(scratch, 'tsconfig.json'), JSON.stringify({
  compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, types: ['node'], skipLibCheck: false, typeRoots: [join(root, 'node_modules', '@types')] },
  include: ['*.ts', '*.cts'],
}));

// Both files in one tsc run (one compile of the package's types): use.ts must compile clean,
// misuse.ts must fail exactly where a consumer misuses the API.
writeFileSync(join(scratch, 'use.ts'), `
import { openCuda, probe, type ProbeReport, type Pinpoint, type ProbeAbort } from 'cuipc';

export async function main(): Promise<number> {
  const cuda = openCuda({ backend: 'sim' });
  const a = cuda.malloc('vmm', 1 << 20);
  if (!a.ok) return a.code;
  const ptr: bigint = a.value.ptr;
  const h = cuda.ipcGetMemHandle(ptr);
  const why: string = h.ok ? 'exported' : \`\${h.name}: \${h.message}\`;
  const attrs = cuda.pointerAttributes(ptr);
  const capable: boolean | undefined = attrs.ok ? attrs.value.isLegacyIpcCapable.value : undefined;

  const report: ProbeReport = await probe({ backend: 'sim', ranks: 2, memorySaverRegion: 'auto' });
  switch (report.result) {
    case 'passed': { const none: null = report.pinpoint; return report.warnings.length + (none === null ? 0 : 1); }
    case 'failed': { const p: Pinpoint = report.pinpoint; return p.code + why.length + (capable ? 1 : 0); }
    case 'aborted': { const abort: ProbeAbort = report.abort; return abort.message.length; }
  }
}
`);
// A CommonJS consumer (require condition, dist/types/index.d.cts) sees the same API.
writeFileSync(join(scratch, 'use-cjs.cts'), `
import cuipc = require('cuipc');

export async function run(): Promise<string> {
  const cuda = cuipc.openCuda({ backend: 'sim' });
  const a = cuda.malloc('vmm', 1 << 20);
  const report: cuipc.ProbeReport = await cuipc.probe({ backend: 'sim', ranks: 2 });
  const refused: boolean = new cuipc.ProbeUsageError('x') instanceof RangeError;
  return a.ok ? \`\${report.result} \${refused}\` : a.name;
}
`);
writeFileSync(join(scratch, 'misuse.ts'), `
import { openCuda, probe } from 'cuipc';
const cuda = openCuda();
const a = cuda.malloc('device', 1024);
export const ptr: bigint = a.value.ptr;
export const p = probe({ ranks: 2, alocator: 'vmm' });
`);

describe('the package compiled by a strict consumer', () => {
  const run = spawnSync(process.execPath, [tsc, '-p', scratch], { encoding: 'utf8', timeout: 120_000 });
  const output = run.stdout + run.stderr;

  it('narrows CudaResult on ok and ProbeReport on result, no ! needed', () => {
    expect(output.split('\n').filter((l) => !/misuse\.ts\(/.test(l) && l.trim() !== '')).toEqual([]);
  });

  it('rejects reading a value before narrowing, and an unknown option', () => {
    expect(run.status).not.toBe(0);
    expect(output).toMatch(/misuse\.ts\(5,.*'a\.value' is possibly 'undefined'/);
    expect(output).toMatch(/misuse\.ts\(6,.*'alocator' does not exist/);
  });
});
