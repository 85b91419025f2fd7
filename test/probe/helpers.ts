// Shared by the probe tests: is a process gone, what is in /dev/shm, and the report schema.
import { readdirSync, readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';

/** True while the process exists and is not a zombie (a reaped-late child counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export function shmEntries(): Set<string> {
  try {
    return new Set(readdirSync('/dev/shm'));
  } catch {
    return new Set();
  }
}

const schema = JSON.parse(readFileSync(new URL('../../schema/report.schema.json', import.meta.url), 'utf8')) as object;
const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(schema);

/** Throws with ajv's errors when the document does not follow schema/report.schema.json. */
export function assertValidReport(document: unknown): void {
  if (!validate(document)) {
    throw new Error(`report does not match the schema:\n${JSON.stringify(validate.errors?.slice(0, 8), null, 2)}`);
  }
}
