// Plays a traced CUDA program for the CLI tests (no GPU here): checks that the injection
// variables reached it, writes a fixture as its own trace (its pid, the run's id), then
// exits with the given status or kills itself with the given signal.
// Usage: node fake_traced_program.mjs FIXTURE STATUS|SIGNAL [EXPECTED_LIBRARY]
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [fixture, ending, expectedLibrary] = process.argv.slice(2);
const { CUDA_INJECTION64_PATH: library, CUIPC_TRACE_DIR: dir, CUIPC_TRACE_RUN: run } = process.env;
if (!library || !dir || !run) {
  process.stderr.write('fake program: the injection variables did not arrive\n');
  process.exit(90);
}
if (expectedLibrary && library !== expectedLibrary) {
  process.stderr.write(`fake program: CUDA_INJECTION64_PATH is ${library}, expected ${expectedLibrary}\n`);
  process.exit(91);
}
if (fixture !== '-') {
  const lines = readFileSync(fixture, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => {
    const o = JSON.parse(l);
    if (o.type === 'process') Object.assign(o, { pid: process.pid, run, startedAt: new Date().toISOString() });
    return JSON.stringify(o);
  });
  writeFileSync(join(dir, `cuipc-trace-${run}-${process.pid}.jsonl`), `${lines.join('\n')}\n`);
}
if (/^SIG/.test(ending)) process.kill(process.pid, ending);
else process.exit(Number(ending));
