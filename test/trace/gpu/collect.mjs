// Picks one process's trace per recorded case (rank 0 where there are ranks), makes it
// machine-neutral (checkout, home and output folders, host name) and writes it as
// <OUT>/fixtures/<case>.h200.jsonl, the name test/trace/recorded.test.ts reads.
// Usage: node collect.mjs OUT_DIR CHECKOUT_DIR
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const [out, checkout] = process.argv.slice(2);
const CASES = ['plain_cudamalloc', 'expandable_segments', 'vmm_interposer', 'static_runtime', 'cupti_unavailable'];
mkdirSync(join(out, 'fixtures'), { recursive: true });

function neutral(text) {
  let t = text;
  for (const [from, to] of [[join(out), '/out'], [checkout, '/repo'], [homedir(), '/home/user']]) {
    if (from && from !== '/') t = t.split(from).join(to);
  }
  return t;
}

for (const name of CASES) {
  const dir = join(out, name);
  let files = [];
  try {
    files = readdirSync(dir).filter((f) => /^cuipc-trace-.*\.jsonl$/.test(f)).map((f) => join(dir, f));
  } catch {
    console.log(`MISSING ${name}: no folder ${dir}`);
    continue;
  }
  const firstLine = (f) => JSON.parse(readFileSync(f, 'utf8').split('\n')[0]);
  const rank0 = files.find((f) => {
    const argv = firstLine(f).argv ?? [];
    const i = argv.indexOf('--rank');
    return i >= 0 && argv[i + 1] === '0';
  });
  const chosen = rank0 ?? files[0];
  if (!chosen) {
    console.log(`MISSING ${name}: no trace file in ${dir}`);
    continue;
  }
  const lines = readFileSync(chosen, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => {
    const o = JSON.parse(l);
    if (o.type === 'process') o.host = 'h200-node';
    return neutral(JSON.stringify(o));
  });
  const comment = { type: 'comment', text: `recorded on an NVIDIA H200 by test/trace/gpu/record.sh (${new Date().toISOString().slice(0, 10)}); checkout shown as /repo, home as /home/user` };
  writeFileSync(join(out, 'fixtures', `${name}.h200.jsonl`), `${[JSON.stringify(comment), ...lines].join('\n')}\n`);
  console.log(`collected ${name}: ${files.length} process file(s), kept ${chosen.split('/').pop()}`);
}
