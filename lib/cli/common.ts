import { Option } from 'commander';

/** Exit statuses shared by every command (DESIGN.md). */
export const EXIT = { ok: 0, failureFound: 1, usage: 2, couldNotRun: 3 } as const;

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
