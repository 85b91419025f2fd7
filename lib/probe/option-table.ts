// The probe's options, one row each (lib/model/option-spec.ts says what a row holds): from this
// table and the launchers' own rows come the CLI's flags and help (lib/cli/probe.ts), the checks
// (options.ts), the report schema's enums (schema/report.schema.json, held to it by a test) and
// the keys the Python package accepts (python/cuipc_ray/probe_options.json). An option is added
// here, where it is read (a step or the coordinator), and in its test.
import { BACKEND_CHOICES } from '../binding/backend.js';
import { launcherNames, launcherOptions } from '../launch/builtin.js';
import type { OptionSpec } from '../model/option-spec.js';
import { CAPTURE_MODES, INPUT_ALLOCATORS, MEMORY_SAVER_MODES, SHARE_STRATEGIES } from '../model/vocabulary.js';

export const MAX_RANKS = 64;
export const MAX_INPUTS = 16384;
export const MAX_BYTES_PER_INPUT = 64 * 1024 * 1024;

export const PROBE_OPTION_ROWS: readonly OptionSpec[] = [
  { path: ['ranks'], flag: '--ranks', short: '-r', valueName: '<n>', group: 'probe', label: 'ranks', consumer: 'coordinator', type: 'integer', min: 1, max: MAX_RANKS, default: 4, description: 'rank processes' },
  { path: ['inputs'], flag: '--inputs', valueName: '<n>', group: 'probe', label: 'inputs', consumer: 'rank', type: 'integer', min: 1, max: MAX_INPUTS, default: 72, description: "graph inputs per rank (a server's captured batch sizes give about 72)" },
  {
    path: ['bytes'], flag: '--bytes', valueName: '<n>', group: 'probe', label: 'bytes', consumer: 'rank', type: 'integer', min: 4, max: MAX_BYTES_PER_INPUT, multipleOf: 4, default: 4096,
    why: 'the all-reduce sums uint32 elements', description: 'bytes per input, a multiple of 4',
  },
  {
    path: ['alloc'], flag: '--alloc', valueName: '<allocator>', group: 'probe', label: 'alloc', consumer: 'rank', type: 'choice', choices: INPUT_ALLOCATORS, default: 'torch', schemaDef: 'alloc',
    description: 'how graph inputs are allocated',
  },
  { path: ['share'], flag: '--share', valueName: '<strategy>', group: 'probe', label: 'share', consumer: 'rank', type: 'choice', choices: SHARE_STRATEGIES, default: 'ipc', schemaDef: 'share', description: 'how graph inputs are shared' },
  {
    path: ['captureMode'], flag: '--capture-mode', valueName: '<mode>', group: 'probe', label: 'capture mode', consumer: 'rank', type: 'choice', choices: CAPTURE_MODES, default: 'global', schemaDef: 'captureMode',
    description: 'stream capture mode',
  },
  {
    path: ['memorySaverRegion'], flag: '--memory-saver-region', valueName: '<mode>', group: 'probe', label: 'memory-saver region', consumer: 'rank', type: 'choice', choices: MEMORY_SAVER_MODES, default: 'auto',
    schemaDef: 'memorySaverMode',
    description: "allocate graph inputs and capture inside the loaded allocator hooks' region (torch_memory_saver's preload hook, cuipc's interposer): auto = when the ranks' SGLANG_MEMORY_SAVER_CUDA_GRAPH is on, as SGLang decides",
  },
  { path: ['devices'], flag: '--devices', valueName: '<list>', group: 'probe', label: 'devices', consumer: 'coordinator', type: 'custom', jsonType: 'array', description: 'device ordinal per rank, e.g. 0,0,1,1 (default: round-robin over visible devices)' },
  {
    path: ['backend'], flag: '--backend', valueName: '<backend>', group: 'probe', label: 'backend', consumer: 'rank', type: 'choice', choices: BACKEND_CHOICES, envVariable: 'CUIPC_BACKEND',
    description: "'cuda' (a real GPU), 'sim' (the simulated device) or 'auto' (cuda when a driver is installed, else sim); default: $CUIPC_BACKEND or cuda",
  },
  { path: ['env'], flag: '--env', short: '-e', valueName: '<KEY=VALUE>', group: 'environment', label: 'env', consumer: 'rank', type: 'custom', jsonType: 'object', description: "a variable for the ranks' environment (repeatable)" },
  { path: ['timeoutMs'], flag: '--timeout', valueName: '<ms>', group: 'probe', label: 'timeout', consumer: 'coordinator', type: 'integer', min: 100, max: 3_600_000, default: 20_000, description: 'per step, in milliseconds' },
  { path: ['port'], flag: '--port', valueName: '<port>', group: 'rendezvous', label: 'port', consumer: 'coordinator', type: 'integer', min: 0, max: 65535, description: 'loopback TCP port for the rendezvous (default: an ephemeral port)' },
  { path: ['socket'], flag: '--socket', valueName: '<path>', group: 'rendezvous', label: 'socket', consumer: 'coordinator', type: 'custom', jsonType: 'string', description: 'rendezvous over this Unix socket instead of TCP' },
  {
    path: ['coordinatorHost'], flag: '--coordinator-host', valueName: '<address>', group: 'rendezvous', label: 'coordinator host', consumer: 'coordinator', type: 'custom', jsonType: 'string',
    description: 'where the TCP rendezvous listens and ranks connect (default 127.0.0.1; another address for multi-node Ray)',
  },
  {
    path: ['launcher'], flag: '--launcher', valueName: '<name>', group: 'launcher', label: 'launcher', consumer: 'coordinator', type: 'choice', choices: launcherNames, default: 'plain', schemaDef: 'launcher',
    description: 'who starts the ranks',
  },
];

/** Every row: the probe's, then each registered launcher's. */
export function probeOptionTable(): OptionSpec[] {
  return [...PROBE_OPTION_ROWS, ...launcherOptions()];
}
