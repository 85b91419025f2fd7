// The probe's command-line flags, made from the option table (lib/probe/option-table.ts and the
// launchers' rows): one flag per row, its help from the row's description and default, grouped
// as the row says; and the flags back into ProbeOptions by the rows' paths. `cuipc probe`,
// `matrix` and `bisect` share them; only the output flags (--json, -o/--out, --quiet,
// --verbose) and --env-from are the CLI's own.
import type { Command, Option } from 'commander';
import { commander, option } from './commander.js';
import { SnapshotFormatError } from '../env/read-snapshot.js';
import { choicesOf, optionName, type OptionSpec } from '../model/option-spec.js';
import { probeOptionTable } from '../probe/option-table.js';
import { parseDeviceList, parseEnvAssignment, parseEnvFile, ProbeUsageError, type ProbeOptions } from '../probe/options.js';
import { readSnapshotFile } from './env.js';
import { addFormatOption, addOutputOptions, OUTPUT_GROUP, type ReportFormat } from './common.js';
import { checkOutput, READ_CAPS, readCappedText } from './files.js';

/** What commander gives the action: one attribute per flag (camel-cased), plus the CLI's own. */
export interface CommonFlags {
  env?: string[];
  envFrom?: string;
  /** The old spelling, refused with a pointer to --env-from (Node 20 owns --env-file). */
  envFile?: string;
  json?: boolean;
  out?: string;
  format?: ReportFormat;
  quiet?: boolean;
  verbose?: boolean;
  /** `cuipc probe` only: false with --no-check-fixes. */
  checkFixes?: boolean;
  [flag: string]: unknown;
}

const GROUP_TITLES: Record<OptionSpec['group'], string> = {
  probe: 'Probe options:',
  environment: "The ranks' environment:",
  rendezvous: 'Rendezvous:',
  launcher: 'Launchers:',
};

function integer(value: string): number {
  if (!/^-?\d+$/.test(value.trim())) throw new (commander().InvalidArgumentError)('not an integer.');
  return Number(value);
}

function finiteNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new (commander().InvalidArgumentError)('not a number.');
  return n;
}

function deviceList(value: string): number[] {
  try {
    return parseDeviceList(value);
  } catch (error) {
    throw new (commander().InvalidArgumentError)((error as Error).message);
  }
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** '--capture-mode' -> 'captureMode': the attribute commander stores the flag's value under. */
export function flagAttribute(flag: string): string {
  return flag.replace(/^--/, '').replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

function helpOf(row: OptionSpec): string {
  const fallback = row.type !== 'custom' && row.default !== undefined && row.type !== 'boolean' ? ` (default ${String(row.default)})` : '';
  return `${row.description}${fallback}`;
}

/** The commander Option for one row. */
export function optionOf(row: OptionSpec): Option {
  const flag = row.flag as string;
  const flags = row.short ? `${row.short}, ${flag}` : flag;
  const made = option(row.type === 'boolean' ? flags : `${flags} ${row.valueName ?? '<value>'}`, helpOf(row));
  made.helpGroup(GROUP_TITLES[row.group]);
  switch (row.type) {
    case 'integer':
      return made.argParser(integer);
    case 'number':
      return made.argParser(finiteNumber);
    case 'choice':
      return made.choices(choicesOf(row));
    case 'custom':
      if (optionName(row) === 'devices') return made.argParser(deviceList);
      if (optionName(row) === 'env') return made.argParser(collect);
      return made;
    default:
      return made;
  }
}

/** The table's rows that have a flag, less the ones named in `exclude` (library names). */
function flagRows(exclude: readonly string[], rows: readonly OptionSpec[] = probeOptionTable()): OptionSpec[] {
  return rows.filter((row) => row.flag !== null && !exclude.includes(optionName(row)));
}

/** Adds every probe flag (less `exclude`) and the CLI's own: --env-from, --json, -o/--out, --format, --quiet, --verbose. */
export function addProbeOptions(command: Command, exclude: readonly string[] = [], rows: readonly OptionSpec[] = probeOptionTable()): Command {
  for (const row of flagRows(exclude, rows)) command.addOption(optionOf(row));
  command
    .addOption(option('--env-from <file>', "variables for the ranks' environment, one KEY=VALUE per line (formerly --env-file)").helpGroup(GROUP_TITLES.environment))
    .addOption(option('--env-file <file>').hideHelp());
  return addFormatOption(addOutputOptions(command, 'the report'))
    .addOption(option('-q, --quiet', 'no text report (the exit status still tells)').helpGroup(OUTPUT_GROUP))
    .addOption(option('-v, --verbose', 'the whole report: every rank, step and call, every explanation').helpGroup(OUTPUT_GROUP));
}

/** Node 20 reads `--env-file` itself (it scans every argument), so cuipc calls it --env-from. */
export const ENV_FILE_RENAMED =
  '--env-file is now --env-from: Node.js 20 takes --env-file for itself (it loads the file into cuipc\'s own environment, or exits 9 when the file is missing). Use --env-from FILE.';

function setAt(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let at = target;
  for (const key of path.slice(0, -1)) {
    at[key] ??= {};
    at = at[key] as Record<string, unknown>;
  }
  at[path[path.length - 1]] = value;
}

/** The flags as ProbeOptions: each given flag at its row's path; files read (--env-from, --env-snapshot). */
export function toOptions(flags: CommonFlags, exclude: readonly string[] = []): ProbeOptions {
  if (flags.envFile !== undefined) throw new ProbeUsageError(ENV_FILE_RENAMED);
  if (flags.out !== undefined) {
    const inputs = [
      { path: flags.envFrom, label: '--env-from' },
      { path: flags.envSnapshot as string | undefined, label: '--env-snapshot' },
    ];
    checkOutput(flags.out, '--out', inputs.filter((i): i is { path: string; label: string } => i.path !== undefined));
  }
  const options: Record<string, unknown> = {};
  for (const row of flagRows(exclude)) {
    const value = flags[flagAttribute(row.flag as string)];
    if (value === undefined) continue;
    const name = optionName(row);
    if (name === 'env') continue;
    if (name === 'envSnapshot') {
      try {
        setAt(options, row.path, readSnapshotFile(value as string));
      } catch (error) {
        if (error instanceof SnapshotFormatError) throw new ProbeUsageError(`--env-snapshot: ${error.message}`);
        throw error;
      }
      continue;
    }
    setAt(options, row.path, value);
  }
  const env: Record<string, string> = flags.envFrom ? parseEnvFile(readCappedText(flags.envFrom, READ_CAPS.envFile, '--env-from'), flags.envFrom) : {};
  for (const assignment of flags.env ?? []) {
    const [key, value] = parseEnvAssignment(assignment);
    env[key] = value;
  }
  options.env = env;
  return options as ProbeOptions;
}
