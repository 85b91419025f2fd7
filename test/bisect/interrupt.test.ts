// An interrupted bisect says what it found so far and leaves nothing behind: SIGINT to
// `cuipc bisect` while a probe of the search runs stops that probe (its ranks stopped and reaped),
// starts no other, prints every probe run and the set the search held, writes the JSON (-o,
// outcome interrupted) and exits 130. The library form stops on its AbortSignal the same way.
// Plain launcher, simulated device.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, describe, expect, it } from 'vitest';
import { vmmInterposerPath } from '../../lib/binding/native.js';
import { bisect } from '../../lib/bisect/index.js';
import { captureEnvironment } from '../../lib/env/capture.js';
import { descendants, until } from '../launch/ray-cluster.js';
import { isAlive } from '../probe/helpers.js';

const bin = fileURLToPath(new URL('../../bin/cuipc.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'cuipc-bisect-int-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const { LD_PRELOAD: _p, SGLANG_MEMORY_SAVER_CUDA_GRAPH: _s, CUIPC_INTERPOSER_REGION: _r, ...cleanEnv } = process.env;
// The interposer serving every cudaMalloc makes the export fail; the rest are distractors, so the search takes several probes.
const BAD_EXTRA = { LD_PRELOAD: vmmInterposerPath(), CUIPC_INTERPOSER_REGION: 'all', NCCL_NVLS_ENABLE: '1', APP_MODE: 'rollout', APP_WORKERS: '8', APP_TRACE: '0' };
const PROBE = ['--ranks', '2', '--inputs', '2', '--bytes', '1024'];

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
ajv.addSchema(JSON.parse(readFileSync(new URL('../../schema/report.schema.json', import.meta.url), 'utf8')) as object);
const validate = ajv.compile(JSON.parse(readFileSync(new URL('../../schema/bisect.schema.json', import.meta.url), 'utf8')) as object);

function snapshot(label: string, extra: Record<string, string>) {
  return captureEnvironment({ env: { ...cleanEnv, ...extra }, label });
}

/** The probe token of each live rank below `root` (each probe gives its ranks a new one). */
function ranksBelow(root: number): Map<number, string> {
  const found = new Map<number, string>();
  for (const pid of descendants([root])) {
    try {
      const token = /(?:^|\0)CUIPC_PROBE_TOKEN=([^\0]*)/.exec(readFileSync(`/proc/${pid}/environ`, 'utf8'))?.[1];
      if (token !== undefined) found.set(pid, token);
    } catch {
      // Gone, or not ours to read.
    }
  }
  return found;
}

describe('an interrupted bisect', () => {
  it('SIGINT while the search runs a probe: that probe is stopped and cleaned up, what was found so far is printed and written, exit 130', async () => {
    const good = join(scratch, 'good.json');
    const bad = join(scratch, 'bad.json');
    const out = join(scratch, 'interrupted.json');
    writeFileSync(good, JSON.stringify(snapshot('shell', {})));
    writeFileSync(bad, JSON.stringify(snapshot('actor', BAD_EXTRA)));
    const cli = spawn(process.execPath, [bin, 'bisect', good, bad, ...PROBE, '-o', out], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...cleanEnv, CUIPC_BACKEND: 'sim' }, cwd: scratch });
    let stdout = '';
    let stderr = '';
    cli.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => cli.once('close', (code, signal) => resolve({ code, signal })));
    // Every rank seen, by probe token: the third probe (the first of the search) is running once a third token shows.
    const seen = new Map<number, string>();
    await until('the ranks of a third probe', () => {
      for (const [pid, token] of ranksBelow(cli.pid as number)) seen.set(pid, token);
      return new Set(seen.values()).size >= 3;
    }, 90_000);
    cli.kill('SIGINT');
    const exit = await closed;
    expect(exit, stderr).toEqual({ code: 130, signal: null });
    expect(stderr).toMatch(/^cuipc: SIGINT: stopping the bisect once the running probe has cleaned up/m);
    // Nothing left behind: every rank of every probe is gone.
    for (const pid of seen.keys()) expect(isAlive(pid), `rank ${pid} outlived the bisect`).toBe(false);

    const result = JSON.parse(readFileSync(out, 'utf8')) as {
      outcome: string; exitCode: number; signal: string; probes: Array<{ n: number; role: string; verdict: string; abort: { reason: string } | null }>;
      probeCount: number; candidates: Array<{ id: string }>; changes: Array<{ id: string }>; good: { result: string } | null; bad: { result: string } | null; answer: string;
    };
    if (!validate(result)) throw new Error(JSON.stringify(validate.errors?.slice(0, 5), null, 2));
    expect(result).toMatchObject({ outcome: 'interrupted', exitCode: 130, signal: 'SIGINT', good: { result: 'passed' }, bad: { result: 'failed' } });
    expect(result.probes.slice(0, 2).map((p) => [p.role, p.verdict])).toEqual([['good', 'passes'], ['bad', 'fails-same']]);
    expect(result.probeCount).toBe(result.probes.length);
    expect(result.probeCount).toBeGreaterThanOrEqual(3);
    expect(result.candidates.length).toBeGreaterThan(0);
    expect(result.candidates.every((c) => result.changes.some((d) => d.id === c.id))).toBe(true);

    // The text: the answer first, then every probe run and the set held.
    expect(stdout).toMatch(new RegExp(`^Answer: interrupted by SIGINT after ${result.probeCount} probe\\(s\\): the set so far: `));
    expect(stdout).toMatch(/^INTERRUPTED by SIGINT: no further probe was started\.$/m);
    expect(stdout).toMatch(/^Probes so far:\n {2}1\. GOOD: passes\n {2}2\. BAD: fails \(export: cudaIpcGetMemHandle -> 1 cudaErrorInvalidValue\)\n {2}3\. GOOD \+ \d+ change\(s\) \(\S+\): /m);
    expect(stdout).toMatch(new RegExp(`^Set so far \\(${result.candidates.length} of ${result.changes.length}\\): `, 'm'));
  }, 120_000);

  it('the library: an AbortSignal aborted before the third probe ends the bisect there, with GOOD\'s and BAD\'s verdicts and every change still a candidate', async () => {
    const controller = new AbortController();
    const result = await bisect({
      good: snapshot('shell', {}), bad: snapshot('actor', BAD_EXTRA), backend: 'sim', ranks: 2, inputs: 2, bytes: 1024, signal: controller.signal,
      onProgress: (p) => {
        if (p.probe === 3) controller.abort('SIGTERM');
      },
    });
    if (!validate(JSON.parse(JSON.stringify(result)))) throw new Error(JSON.stringify(validate.errors?.slice(0, 5), null, 2));
    if (result.outcome !== 'interrupted') throw new Error(`expected interrupted, got ${result.outcome}`);
    expect(result.exitCode).toBe(143);
    expect(result.signal).toBe('SIGTERM');
    expect(result.probes.map((p) => p.role)).toEqual(['good', 'bad']);
    expect(result.good?.result).toBe('passed');
    expect(result.target).toMatchObject({ step: 'export', call: 'cudaIpcGetMemHandle', code: 1 });
    expect(result.candidates.map((c) => c.id)).toEqual(result.changes.map((c) => c.id));
    expect(result.candidatesFail).toBe(false);
    expect(result.answer).toBe(`interrupted by SIGTERM after 2 probe(s): the set so far: not narrowed yet (${result.changes.length} change(s))`);
  }, 120_000);
});
