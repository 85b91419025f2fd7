// Loaded into the probe's Node processes (NODE_OPTIONS=--require, CommonJS as rss-preload.cts
// says why) for one timed run of `npm run bench`: when each process began
// (performance.timeOrigin), when Node had started and reached this preload, when the
// coordinator spawned ranks, and the protocol lines each side wrote (a rank's hello and
// results, the coordinator's rounds and exit), each with its wall-clock time, so one timeline
// shows where the time between spawn and exit goes without touching the probe's code. It
// observes; it changes nothing the probe does.
import childProcess = require('node:child_process');
import { appendFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import net = require('node:net');
import { join } from 'node:path';

const directory = process.env.CUIPC_BENCH_TIMELINE_DIR;

function now(): number {
  return performance.timeOrigin + performance.now();
}

if (directory) {
  const who = process.env.CUIPC_RANK ?? 'coordinator';
  const file = join(directory, `${process.pid}.tsv`);
  const record = (event: string, at = now()): void => {
    try {
      appendFileSync(file, `${who}\t${event}\t${at.toFixed(3)}\n`);
    } catch {
      // a missing line shows as a gap; never disturb the probe
    }
  };
  record('process start', performance.timeOrigin);
  record('node ready (preload)');

  // The type (and round) of each protocol line, from its first bytes.
  const describe = (chunk: unknown): string | null => {
    const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.subarray(0, 200).toString() : null;
    if (!text || !text.startsWith('{"type":"')) return null;
    const type = /"type":"(\w+)"/.exec(text)?.[1];
    if (type === 'calling') return null;
    const step = /"step":"(\w+)","phase":"(\w+)"/.exec(text) ?? /"result":\{"step":"(\w+)","phase":"(\w+)"/.exec(text);
    return step ? `${type} ${step[1]}/${step[2]}` : (type ?? null);
  };
  const write = net.Socket.prototype.write;
  net.Socket.prototype.write = function (this: net.Socket, chunk: unknown, ...rest: unknown[]): boolean {
    const what = describe(chunk);
    if (what) record(`wrote ${what}`);
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof write;

  const spawn = childProcess.spawn;
  let spawned = 0;
  childProcess.spawn = function (this: unknown, ...args: unknown[]) {
    if (spawned++ === 0) record('first spawn');
    const child = (spawn as (...a: unknown[]) => childProcess.ChildProcess).apply(this, args);
    // When this process learnt that a child is gone: for the coordinator, a rank reaped, which
    // splits the exit tail into the ranks' teardown and the coordinator's own leaving.
    child.on('exit', () => record('child reaped'));
    return child;
  } as typeof spawn;
  syncBuiltinESMExports();
  process.on('exit', () => record('exit'));
}
