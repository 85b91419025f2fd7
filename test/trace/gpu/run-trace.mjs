// Runs `cuipc trace ...` from the compiled library (dist/), the same command the CLI
// registers, whether or not bin/cuipc.js wires it yet. Usage: node run-trace.mjs trace [...]
import { Command } from 'commander';

const { registerTraceCommand } = await import(new URL('../../../dist/cli/trace.js', import.meta.url).href);
const program = new Command('cuipc').exitOverride();
registerTraceCommand(program);
for (const command of program.commands) command.exitOverride();
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (typeof error?.code === 'string' && error.code.startsWith('commander.')) process.exitCode = error.exitCode === 0 ? 0 : 2;
  else throw error;
}
