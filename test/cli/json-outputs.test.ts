// Every command's --json output against its exported schema (schema/*.schema.json), compiled
// by Ajv in strict mode with every $ref resolved: a field renamed or an enum widened in the
// TypeScript shows here. Real outputs, on the simulated device; the enums held to the unions.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, describe, expect, it } from 'vitest';
import { HAZARD_SEVERITIES } from '../../lib/env/hazard-rule-kinds.js';
import { DOCTOR_VERDICTS } from '../../lib/doctor/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(ROOT, 'bin', 'cuipc.js');
const scratch = mkdtempSync(join(tmpdir(), 'cuipc-schema-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const schemaFiles = readdirSync(join(ROOT, 'schema')).filter((f) => f.endsWith('.schema.json'));
const schemas = Object.fromEntries(schemaFiles.map((f) => [f, JSON.parse(readFileSync(join(ROOT, 'schema', f), 'utf8')) as Record<string, unknown>]));
const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
for (const schema of Object.values(schemas)) ajv.addSchema(schema);

function json(args: string[]): unknown {
  const r = spawnSync(process.execPath, [bin, ...args, '--json'], { encoding: 'utf8', timeout: 120_000, cwd: scratch, env: { ...process.env, CUIPC_BACKEND: 'sim', COLUMNS: '80' } });
  expect(r.stderr).not.toMatch(/internal error/);
  return JSON.parse(r.stdout);
}

function check(file: string, document: unknown): void {
  const validate = ajv.getSchema(schemas[file].$id as string);
  if (!validate) throw new Error(`${file}: not compiled`);
  if (!validate(document)) throw new Error(`${file}: ${JSON.stringify(validate.errors?.slice(0, 5), null, 2)}`);
}

describe('the schemas', () => {
  it('each compiles under Ajv strict, every $ref resolving, and package.json exports it', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    for (const file of schemaFiles) {
      expect(() => ajv.getSchema(schemas[file].$id as string)).not.toThrow();
      expect(pkg.exports[`./${file}`]).toBe(`./schema/${file}`);
    }
    expect(schemaFiles.sort()).toEqual(['bisect.schema.json', 'conformance.schema.json', 'doctor.schema.json', 'env-diff.schema.json', 'env-snapshot.schema.json', 'paths.schema.json', 'report.schema.json', 'trace.schema.json']);
  });

  it('their enums are the TypeScript unions', () => {
    const hazard = (schemas['doctor.schema.json'].$defs as Record<string, { properties: { severity: { enum: string[] } } }>).hazard;
    expect(hazard.properties.severity.enum).toEqual([...HAZARD_SEVERITIES]);
    for (const f of ['env-snapshot.schema.json', 'env-diff.schema.json']) expect((schemas[f].$defs as Record<string, unknown>).hazard).toEqual(hazard);
    expect((schemas['doctor.schema.json'].properties as Record<string, { enum: string[] }>).verdict.enum).toEqual([...DOCTOR_VERDICTS]);
  });
});

describe('every command --json validates against its schema', () => {
  it('probe and matrix', () => {
    check('report.schema.json', json(['probe', '--ranks', '2', '--inputs', '2', '--alloc', 'vmm']));
    check('report.schema.json', json(['matrix', '--ranks', '1', '--inputs', '1']));
  }, 120_000);

  it('doctor (with a [high] hazard too)', () => {
    check('doctor.schema.json', json(['doctor']));
    const r = spawnSync(process.execPath, [bin, 'doctor', '--json'], { encoding: 'utf8', env: { ...process.env, CUIPC_BACKEND: 'sim', SGLANG_MEMORY_SAVER_CUDA_GRAPH: 'true' } });
    check('doctor.schema.json', JSON.parse(r.stdout));
  });

  it('env capture and env diff', () => {
    const a = join(scratch, 'a.json');
    const b = join(scratch, 'b.json');
    expect(spawnSync(process.execPath, [bin, 'env', 'capture', '-o', a, '--label', 'a']).status).toBe(0);
    expect(spawnSync(process.execPath, [bin, 'env', 'capture', '-o', b], { env: { ...process.env, PYTORCH_CUDA_ALLOC_CONF: 'expandable_segments:True' } }).status).toBe(0);
    check('env-snapshot.schema.json', JSON.parse(readFileSync(a, 'utf8')));
    check('env-snapshot.schema.json', json(['env', 'capture']));
    check('env-diff.schema.json', json(['env', 'diff', a, b]));
  });

  it('trace report, conformance and paths', () => {
    for (const fixture of ['capture_malloc.synthetic.jsonl', 'expandable_segments.h200.jsonl']) check('trace.schema.json', json(['trace', 'report', join(ROOT, 'test', 'fixtures', 'trace', fixture)]));
    check('conformance.schema.json', json(['conformance']));
    check('conformance.schema.json', JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'conformance', 'h200.json'), 'utf8')));
    check('paths.schema.json', json(['paths']));
  });

  it('bisect', () => {
    const r = spawnSync(process.execPath, [bin, 'bisect', '-', '-', '--ranks', '1', '--inputs', '1', '--json'], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, CUIPC_BACKEND: 'sim' } });
    check('bisect.schema.json', JSON.parse(r.stdout));
  }, 120_000);
});
