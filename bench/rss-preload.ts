// Loaded into the probe's Node processes (coordinator and ranks) through NODE_OPTIONS=--import
// by `npm run bench`. The probe report carries no memory figures and a process cannot ask the
// kernel for a grandchild's peak RSS, so each process writes its own as it exits.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const directory = process.env.CUIPC_BENCH_RSS_DIR;
if (directory) {
  process.on('exit', () => {
    const record = {
      pid: process.pid,
      // Set by the coordinator for each rank; absent in the coordinator itself.
      rank: process.env.CUIPC_RANK ?? null,
      maxRssKiB: process.resourceUsage().maxRSS,
    };
    try {
      writeFileSync(join(directory, `${process.pid}.json`), JSON.stringify(record));
    } catch {
      // The bench reports a missing record as "n/a"; never disturb the probe itself.
    }
  });
}
