// commander, loaded when the CLI first builds a command, not when the package loads: the rank
// processes load the same bundle (dist/bundle/index.cjs) and never parse a command line, and
// loading commander cost each rank about 10 ms of its start-up on 2 cores, before its context.
import { createRequire } from 'node:module';
import type * as Commander from 'commander';

let loaded: typeof Commander | undefined;

export function commander(): typeof Commander {
  loaded ??= createRequire(import.meta.url)('commander') as typeof Commander;
  return loaded;
}

/** `new Option(flags, description)`, with commander loaded on first use. */
export function option(flags: string, description?: string): Commander.Option {
  return new (commander().Option)(flags, description);
}
