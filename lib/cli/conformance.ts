// `cuipc conformance`: record what this GPU and driver answer, cell by cell, or compare with a
// reference recording.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { packageRoot } from '../binding/native.js';
import { runConformance, type ConformanceRecording } from '../conformance/cells.js';
import { compareRecordings } from '../conformance/compare.js';
import { renderRecording } from '../conformance/render.js';
import { addOutputOptions, backendOption, EXIT, toJson, type OutputFlags } from './common.js';
import { checkOutput, READ_CAPS, readCappedText, writeOutputFile } from './files.js';

/** Where the package keeps the recordings it ships (the simulated device is held to h200.json). */
export const SHIPPED_RECORDINGS = join(packageRoot, 'test', 'fixtures', 'conformance');

/**
 * The file --compare reads: the path as given when it exists; else, for a bare name such as
 * `h200` or `h200.json`, the shipped recording of that name.
 */
export function resolveReference(name: string): string {
  if (existsSync(name) || name.includes('/')) return name;
  const shipped = join(SHIPPED_RECORDINGS, name.endsWith('.json') ? name : `${name}.json`);
  return existsSync(shipped) ? shipped : name;
}

/**
 * `data` as a recording --compare can use: every cell an object with a string id and group and
 * an object of observations. Throws naming the first part that is not (before the run starts).
 */
export function checkRecording(data: unknown): ConformanceRecording {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(data)) throw new Error('the top level is not a JSON object');
  if (!Array.isArray(data.cells)) throw new Error('it has no "cells" array');
  data.cells.forEach((cell: unknown, i) => {
    if (!isObject(cell) || typeof cell.id !== 'string' || typeof cell.group !== 'string' || !isObject(cell.observed)) {
      throw new Error(`"cells[${i}]" is not a cell (an object with a string "id" and "group" and an object "observed")`);
    }
  });
  return data as unknown as ConformanceRecording;
}

export function registerConformanceCommand(program: Command): void {
  addOutputOptions(
    program
      .command('conformance')
      .description('Record what this GPU and driver answer to every IPC-relevant call, cell by cell')
      .addOption(backendOption())
      .option('--device <ordinal>', 'the device to record on', '0')
      .option('--compare <file>', "compare with a reference recording (a file, or 'h200' for the shipped one); exit 1 on any difference"),
    'the recording',
  )
    .addHelpText(
      'after',
      `
Cells: each allocation kind (cudaMalloc, interior pointer, cudaMallocAsync pool, managed,
pinned host, VMM without and with a POSIX-fd handle type) against pointer attributes and
cudaIpcGetMemHandle; invalid pointers; the same calls while a stream captures, in global,
thread-local and relaxed mode, with cudaMalloc during capture and the end-capture result;
opening handles (another process, the exporter itself, a zeroed handle, freed memory, twice
in one process); VMM export and import through a POSIX fd; the last-error state after a
failed export; peer access between every pair of devices.

The H200 recording that the simulated device is held to ships in the package
(test/fixtures/conformance/h200.json): \`--compare h200\` (or h200.json) reads it when no file
of that name is in the current folder.

Examples:
  cuipc conformance                           # a table for a person
  cuipc conformance -o mygpu.json            # keep a recording
  cuipc conformance --compare h200.json       # what differs on this machine from the H200

Exit status: 0 recorded (and matching, with --compare); 1 differs from the reference;
2 bad usage (unreadable reference); 3 no device could be initialised; 4 internal error (a bug
in cuipc).`,
    )
    .action(async (opts: { backend?: 'cuda' | 'sim' | 'auto'; device: string; compare?: string } & OutputFlags) => {
      // Number('') is 0: the text itself must be an ordinal.
      if (!/^\d+$/.test(opts.device.trim())) throw new RangeError(`--device must be a device ordinal (0, 1, ...), got '${opts.device}'`);
      const device = Number(opts.device);
      const referencePath = opts.compare !== undefined ? resolveReference(opts.compare) : undefined;
      if (opts.out !== undefined) checkOutput(opts.out, '--out', referencePath !== undefined ? [{ path: referencePath, label: '--compare' }] : []);
      let reference: ConformanceRecording | undefined;
      if (referencePath !== undefined && opts.compare !== undefined) {
        const text = readCappedText(referencePath, READ_CAPS.conformance, '--compare');
        try {
          reference = checkRecording(JSON.parse(text));
        } catch (error) {
          const shipped = readdirSync(SHIPPED_RECORDINGS).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5));
          throw new RangeError(`--compare ${opts.compare}: expected a conformance recording (JSON): ${(error as Error).message} (shipped recordings: ${shipped.join(', ')})`);
        }
      }
      const recording = await runConformance({ backend: opts.backend, device });
      const mismatches = reference ? compareRecordings(reference, recording) : undefined;
      if (opts.out !== undefined) writeOutputFile(opts.out, toJson(recording) + '\n', '--out');
      if (opts.json === true) process.stdout.write(toJson(recording) + '\n');
      else process.stdout.write(renderRecording(recording, mismatches) + '\n');
      process.exitCode = recording.cells.length === 0 ? EXIT.couldNotRun : mismatches && mismatches.length > 0 ? EXIT.failureFound : EXIT.ok;
    });
}
