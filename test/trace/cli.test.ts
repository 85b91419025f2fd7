// `cuipc trace -- COMMAND` and `cuipc trace report DIR`, without a GPU: a stand-in program
// checks that the injection variables reach it and writes a fixture as its own trace.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { registerTraceCommand, runTraceCommand, runTraceReport, type TraceCommandIo } from '../../lib/cli/trace.js';
import { findInjectionLibrary } from '../../lib/binding/libraries.js';
import { sniffTrace } from '../../lib/trace/read.js';
import { FIXTURES, fixtureText, removeScratchDirs, scratchDir, traceFolder } from './helpers.js';

afterAll(removeScratchDirs);

const FAKE = fileURLToPath(new URL('./fake_traced_program.mjs', import.meta.url));

function capture(): TraceCommandIo & { out: string; err: string } {
  const io = { out: '', err: '', stdout: (t: string) => { io.out += t; }, stderr: (t: string) => { io.err += t; } };
  return io;
}

/** A stand-in injection library: the runner only needs the file to exist. */
function fakeLibrary(): string {
  const dir = scratchDir('cuipc-fake-lib-');
  const path = join(dir, 'libcuipc_trace.so');
  writeFileSync(path, '');
  return path;
}

function envWith(extra: Record<string, string | undefined>): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env, CUDA_INJECTION64_PATH: undefined, CUIPC_TRACE_DIR: undefined, ...extra };
  return env;
}

describe('cuipc trace -- COMMAND', () => {
  it('passes the environment on, passes the exit status through, and prints the pinpoint', async () => {
    const library = fakeLibrary();
    const out = scratchDir('cuipc-trace-out-');
    const io = capture();
    const status = await runTraceCommand(
      [process.execPath, FAKE, join(FIXTURES, 'expandable_segments.synthetic.jsonl'), '7', library],
      { traceDir: out },
      io,
      { env: envWith({ CUIPC_TRACE_LIBRARY: library }), stdio: 'pipe' },
    );
    expect(status).toBe(7);
    expect(io.err).toContain('the command exited with status 7');
    expect(io.err).toMatch(/^FAILED: cudaIpcGetMemHandle -> 1 \(invalid argument\) in process \d+: /m); // the answer first
    expect(io.err).toContain('First failing IPC call: cudaIpcGetMemHandle(ptr=0x7f2a00000000) -> 1 cudaErrorInvalidValue');
    expect(io.err).toContain(`Traces: ${out}`);
    expect(readdirSync(out)).toHaveLength(1);
  });

  it('is quiet when nothing failed', async () => {
    const io = capture();
    const status = await runTraceCommand(
      [process.execPath, FAKE, join(FIXTURES, 'plain_cudamalloc.synthetic.jsonl'), '0'],
      { traceDir: scratchDir('cuipc-trace-out-') },
      io,
      { env: envWith({ CUIPC_TRACE_LIBRARY: fakeLibrary() }), stdio: 'pipe' },
    );
    expect(status).toBe(0);
    expect(io.err).toBe('');
    expect(io.out).toBe('');
  });

  it('reports a command killed by a signal as 128 + the signal number', async () => {
    const io = capture();
    const status = await runTraceCommand([process.execPath, FAKE, '-', 'SIGTERM'], { traceDir: scratchDir('cuipc-trace-out-') }, io, { env: envWith({ CUIPC_TRACE_LIBRARY: fakeLibrary() }), stdio: 'pipe' });
    expect(status).toBe(143);
    expect(io.err).toMatch(/killed by SIGTERM; no process of the command initialised CUDA/);
  });

  it('exits 3 when no process could be traced (another profiler holds CUPTI)', async () => {
    const io = capture();
    const status = await runTraceCommand(
      [process.execPath, FAKE, join(FIXTURES, 'subscriber_busy.synthetic.jsonl'), '0'],
      { traceDir: scratchDir('cuipc-trace-out-') },
      io,
      { env: envWith({ CUIPC_TRACE_LIBRARY: fakeLibrary() }), stdio: 'pipe' },
    );
    expect(status).toBe(3);
    expect(io.err).toContain('CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED');
    expect(io.err).toContain("the command's own exit status was 0");
  });

  it('exits 3 without running anything when the injection library is missing', async () => {
    const io = capture();
    const marker = join(scratchDir('cuipc-marker-'), 'ran');
    const status = await runTraceCommand([process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`], {}, io, {
      env: envWith({ CUIPC_TRACE_LIBRARY: '/nonexistent/libcuipc_trace.so' }),
      stdio: 'pipe',
    });
    expect(status).toBe(3);
    expect(io.err).toMatch(/injection library libcuipc_trace\.so was not found/);
    expect(existsSync(marker)).toBe(false);
  });

  it('exits 3 when another tool already set CUDA_INJECTION64_PATH', async () => {
    const io = capture();
    const status = await runTraceCommand([process.execPath, '-e', '0'], {}, io, {
      env: envWith({ CUIPC_TRACE_LIBRARY: fakeLibrary(), CUDA_INJECTION64_PATH: '/opt/nsight/libToolsInjection64.so' }),
      stdio: 'pipe',
    });
    expect(status).toBe(3);
    expect(io.err).toMatch(/CUDA_INJECTION64_PATH is already set to \/opt\/nsight\/libToolsInjection64\.so/);
  });

  it('exits 2 for a missing command or one that does not exist', async () => {
    const io = capture();
    expect(await runTraceCommand([], {}, io)).toBe(2);
    expect(await runTraceCommand(['cuipc-no-such-program-xyz'], {}, io, { env: envWith({ CUIPC_TRACE_LIBRARY: fakeLibrary() }), stdio: 'pipe' })).toBe(2);
    expect(io.err).toMatch(/cannot run cuipc-no-such-program-xyz: command not found/);
  });
});

describe('cuipc trace report DIR', () => {
  it('prints the summary again, exit 1 when a call failed', () => {
    const io = capture();
    const dir = traceFolder(['expandable_segments.synthetic.jsonl']);
    expect(runTraceReport(dir, {}, io)).toBe(1);
    expect(io.out).toContain('First failing IPC call: cudaIpcGetMemHandle');
    expect(io.out).toContain('run synthes01');
  });

  it('picks a run, and lists the others', () => {
    const dir = traceFolder(['expandable_segments.synthetic.jsonl', 'plain_cudamalloc.synthetic.jsonl']);
    const io = capture();
    expect(runTraceReport(dir, { run: 'synthok01' }, io)).toBe(0);
    expect(io.out).toContain('The folder holds 1 other run(s): synthes01');
    expect(io.out).toContain('none failed');
    const json = capture();
    expect(runTraceReport(dir, { run: 'synthes01', json: true }, json)).toBe(1);
    const parsed = JSON.parse(json.out) as { kind: string; failing: number; processes: Array<{ firstFailure: { explanations: Array<{ id: string }> } }> };
    expect(parsed.kind).toBe('trace');
    expect(parsed.failing).toBe(1);
    expect(parsed.processes[0].firstFailure.explanations[0].id).toBe('vmm-memory');
  });

  it('exits 3 for a folder without traces and 2 for a folder that does not exist', () => {
    const io = capture();
    expect(runTraceReport(scratchDir('cuipc-empty-'), {}, io)).toBe(3);
    expect(io.out).toContain('no process of the command initialised CUDA');
    expect(runTraceReport('/nonexistent/cuipc-traces', {}, io)).toBe(2);
  });
});

describe('cuipc trace report FILE, and folders of renamed traces', () => {
  it('summarizes a single trace file, whatever its name', () => {
    const dir = scratchDir('cuipc-trace-file-');
    const file = join(dir, 'rank0.jsonl');
    writeFileSync(file, fixtureText('expandable_segments.synthetic.jsonl'));
    const io = capture();
    expect(runTraceReport(file, {}, io)).toBe(1);
    expect(io.out).toContain('First failing IPC call: cudaIpcGetMemHandle');
    expect(io.out).toContain('run synthes01');
    const other = capture();
    expect(runTraceReport(file, { run: 'synthok01' }, other)).toBe(2);
    expect(other.err).toContain('is a trace of run synthes01, not synthok01');
  });

  it('reads renamed traces in a folder by their content, and skips files that are not traces', () => {
    const dir = scratchDir('cuipc-trace-renamed-');
    writeFileSync(join(dir, 'rank0.jsonl'), fixtureText('expandable_segments.synthetic.jsonl'));
    writeFileSync(join(dir, 'rank1.log'), fixtureText('plain_cudamalloc.synthetic.jsonl'));
    writeFileSync(join(dir, 'notes.txt'), 'the server crashed at capture\n');
    writeFileSync(join(dir, 'other.json'), '{"type":"call","seq":1}\n');
    const io = capture();
    expect(runTraceReport(dir, {}, io)).toBe(1);
    expect(io.out).toContain('The folder holds 1 other run(s): synthok01');
    const ok = capture();
    expect(runTraceReport(dir, { run: 'synthok01' }, ok)).toBe(0);
    expect(ok.out).toContain('none failed');
  });

  it('finds a renamed trace whose process line is longer than the part it sniffs', () => {
    const dir = scratchDir('cuipc-trace-long-');
    const lines = fixtureText('expandable_segments.synthetic.jsonl').split('\n');
    const at = lines.findIndex((l) => l.startsWith('{"type":"process"'));
    const process = JSON.parse(lines[at]) as { env: Record<string, string> };
    process.env.CUIPC_PADDING = 'x'.repeat(70_000);
    lines[at] = JSON.stringify(process);
    writeFileSync(join(dir, 'long.trace'), lines.join('\n'));
    expect(sniffTrace(join(dir, 'long.trace'))).toEqual({ pid: expect.any(Number), run: 'synthes01' });
    expect(runTraceReport(dir, {}, capture())).toBe(1);
  });
});

describe('command registration', () => {
  async function parse(args: string[]): Promise<number | undefined> {
    const program = new Command('cuipc').exitOverride();
    registerTraceCommand(program);
    for (const c of program.commands) c.exitOverride();
    const before = process.exitCode;
    process.exitCode = undefined;
    try {
      await program.parseAsync(args, { from: 'user' });
      return process.exitCode === undefined ? undefined : Number(process.exitCode);
    } finally {
      process.exitCode = before;
    }
  }

  it('`trace report DIR` is the report; `trace -- report` would run a program named report', async () => {
    const dir = traceFolder(['plain_cudamalloc.synthetic.jsonl']);
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      expect(await parse(['trace', 'report', dir])).toBe(0);
      expect(await parse(['trace', 'report'])).toBe(2);
    } finally {
      process.stdout.write = write;
    }
    const saved = { lib: process.env.CUIPC_TRACE_LIBRARY, inj: process.env.CUDA_INJECTION64_PATH, dir: process.env.CUIPC_TRACE_DIR };
    process.env.CUIPC_TRACE_LIBRARY = fakeLibrary();
    process.env.CUIPC_TRACE_DIR = scratchDir('cuipc-trace-out-');
    delete process.env.CUDA_INJECTION64_PATH;
    const err = process.stderr.write.bind(process.stderr);
    let stderr = '';
    process.stderr.write = ((t: string) => { stderr += t; return true; }) as typeof process.stderr.write;
    try {
      expect(await parse(['trace', '--', 'report', dir])).toBe(2);
      expect(stderr).toMatch(/cannot run report: command not found/);
    } finally {
      process.stderr.write = err;
      if (saved.lib === undefined) delete process.env.CUIPC_TRACE_LIBRARY; else process.env.CUIPC_TRACE_LIBRARY = saved.lib;
      if (saved.inj !== undefined) process.env.CUDA_INJECTION64_PATH = saved.inj;
      if (saved.dir === undefined) delete process.env.CUIPC_TRACE_DIR; else process.env.CUIPC_TRACE_DIR = saved.dir;
    }
  });

  it('finds the injection library in the prebuild folder or the build', () => {
    const found = findInjectionLibrary({}, '/nonexistent-root');
    expect(found.path).toBeNull();
    expect(found.searched.map((s) => s.replace('/nonexistent-root/', ''))).toEqual([
      `prebuilds/${process.platform}-${process.arch}/libcuipc_trace.so`,
      'build/Release/libcuipc_trace.so',
      'build/Debug/libcuipc_trace.so',
    ]);
  });
});
