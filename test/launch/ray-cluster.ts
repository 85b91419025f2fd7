// Real Ray for the Ray launcher's tests: which Python has it (CUIPC_TEST_RAY_PYTHON, else the
// repository's .venv-ray that .ci/run installs), a test cluster started with `ray start` in a
// temp folder and stopped by its own process group (never `ray stop`, which ends every Ray on
// the machine), and the process-tree and cluster-state reads the tests assert with.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';
import { probe, type ProbeOptions, type ProbeReport } from '../../lib/probe/index.js';
import { assertValidReport } from '../probe/helpers.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));

function findRayPython(): { python: string | null; why: string } {
  const given = process.env.CUIPC_TEST_RAY_PYTHON;
  const candidate = given || join(repo, '.venv-ray', 'bin', 'python');
  if (!given && !existsSync(candidate)) {
    return { python: null, why: 'no Python with Ray: set CUIPC_TEST_RAY_PYTHON, or run .ci/run (it installs Ray into .venv-ray)' };
  }
  const probe = spawnSync(candidate, ['-c', 'import ray; print(ray.__version__)'], { encoding: 'utf8', timeout: 30_000 });
  if (probe.status !== 0) return { python: null, why: `${candidate} cannot import ray: ${(probe.stderr || probe.error?.message || '').trim().split('\n').slice(-1)[0]}` };
  return { python: candidate, why: `Ray ${probe.stdout.trim()}` };
}

export const RAY = findRayPython();
const inCi = process.env.CI === 'true' || process.env.CI === '1';

/** A describe that needs real Ray: skipped with the reason locally, a failing test in CI (CI=true). */
export function describeWithRay(name: string, body: (python: string) => void): void {
  const python = RAY.python;
  if (python !== null) describe(name, () => body(python));
  else if (inCi) describe(name, () => it('has real Ray to test against (CI must not skip this)', () => { throw new Error(RAY.why); }));
  else describe.skip(`${name} [skipped: ${RAY.why}]`, () => body(''));
}

/** Every process: pid -> { ppid, pgid, sid }. */
export function processTable(): Map<number, { ppid: number; pgid: number; sid: number }> {
  const table = new Map<number, { ppid: number; pgid: number; sid: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z' || fields[0] === 'X') continue;
      table.set(Number(name), { ppid: Number(fields[1]), pgid: Number(fields[2]), sid: Number(fields[3]) });
    } catch {
      // Gone while listing.
    }
  }
  return table;
}

/** Live processes whose command line mentions `text` (a test's private temp folder, say). */
export function processesMentioning(text: string): number[] {
  return [...processTable().keys()].filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text);
    } catch {
      return false;
    }
  });
}

/** The pids below `roots` (not the roots themselves). */
export function descendants(roots: number[], table = processTable()): number[] {
  const found: number[] = [];
  let frontier = new Set(roots);
  while (frontier.size > 0) {
    const next = new Set<number>();
    for (const [pid, p] of table) if (frontier.has(p.ppid) && !found.includes(pid)) next.add(pid);
    found.push(...next);
    frontier = next;
  }
  return found;
}

export function processGroup(pgid: number, table = processTable()): number[] {
  return [...table].filter(([, p]) => p.pgid === pgid).map(([pid]) => pid);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

export interface TestCluster {
  address: string;
  /** The process group every process of the cluster is in (its workers too). */
  pgid: number;
  /** The pids found in that group once it was up (raylet, gcs_server, ...). */
  pids: number[];
  temp: string;
  /** Actor states and placement group states, read from the cluster's GCS. */
  state(): { actors: string[]; placementGroups: string[] };
  stop(): Promise<void>;
}

/**
 * `ray start --head` with 4 GPUs and 8 CPUs, in its own process group and temp folder, as a
 * user starts one: without CUIPC_SIM_DEVICES (the driver passes it to the actors in runtime_env).
 */
export async function startTestCluster(python: string): Promise<TestCluster> {
  const temp = mkdtempSync(join(tmpdir(), 'cuipc-rc-'));
  const port = await freePort();
  const ray = join(dirname(python), 'ray');
  const { CUIPC_SIM_DEVICES: _sim, ...own } = process.env;
  const env = { ...own, RAY_TMPDIR: temp };
  const start = spawn(ray, ['start', '--head', '--node-ip-address=127.0.0.1', '--num-gpus=4', '--num-cpus=8', '--include-dashboard=false', `--port=${port}`, `--temp-dir=${temp}`, '--disable-usage-stats'], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env,
  });
  let stderr = '';
  start.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const pgid = start.pid as number;
  const code = await new Promise<number | null>((resolve) => start.once('close', resolve));
  const pids = processGroup(pgid);
  const cluster: TestCluster = {
    address: `127.0.0.1:${port}`,
    pgid,
    pids,
    temp,
    state() {
      const script = `
import json, sys, ray
ray.init(address=sys.argv[1], log_to_driver=False, logging_level="ERROR")
from ray._private import state
print(json.dumps({"actors": [a.get("State") for a in state.actors().values()],
                  "placementGroups": [g.get("state") for g in ray.util.placement_group_table().values()]}))
`;
      const out = spawnSync(python, ['-c', script, cluster.address], { encoding: 'utf8', timeout: 30_000, env });
      if (out.status !== 0) throw new Error(`reading the cluster's state failed: ${out.stderr}`);
      return JSON.parse(out.stdout.trim().split('\n').slice(-1)[0]) as { actors: string[]; placementGroups: string[] };
    },
    async stop() {
      // By the group recorded at start (workers started since are in it too), TERM then KILL.
      const signalAll = (signal: NodeJS.Signals): void => {
        for (const pid of [...new Set([...pids, ...processGroup(pgid)])]) {
          try {
            process.kill(pid, signal);
          } catch {
            // Gone.
          }
        }
      };
      signalAll('SIGTERM');
      for (let i = 0; i < 30 && processGroup(pgid).length > 0; i += 1) await sleep(100);
      signalAll('SIGKILL');
      for (let i = 0; i < 30 && processGroup(pgid).length > 0; i += 1) await sleep(100);
      rmSync(temp, { recursive: true, force: true });
    },
  };
  if (code !== 0 || pids.length === 0) {
    await cluster.stop();
    throw new Error(`ray start failed (status ${code}): ${stderr.slice(-2000)}`);
  }
  return cluster;
}

/**
 * A small probe on the simulated device through the Ray launcher at `address`, its report
 * checked against the schema; its ranks' pids go into `pids`, for the caller to check that
 * none outlives the suite.
 */
export async function probeThroughRay(python: string, address: string, pids: number[], options: ProbeOptions, timeoutMs: number): Promise<ProbeReport> {
  const report = await probe({ backend: 'sim', launcher: 'ray', inputs: 2, bytes: 1024, timeoutMs, ...options, ray: { python, address, ...options.ray } });
  assertValidReport(JSON.parse(JSON.stringify(report)));
  for (const rank of report.ranks) if (rank.pid !== null) pids.push(rank.pid);
  return report;
}
