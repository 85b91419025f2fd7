// What a Node coordinator that spawns Node ranks cannot go below: from the bench's spawn of an
// empty Node parent, which at once spawns N empty Node children, to the moment the last child
// runs its first statement. A cuipc rank makes its first CUDA call from JavaScript, so no
// rank can begin creating its context earlier than this; the raw C++ program forks its ranks
// at once and begins after a few milliseconds. Neither process loads anything: the figure
// holds no module loading, rendezvous or CUDA of cuipc's, only the two Node start-ups.
import { spawnSync } from 'node:child_process';
import { median } from './stats.js';

function wallNowMs(): number {
  return performance.timeOrigin + performance.now();
}

// The parent spawns every child first, then collects what each printed: the wall-clock time at
// its first statement.
const PARENT = `
const { spawn } = require('node:child_process');
const n = Number(process.argv[1]);
const child = 'process.stdout.write(String(performance.timeOrigin + performance.now()))';
const runs = Array.from({ length: n }, () => spawn(process.execPath, ['-e', child], { stdio: ['ignore', 'pipe', 'inherit'] }));
Promise.all(runs.map((c) => new Promise((resolve) => { let out = ''; c.stdout.on('data', (d) => (out += d)); c.on('close', () => resolve(Number(out))); })))
  .then((times) => process.stdout.write(JSON.stringify(times)));
`;

export interface NodeChain {
  ranks: number;
  /** Median over runs of: the bench's spawn of the parent to the last child's first statement. */
  lastChildMs: number;
}

/** `runs` times: an empty Node parent spawning `ranks` empty Node children. */
export function measureNodeChain(ranks: number, runs: number): NodeChain | { ranks: number; error: string } {
  const lasts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const spawnedAt = wallNowMs();
    const result = spawnSync(process.execPath, ['-e', PARENT, String(ranks)], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    let times: unknown;
    try {
      times = JSON.parse(result.stdout ?? '');
    } catch {
      times = null;
    }
    if (!Array.isArray(times) || times.length !== ranks || !times.every((t) => typeof t === 'number' && Number.isFinite(t))) {
      return { ranks, error: `the parent printed ${JSON.stringify((result.stdout ?? '').slice(0, 80))} (exit ${result.status ?? result.signal})` };
    }
    lasts.push(Math.max(...(times as number[])) - spawnedAt);
  }
  return { ranks, lastChildMs: median(lasts) };
}
