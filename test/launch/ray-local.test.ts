// The Ray launcher with no cluster, against real Ray: the driver starts a local Ray itself and,
// for --backend sim, declares the simulated devices as its GPUs, so the README's laptop command
// runs. Each case gets a fresh RAY_TMPDIR, so no other Ray on the machine is found or touched.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { isAlive } from '../probe/helpers.js';
import { describeWithRay, descendants, freePort, processGroup, processTable, until } from './ray-cluster.js';

const bin = fileURLToPath(new URL('../../bin/cuipc.js', import.meta.url));
const PROBE = ['probe', '--backend', 'sim', '--launcher', 'ray', '--inputs', '2', '--bytes', '1024'];

describeWithRay('cuipc probe --launcher ray with no cluster (real Ray, started by the driver)', (python) => {
  let temp = '';
  afterEach(() => rmSync(temp, { recursive: true, force: true }));

  function environment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    temp = mkdtempSync(join(tmpdir(), 'cuipc-rl-'));
    const env: NodeJS.ProcessEnv = { ...process.env, RAY_TMPDIR: temp, ...extra };
    delete env.RAY_ADDRESS;
    if (!('CUIPC_SIM_DEVICES' in extra)) delete env.CUIPC_SIM_DEVICES;
    return env;
  }

  /** The processes whose command line names this case's RAY_TMPDIR (the local Ray's, by their session folder). */
  function localRay(): number[] {
    return [...processTable().keys()].filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(temp);
      } catch {
        return false;
      }
    });
  }

  it('the laptop command: 4 ranks pass on 4 simulated devices the local Ray declares as GPUs, and the local Ray is shut down', () => {
    // --verbose: the placement of every rank is in the full report.
    const result = spawnSync(process.execPath, [bin, ...PROBE, '--ranks', '4', '--python', python, '--verbose'], { encoding: 'utf8', env: environment(), timeout: 60_000 });
    expect(result.status, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^PASSED: every step passed on ranks 0-3/m);
    expect(result.stdout).toMatch(/^PASSED \(exit 0\)/m);
    for (let rank = 0; rank < 4; rank += 1) expect(result.stdout).toMatch(new RegExp(`rank ${rank} \\(pid \\d+\\): device 0 = .*\\[CUDA_VISIBLE_DEVICES=\\d, Ray GPU ids \\[\\d\\]`));
    expect(localRay()).toEqual([]);
  });

  it('fewer simulated devices than ranks: refused at once, naming the local Ray and what it has', () => {
    const result = spawnSync(process.execPath, [bin, ...PROBE, '--ranks', '4', '--timeout', '60000', '--python', python], {
      encoding: 'utf8',
      env: environment({ CUIPC_SIM_DEVICES: '2' }),
      timeout: 60_000,
    });
    expect(result.status, result.stdout + result.stderr).toBe(3);
    expect(result.stdout).toMatch(/no Ray cluster was found \(give its address, or set RAY_ADDRESS\), and the local Ray this driver started with CUIPC_SIM_DEVICES=2 simulated devices as GPUs has 1 node: CPU \d+, GPU 2 .*; 4 bundles of \{GPU: 1, CPU: 1\} cannot be placed with STRICT_PACK/);
    expect(result.stdout).not.toMatch(/did not connect to the coordinator/);
    expect(localRay()).toEqual([]);
  });

  it('an address nothing answers at: fails within 15 s, naming the address (not a long silent wait)', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const result = spawnSync(process.execPath, [bin, ...PROBE, '--ranks', '2', '--ray-address', address, '--python', python, '--json'], { encoding: 'utf8', env: environment(), timeout: 60_000 });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(result.status, result.stderr).toBe(3);
    const report = JSON.parse(result.stdout) as { result: string; abort: { message: string } | null; failures: Array<{ message: string }> };
    expect(report.result).toBe('aborted');
    expect(JSON.stringify(report)).toMatch(new RegExp(`no Ray cluster answers at ${address.replace('.', '\\.')} .*within 8 s`));
  }, 60_000);

  it('SIGINT to the CLI while ranks run: the ranks, the local Ray and the spec file are all gone; exit 130', async () => {
    const cli = spawn(process.execPath, [bin, ...PROBE, '--ranks', '2', '--timeout', '60000', '--env', 'CUIPC_SIM_FAULT=cudaIpcOpenMemHandle@1#1=hang', '--python', python], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: environment(),
    });
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => cli.once('close', (code, signal) => resolve({ code, signal })));
    let driver: number | undefined;
    let ranks: number[] = [];
    await until('two ranks in the local Ray\'s actors', () => {
      const table = processTable();
      driver ??= descendants([cli.pid as number], table).find((pid) => table.get(pid)?.pgid === pid);
      ranks = driver === undefined ? [] : descendants([driver], table).filter((pid) => table.get(pid)?.sid === pid);
      return ranks.length === 2;
    }, 45_000);
    const group = processGroup(driver as number); // the driver and the local Ray's processes
    expect(group.length).toBeGreaterThan(2);
    const specDir = dirname(readFileSync(`/proc/${driver}/cmdline`, 'utf8').split('\0').at(-2) ?? '');
    await new Promise((r) => setTimeout(r, 1000)); // rank 1 is in its hung call by now
    cli.kill('SIGINT');
    const exit = await closed;
    expect(exit.code ?? 128 + 2, `exit ${JSON.stringify(exit)}`).toBe(130);
    await until('the driver, the local Ray and the ranks to end', () => [...group, ...ranks].every((pid) => !isAlive(pid)), 20_000);
    expect(localRay()).toEqual([]);
    expect(existsSync(specDir), `${specDir} left behind`).toBe(false);
  });
});
