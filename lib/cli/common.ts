import { Option } from 'commander';
import { checkOutput } from './files.js';

/** Exit statuses shared by every command: the README's "Exit status" sentence lists them. */
export const EXIT = { ok: 0, failureFound: 1, usage: 2, couldNotRun: 3, internal: 4 } as const;

export function backendOption(): Option {
  return new Option(
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

/**
 * The one meaning of `--json` in every command: alone, the JSON document goes to stdout
 * instead of the text report; with FILE, the text report goes to stdout and the JSON to FILE
 * (checked writable before anything runs).
 */
export function jsonOption(what: string): Option {
  return new Option('--json [file]', `${what} as JSON: alone, on stdout instead of the text; with FILE, written to FILE and the text still printed`);
}

export type JsonFlag = boolean | string | undefined;

/** Where the text and the JSON go for a `--json` flag (see jsonOption). */
export function outputPlan(flag: JsonFlag): { text: boolean; stdoutJson: boolean; file: string | null } {
  if (typeof flag === 'string') return { text: true, stdoutJson: false, file: flag };
  return { text: flag !== true, stdoutJson: flag === true, file: null };
}

/** Why the --json FILE cannot be written, or is one of `inputs` (checked before anything runs), or null. */
export function jsonFileProblem(plan: ReturnType<typeof outputPlan>, inputs: ReadonlyArray<{ path: string; label: string }> = []): string | null {
  if (plan.file === null) return null;
  try {
    checkOutput(plan.file, '--json', inputs);
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
