// Loaded into the probe's Node processes (coordinator and ranks) through NODE_OPTIONS=--require
// by `npm run bench`: CommonJS, because --import would start an ES module loader in every rank,
// which the product's CommonJS rank program (dist/bundle/rank.cjs) does not (8 ms of a 2-core
// machine's `node -e 0`, medians of 25). The probe report carries no memory figures and a
// process cannot ask the kernel for a grandchild's peak RSS, so each process writes its own as
// it exits: VmHWM, the peak of its own address space. Not getrusage's maxrss
// (process.resourceUsage().maxRSS), which keeps the peak the process had before its execve: a
// forked child starts out sharing its parent's pages, so a Node process spawned by one holding
// 256 MB reported 262 MB there against its own 41 MB (test/bench/own-peak-rss.test.ts).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** VmHWM from /proc/self/status; getrusage's figure where there is no /proc to read. */
export function ownPeakRssKiB(): number {
  try {
    const hwm = /^VmHWM:\s*(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) return Number(hwm[1]);
  } catch {
    // no /proc
  }
  return process.resourceUsage().maxRSS;
}

const directory = process.env.CUIPC_BENCH_RSS_DIR;
if (directory) {
  process.on('exit', () => {
    const record = {
      pid: process.pid,
      // Set by the coordinator for each rank; absent in the coordinator itself.
      rank: process.env.CUIPC_RANK ?? null,
      maxRssKiB: ownPeakRssKiB(),
    };
    try {
      writeFileSync(join(directory, `${process.pid}.json`), JSON.stringify(record));
    } catch {
      // The bench reports a missing record as "n/a"; never disturb the probe itself.
    }
  });
}
