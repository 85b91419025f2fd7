// The option table drives every surface: the CLI's flags, the checks, the report schema's enums
// and the Python package's keys. A changed row changes all four; the committed schema and
// Python keys are what the table produces now.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addProbeOptions } from '../../lib/cli/probe-flags.js';
import { optionName, type OptionSpec } from '../../lib/model/option-spec.js';
import { applyBisectSchema, applyOptionSchema, pythonOptionKeys } from '../../lib/probe/option-outputs.js';
import { probeOptionTable } from '../../lib/probe/option-table.js';
import { ProbeUsageError, resolveProbeOptions, type ProbeOptions } from '../../lib/probe/options.js';

const read = (path: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')) as Record<string, unknown>;
const pythonDir = fileURLToPath(new URL('../../python', import.meta.url));

/** The table with one more allocator: what a real change to an enum does. */
function withExtraAllocator(): OptionSpec[] {
  return probeOptionTable().map((row) => (optionName(row) === 'alloc' && row.type === 'choice' ? { ...row, choices: [...(row.choices as string[]), 'experimental'] } : row));
}

describe('the option table drives CLI, validation, schema and Python keys', () => {
  it('the committed schemas and Python keys are what the table produces', () => {
    const rows = probeOptionTable();
    const report = read('schema/report.schema.json');
    expect(applyOptionSchema(report, rows)).toEqual(report);
    const bisect = read('schema/bisect.schema.json');
    expect(applyBisectSchema(bisect, rows)).toEqual(bisect);
    expect((read('python/cuipc_ray/probe_options.json') as { keys: unknown }).keys).toEqual(pythonOptionKeys(rows));
  });

  it('a new choice in a row appears in all four at once', () => {
    const rows = withExtraAllocator();
    // CLI
    const command = addProbeOptions(new Command('probe'), [], rows);
    expect(command.options.find((o) => o.long === '--alloc')?.argChoices).toContain('experimental');
    // validation
    expect(resolveProbeOptions({ backend: 'sim', alloc: 'experimental' as never }, {}, rows).alloc).toBe('experimental');
    expect(() => resolveProbeOptions({ backend: 'sim', alloc: 'experimental' as never }, {})).toThrow(ProbeUsageError);
    // schema
    const schema = applyOptionSchema(read('schema/report.schema.json'), rows) as { $defs: { alloc: { enum: string[] } } };
    expect(schema.$defs.alloc.enum).toContain('experimental');
    // Python keys
    expect(pythonOptionKeys(rows).alloc.choices).toContain('experimental');
  });

  it('a new range in a row moves the schema and the check together', () => {
    const rows = probeOptionTable().map((row) => (optionName(row) === 'ranks' && row.type === 'integer' ? { ...row, max: 8 } : row));
    expect(() => resolveProbeOptions({ backend: 'sim', ranks: 9 }, {}, rows)).toThrow(/ranks must be an integer from 1 to 8, got 9/);
    const schema = applyOptionSchema(read('schema/report.schema.json'), rows) as { $defs: { probeOptions: { properties: { ranks: { maximum: number } } } } };
    expect(schema.$defs.probeOptions.properties.ranks.maximum).toBe(8);
    expect(pythonOptionKeys(rows).ranks.max).toBe(8);
  });

  it('every ProbeOptions key is a row, and every row is a ProbeOptions key', () => {
    // Required<ProbeOptions> makes the compiler hold this list to the type.
    const every: { [K in keyof Required<ProbeOptions>]: true } = {
      ranks: true, inputs: true, bytes: true, alloc: true, share: true, captureMode: true, memorySaverRegion: true, devices: true, backend: true,
      env: true, timeoutMs: true, port: true, socket: true, launcher: true, visibility: true, ray: true, coordinatorHost: true, envSnapshot: true,
    };
    expect(new Set(probeOptionTable().map((row) => row.path[0]))).toEqual(new Set(Object.keys(every)));
    const ray: { [K in keyof Required<NonNullable<ProbeOptions['ray']>>]: true } = { numGpus: true, placementStrategy: true, nosetVisibleDevices: true, address: true, placementGroup: true, bundleIndices: true, namespace: true, python: true };
    expect(probeOptionTable().filter((row) => row.path[0] === 'ray').map((row) => row.path[1]).sort()).toEqual(Object.keys(ray).sort());
  });

  it('the Python package refuses a key the table does not have, and a value it does not allow', () => {
    const python = (code: string) => spawnSync('python3', ['-c', code], { cwd: pythonDir, encoding: 'utf8' });
    const ok = python('from cuipc_ray.probe_options import check_probe_options as c; print(c({"ranks": 2, "alloc": "torch", "num_gpus": 0.5}))');
    expect(ok.stdout.trim()).toBe("{'ranks': 2, 'alloc': 'torch', 'ray': {'numGpus': 0.5}}");
    const unknown = python('from cuipc_ray.probe_options import check_probe_options as c; c({"rank": 2})');
    expect(unknown.stderr).toMatch(/TypeError: unknown probe option\(s\) rank; accepted: .*ranks/);
    const bad = python('from cuipc_ray.probe_options import check_probe_options as c; c({"alloc": "malloc"})');
    expect(bad.stderr).toMatch(/ValueError: alloc must be one of torch, cudaMalloc/);
  });

  it('scripts/options.mjs --check finds the committed files current', () => {
    expect(() => execFileSync(process.execPath, [fileURLToPath(new URL('../../scripts/options.mjs', import.meta.url)), '--check'], { encoding: 'utf8' })).not.toThrow();
  });
});
