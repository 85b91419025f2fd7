// `cuipc bisect GOOD BAD`: the smallest set of environment changes that turns GOOD's passing
// probe into BAD's failing one. Takes the probe's options (shared with `cuipc probe`), prints
// progress on a terminal, the result as text or JSON, and exits 0 found / 1 none / 2 / 3. A
// signal stops it with what it found so far (the probes run, the set it held), exit 128 + n.
import { constants } from 'node:os';
import type { Command } from 'commander';
import { bisect, rayLine, renderBisect, renderBisectMarkdown, type BisectProgress, type BisectRay, type BisectSnapshotInput } from '../bisect/index.js';
import { SnapshotFormatError } from '../env/read-snapshot.js';
import { ProbeUsageError } from '../probe/options.js';
import { EXIT } from './common.js';
import { readSnapshotFile } from './env.js';
import { checkOutput, FileUsageError, FileWriteError, writeOutputFile } from './files.js';
import { addProbeOptions, toOptions, type CommonFlags } from './probe-flags.js';

interface BisectFlags extends CommonFlags {
  include: string[];
  exclude: string[];
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function snapshotArgument(which: 'GOOD' | 'BAD', path: string): BisectSnapshotInput {
  if (path === '-') return '-';
  try {
    return readSnapshotFile(path);
  } catch (error) {
    if (error instanceof SnapshotFormatError) throw new ProbeUsageError(`${which}: ${error.message}`);
    throw error;
  }
}

function shortSet(ids: readonly string[]): string {
  return ids.length <= 3 ? ids.join(', ') || '(none)' : `${ids.length} changes`;
}

/** One line per probe: "probe 5 of at most 41: GOOD + 3 change(s); set so far: 12 changes". */
export function progressLine(p: BisectProgress): string {
  const what = p.role === 'good' ? 'GOOD' : p.role === 'bad' ? 'BAD' : `GOOD + ${p.applied.length} change(s)${p.role === 'suspects' ? ' (the hazard table\'s suspects)' : ''}`;
  return `probe ${p.probe} of at most ${p.atMost}: ${what}; set so far: ${shortSet(p.setSoFar)}\n`;
}

const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * While the bisect runs, the first SIGINT/SIGTERM/SIGHUP aborts its signal: the running probe
 * stops its ranks and cleans up, no other starts, and the result says what was found so far. A
 * second signal exits at once (each probe's exit hook still stops its ranks, and a Ray session
 * ends with this process).
 */
function stopOnSignals(): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const handlers = STOP_SIGNALS.map((name) => {
    const handler = (): void => {
      if (controller.signal.aborted) process.exit(128 + (constants.signals as Record<string, number>)[name]);
      process.stderr.write(`cuipc: ${name}: stopping the bisect once the running probe has cleaned up (again to exit at once)\n`);
      controller.abort(name);
    };
    process.on(name, handler);
    return [name, handler] as const;
  });
  return { signal: controller.signal, release: () => handlers.forEach(([name, handler]) => process.off(name, handler)) };
}

const HELP = `
GOOD and BAD are environment snapshots (\`cuipc env capture --json > FILE\`, say in a shell and
inside a Ray actor), or - for this process's environment. The probe runs under GOOD and under
BAD first; if GOOD fails or BAD passes it says what each found and stops. Otherwise it searches
the differences with delta debugging (ddmin) for a smallest set that, applied to GOOD, makes the
probe fail the same way as BAD (same step, call and error code): a set from which no single
change can be dropped.

Each variable is a change; each LD_PRELOAD entry and each PYTORCH_CUDA_ALLOC_CONF /
PYTORCH_ALLOC_CONF option is a change of its own. Variables that name paths or ids of one
machine or run (PWD, HOME, HOSTNAME, SHLVL, RAY_*_ID, ...) are held at GOOD's value unless
--include names them; --exclude holds more. Every probe is a separate run of new processes;
an environment already probed in this bisect is not probed again.

With --launcher ray the searched variables reach the actors as runtime_env env_vars (an
unset one is given empty: Ray cannot unset a variable). Ray starts once: with no cluster to
join, a local Ray is started before the first probe, joined by every probe and shut down at
the end; its start-up time is shown apart from the probes.

Examples:
  cuipc bisect shell.json actor.json --ranks 2
  cuipc bisect shell.json actor.json --launcher ray -o bisect.json
  cuipc bisect - actor.json --backend sim --exclude 'NCCL_*'

Ctrl-C (SIGINT, SIGTERM, SIGHUP) stops the probe that runs, cleans it up and prints what was
found so far: every probe run and the set the search held; a second one exits at once.

Exit status: 0 a minimal set was found; 1 none: GOOD fails, BAD passes, or the failure is not
caused by the searched variables (what else differs is named); 2 bad usage; 3 a probe could
not run under GOOD or BAD; 4 internal error (a bug in cuipc); 129/130/143 stopped by
SIGHUP/SIGINT/SIGTERM.`;

export function registerBisectCommand(program: Command): void {
  const command = addProbeOptions(
    program
      .command('bisect')
      .description('find the smallest environment difference that turns a passing probe into a failing one')
      .argument('<GOOD>', 'snapshot where the probe passes (a file, or - for this environment)')
      .argument('<BAD>', 'snapshot where it fails (a file, or -)')
      .option('--include <glob>', 'also search variables held fixed by default, e.g. RAY_* (repeatable)', collect, [])
      .option('--exclude <glob>', "hold these variables at GOOD's value, e.g. 'NCCL_*' (repeatable)", collect, []),
  );
  command.addHelpText('after', HELP);
  command.action(async (goodPath: string, badPath: string, flags: BisectFlags) => {
    try {
      if (flags.envSnapshot !== undefined) throw new ProbeUsageError('--env-snapshot: bisect builds every probe\'s environment from GOOD and BAD');
      if (flags.out !== undefined) {
        const inputs = [{ path: goodPath, label: 'GOOD' }, { path: badPath, label: 'BAD' }].filter((i) => i.path !== '-');
        checkOutput(flags.out, '--out', flags.envFrom !== undefined ? [...inputs, { path: flags.envFrom, label: '--env-from' }] : inputs);
      }
      const good = snapshotArgument('GOOD', goodPath);
      const bad = snapshotArgument('BAD', badPath);
      const showProgress = process.stderr.isTTY === true && !flags.quiet;
      const stop = stopOnSignals();
      const result = await bisect({
        ...toOptions(flags),
        good, bad, include: flags.include, exclude: flags.exclude, signal: stop.signal,
        ...(showProgress ? { onProgress: (p: BisectProgress) => process.stderr.write(progressLine(p)), onRay: (r: BisectRay) => process.stderr.write(`${rayLine(r)}\n`) } : {}),
      }).finally(stop.release);
      const json = `${JSON.stringify(result, null, 2)}\n`;
      if (!flags.quiet && flags.json !== true) process.stdout.write(flags.format === 'markdown' ? renderBisectMarkdown(result) : renderBisect(result));
      if (flags.json === true) process.stdout.write(json);
      process.exitCode = result.exitCode;
      if (flags.out !== undefined) writeOutputFile(flags.out, json, '--out');
    } catch (error) {
      if (error instanceof ProbeUsageError || error instanceof FileUsageError) {
        process.stderr.write(`cuipc: ${error.message}\n`);
        process.exitCode = EXIT.usage;
        return;
      }
      if (error instanceof FileWriteError) {
        process.stderr.write(`cuipc: ${error.message}\n`);
        process.exitCode = EXIT.couldNotRun;
        return;
      }
      throw error;
    }
  });
}
