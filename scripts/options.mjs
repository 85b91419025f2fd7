// Writes what the probe's option table produces into the files that ship it: the report and
// bisect schemas' option enums and ranges, and python/cuipc_ray/probe_options.json (the keys the
// Python package accepts). `--check` only compares (exit 1 when a file is stale). Run after
// `npm run build:ts`; test/probe/option-outputs.test.ts holds the committed files to the table.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { probeOptionTable } = await import(new URL('../dist/probe/option-table.js', import.meta.url));
const { applyOptionSchema, applyBisectSchema, pythonOptionKeys } = await import(new URL('../dist/probe/option-outputs.js', import.meta.url));

const rows = probeOptionTable();
const check = process.argv.includes('--check');
const json = (value) => `${JSON.stringify(value, null, 2)}\n`;
const outputs = [
  ['schema/report.schema.json', (old) => json(applyOptionSchema(JSON.parse(old), rows))],
  ['schema/bisect.schema.json', (old) => json(applyBisectSchema(JSON.parse(old), rows))],
  ['python/cuipc_ray/probe_options.json', () => json({ about: 'Made by scripts/options.mjs from lib/probe/option-table.ts and the launchers\' rows: the keys cuipc_ray.check_probe_options accepts. Do not edit.', keys: pythonOptionKeys(rows) })],
];
let stale = 0;
for (const [path, make] of outputs) {
  const file = `${root}${path}`;
  let old = '';
  try {
    old = readFileSync(file, 'utf8');
  } catch {}
  const next = make(old || '{}');
  if (next === old) continue;
  stale += 1;
  if (check) process.stdout.write(`${path} is stale: run node scripts/options.mjs\n`);
  else writeFileSync(file, next), process.stdout.write(`wrote ${path}\n`);
}
process.exit(check && stale > 0 ? 1 : 0);
