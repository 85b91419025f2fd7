import type { Command, Option } from 'commander';
import { option } from './commander.js';
import { checkOutput } from './files.js';

/** Exit statuses shared by every command: the README's "Exit status" sentence lists them. */
export const EXIT = { ok: 0, failureFound: 1, usage: 2, couldNotRun: 3, internal: 4 } as const;

export function backendOption(): Option {
  return option(
    '--backend <backend>',
    "'cuda' (a real GPU), 'sim' (the simulated device) or 'auto' (cuda when a driver is installed, else sim); default: $CUIPC_BACKEND or cuda",
  ).choices(['cuda', 'sim', 'auto']);
}

/** JSON with BigInt as hex strings and Buffers as hex. */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (typeof v === 'bigint') return '0x' + v.toString(16);
      if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
        return Buffer.from((v as { data: number[] }).data).toString('hex');
      }
      return v;
    },
    2,
  );
}

export function writeJson(value: unknown): void {
  process.stdout.write(toJson(value) + '\n');
}

/** The help group of the output flags, in every command. */
export const OUTPUT_GROUP = 'Output:';

/**
 * The one JSON contract of every command: `--json` prints the JSON document on stdout instead
 * of the text; `-o/--out FILE` writes it to FILE (checked writable before anything runs) and
 * the text is still printed. `--json` takes no value, so it never swallows the next argument.
 */
export function addOutputOptions(command: Command, what: string): Command {
  return command
    .addOption(option('--json', `${what} as JSON on stdout, instead of the text`).helpGroup(OUTPUT_GROUP))
    .addOption(option('-o, --out <file>', `write ${what} as JSON to FILE (the text is still printed)`).helpGroup(OUTPUT_GROUP));
}

/** The output flags as commander gives them. */
export interface OutputFlags {
  json?: boolean;
  out?: string;
  /** --format, on the commands that have it (addFormatOption); absent: text. */
  format?: ReportFormat;
}

/** How the report is printed: the terminal's text, or Markdown to paste into an issue. */
export type ReportFormat = 'text' | 'markdown';

/**
 * `--format text|markdown`, the same on every command that has it (probe, matrix, bisect, trace
 * report, doctor): markdown prints an issue-ready report in place of the text (lib/report/markdown.ts).
 */
export function addFormatOption(command: Command): Command {
  return command.addOption(
    option('-f, --format <format>', 'the report as text (default), or markdown to paste into an issue')
      .choices(['text', 'markdown'])
      .conflicts('json')
      .helpGroup(OUTPUT_GROUP),
  );
}

/** Said where `--json FILE` (the old form) left FILE as an extra argument. */
export const JSON_TAKES_NO_FILE = '--json takes no FILE: it prints the JSON on stdout; to write a file, use -o FILE (or --out FILE)';

/** Where the text and the JSON go for the output flags (see addOutputOptions). */
export function outputPlan(flags: OutputFlags): { text: boolean; stdoutJson: boolean; file: string | null } {
  return { text: flags.json !== true, stdoutJson: flags.json === true, file: flags.out ?? null };
}

/** Why the --out FILE cannot be written, or is one of `inputs` (checked before anything runs), or null. */
export function jsonFileProblem(plan: ReturnType<typeof outputPlan>, inputs: ReadonlyArray<{ path: string; label: string }> = []): string | null {
  if (plan.file === null) return null;
  try {
    checkOutput(plan.file, '--out', inputs);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Where a command writes: the process's streams, or a test's collectors. */
export interface CommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export const processIo: CommandIo = {
  stdout: (t) => {
    process.stdout.write(t);
  },
  stderr: (t) => {
    process.stderr.write(t);
  },
};
