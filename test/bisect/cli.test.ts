// `cuipc bisect` as a person runs it: the README's example, exit statuses, --json against the
// schema, progress only on a terminal.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, describe, expect, it } from 'vitest';
import { vmmInterposerPath } from '../../lib/binding/native.js';
import { progressLine } from '../../lib/cli/bisect.js';
import { captureEnvironment } from '../../lib/env/capture.js';

const bin = fileURLToPath(new URL('../../bin/cuipc.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'cuipc-bisect-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const { LD_PRELOAD: _p, SGLANG_MEMORY_SAVER_CUDA_GRAPH: _s, CUIPC_INTERPOSER_REGION: _r, ...cleanEnv } = process.env;

function cuipc(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, 'bisect', ...args], { encoding: 'utf8', env: { ...cleanEnv, CUIPC_BACKEND: 'sim' }, timeout: 120_000, cwd: scratch });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function snapshotFile(name: string, extra: Record<string, string>): string {
  const file = join(scratch, name);
  writeFileSync(file, JSON.stringify(captureEnvironment({ env: { ...cleanEnv, ...extra }, label: name })));
  return file;
}

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
ajv.addSchema(JSON.parse(readFileSync(new URL('../../schema/report.schema.json', import.meta.url), 'utf8')) as object);
const validate = ajv.compile(JSON.parse(readFileSync(new URL('../../schema/bisect.schema.json', import.meta.url), 'utf8')) as object);

describe('cuipc bisect', () => {
  it('the README example runs and prints the answer its comment shows', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const block = /<!-- bisect-example:start -->\n```sh\n([\s\S]*?)```\n<!-- bisect-example:end -->/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const expected = /^# (Answer: .*)$/m.exec(block as string)?.[1];
    expect(expected).toBeDefined();
    const script = (block as string).replaceAll('npx cuipc', `'${process.execPath}' '${bin}'`);
    const r = spawnSync('bash', ['-e', '-c', script], { encoding: 'utf8', cwd: scratch, env: cleanEnv, timeout: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(expected);
    expect(r.stdout).toMatch(/\d+ probe\(s\) in \d+\.\d s/);
  }, 120_000);

  it('exit 0 with -o FILE: schema-valid, the set found; no progress when stderr is not a terminal', () => {
    const good = snapshotFile('good.json', {});
    const bad = snapshotFile('bad.json', { LD_PRELOAD: vmmInterposerPath(), CUIPC_INTERPOSER_REGION: 'all', NCCL_NVLS_ENABLE: '1' });
    const out = join(scratch, 'bisect.json');
    const r = cuipc(good, bad, '--ranks', '2', '--inputs', '2', '--bytes', '1024', '-o', out);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Answer: the failure \(export: cudaIpcGetMemHandle -> 1 cudaErrorInvalidValue\) needs both CUIPC_INTERPOSER_REGION=all and/); // the first line
    const result = JSON.parse(readFileSync(out, 'utf8'));
    if (!validate(result)) throw new Error(JSON.stringify(validate.errors?.slice(0, 5), null, 2));
    expect(result).toMatchObject({ outcome: 'found', exitCode: 0, settings: { launcher: 'plain', ranks: 2, inputs: 2, bytes: 1024, backend: 'sim' } });
  }, 120_000);

  it('exit 1 when nothing differs (- and -), --json on stdout only', () => {
    const r = cuipc('-', '-', '--ranks', '2', '--inputs', '2', '--json');
    expect(r.status).toBe(1);
    const result = JSON.parse(r.stdout);
    expect(validate(result)).toBe(true);
    expect(result).toMatchObject({ outcome: 'none', reason: 'bad-passes', changes: [], probeCount: 1, cacheHits: 1 });
  }, 60_000);

  it('exit 2: a file that is not a snapshot, a missing file, --env-snapshot, a missing argument', () => {
    const notSnapshot = join(scratch, 'hello.json');
    writeFileSync(notSnapshot, '{"hello": 1}');
    const good = snapshotFile('g2.json', {});
    const bad = cuipc(good, notSnapshot);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/BAD: .*hello\.json: not a cuipc environment snapshot/);
    const missing = cuipc(join(scratch, 'nope.json'), good);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/GOOD: .*nope\.json: .*no such file/);
    const snap = cuipc(good, good, '--env-snapshot', good);
    expect(snap.status).toBe(2);
    expect(snap.stderr).toMatch(/--env-snapshot: bisect builds every probe's environment/);
    expect(cuipc(good).status).toBe(2);
  }, 60_000);

  it('a progress line says which probe of at most how many, and the set so far', () => {
    expect(progressLine({ probe: 5, atMost: 41, role: 'search', applied: ['A', 'B', 'C'], setSoFar: ['A', 'B', 'C', 'D', 'E'] }))
      .toBe('probe 5 of at most 41: GOOD + 3 change(s); set so far: 5 changes\n');
    expect(progressLine({ probe: 1, atMost: 80, role: 'good', applied: [], setSoFar: ['X', 'Y'] })).toBe('probe 1 of at most 80: GOOD; set so far: X, Y\n');
  });
});
