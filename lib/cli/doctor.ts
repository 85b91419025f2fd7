import type { Command } from 'commander';
import { doctorExitCode, renderDoctor, runDoctor } from '../doctor/index.js';
import { renderDoctorMarkdown } from '../doctor/markdown.js';
import { addFormatOption, addOutputOptions, backendOption, EXIT, outputPlan, toJson, type OutputFlags } from './common.js';
import { checkWritable, FileUsageError, FileWriteError, writeOutputFile } from './files.js';

export function registerDoctorCommand(program: Command): void {
  addFormatOption(
    addOutputOptions(
      program
        .command('doctor')
        .description('What cuipc loaded, the devices and their physical identity, peer access, and whether legacy IPC export works')
        .addOption(backendOption()),
      'the report',
    ),
  )
    .addHelpText(
      'after',
      `
Checks, in order: the CUDA driver and runtime cuipc found (and every place it looked), which
library provides cudaMalloc (an LD_PRELOAD interposer shows here), each device's name, UUID
and PCI bus id, the peer-access matrix, a real cudaMalloc + cudaIpcGetMemHandle per device,
and the launch-environment hazards of this process.

Exit status: 0 all fine; 1 legacy IPC export fails on a device, or the environment has a
[high] hazard (one that breaks CUDA IPC under SGLang or PyTorch; the report says which and
what to change); 3 no driver, no runtime or no device (nothing could be checked); 4 internal
error (a bug in cuipc).

Examples:
  cuipc doctor
  cuipc doctor -o doctor.json
  CUDA_VISIBLE_DEVICES=1 cuipc doctor
  cuipc doctor --backend sim        # the simulated device, no GPU needed`,
    )
    .action(async (opts: { backend?: 'cuda' | 'sim' | 'auto' } & OutputFlags) => {
      const plan = outputPlan(opts);
      try {
        if (plan.file) checkWritable(plan.file, '--out');
      } catch (error) {
        if (!(error instanceof FileUsageError)) throw error;
        process.stderr.write(`cuipc doctor: ${error.message}\n`);
        process.exitCode = EXIT.usage;
        return;
      }
      const report = await runDoctor({ backend: opts.backend });
      if (plan.text) process.stdout.write((opts.format === 'markdown' ? renderDoctorMarkdown(report) : renderDoctor(report)) + '\n');
      if (plan.stdoutJson) process.stdout.write(toJson(report) + '\n');
      process.exitCode = doctorExitCode(report);
      if (plan.file) {
        try {
          writeOutputFile(plan.file, toJson(report) + '\n', '--out');
        } catch (error) {
          if (!(error instanceof FileWriteError)) throw error;
          process.stderr.write(`cuipc doctor: ${error.message}\n`);
          process.exitCode = EXIT.couldNotRun;
        }
      }
    });
}
