// Every CUIPC_* environment variable, in one list: its name, who sets it, which part of cuipc
// reads it and what it does. README's "Environment variables" table is this list rendered
// (test/env/variables.test.ts holds the two together, and holds the list to the sources).
type VariableSetter = 'you' | 'cuipc' | 'tests';

interface CuipcVariable {
  name: `CUIPC_${string}`;
  /** 'you': a setting; 'cuipc': set by cuipc for a process it starts (do not set it); 'tests': the test suite's. */
  setBy: VariableSetter;
  /** The folders or files that read it. */
  readBy: readonly string[];
  does: string;
}

export const CUIPC_VARIABLES: readonly CuipcVariable[] = [
  { name: 'CUIPC_BACKEND', setBy: 'you', readBy: ['lib/cuda', 'lib/probe', 'bench'], does: "`cuda` (a real GPU), `sim` (the simulated device) or `auto` (cuda when a driver is installed, else sim) where no `--backend` or `backend` option is given" },
  { name: 'CUIPC_ADDON', setBy: 'you', readBy: ['lib/binding'], does: "the path of the Node-API addon to load instead of the local build or the platform package's prebuild" },
  { name: 'CUIPC_LIBCUDA', setBy: 'you', readBy: ['lib/binding'], does: 'the CUDA driver library to try first (`libcuda.so.1`)' },
  { name: 'CUIPC_LIBCUDART', setBy: 'you', readBy: ['lib/binding', 'native/interposer'], does: 'the CUDA runtime library to try first (`libcudart.so.13` or `.12`), for the addon and for the VMM interposer' },
  { name: 'CUIPC_SIM_LIBRARY', setBy: 'you', readBy: ['lib/binding'], does: 'the simulated device library (`libcuipc_sim.so`) to load for `--backend sim`' },
  { name: 'CUIPC_SIM_DEVICES', setBy: 'you', readBy: ['native/sim', 'lib/launch', 'python/cuipc_ray'], does: 'how many simulated devices there are (default 1); a local Ray cluster declares as many GPUs' },
  { name: 'CUIPC_SIM_PEER', setBy: 'you', readBy: ['native/sim'], does: 'which simulated devices have peer access: `all` (default), `none`, or pairs such as `0-1`' },
  { name: 'CUIPC_SIM_FAULT', setBy: 'you', readBy: ['native/sim'], does: 'faults the simulated device injects, e.g. `cudaIpcOpenMemHandle@2#1=kill`, to test the layers above' },
  { name: 'CUIPC_INTERPOSER_REGION', setBy: 'you', readBy: ['native/interposer'], does: "`all`: cuipc's VMM interposer serves every cudaMalloc, not only inside its region" },
  { name: 'CUIPC_INTERPOSER_HANDLE_TYPE', setBy: 'you', readBy: ['native/interposer'], does: '`fd`: the VMM interposer asks cuMemCreate for a POSIX-fd shareable handle type' },
  { name: 'CUIPC_PROBE_VERIFY', setBy: 'you', readBy: ['lib/probe'], does: '`copy`: ranks verify by copying peer inputs, as a build without kernels does, even where the kernels are available' },
  { name: 'CUIPC_RAY_STARTUP_TIMEOUT_S', setBy: 'you', readBy: ['lib/launch'], does: "seconds the Ray launcher waits for Ray to start and place the actors before `--timeout` starts counting" },
  { name: 'CUIPC_NODE', setBy: 'you', readBy: ['python/cuipc_ray'], does: '`cuipc_ray.probe()` in Python: the Node.js program that runs the probe (default: `node` on PATH)' },
  { name: 'CUIPC_CLI', setBy: 'you', readBy: ['python/cuipc_ray'], does: "`cuipc_ray.probe()` in Python: cuipc's `bin/cuipc.js` (default: `cuipc` on PATH, else the source tree the package sits in)" },
  { name: 'CUIPC_TRACE_LIBRARY', setBy: 'you', readBy: ['lib/trace'], does: '`cuipc trace`: the CUPTI injection library to use instead of the shipped one' },
  { name: 'CUIPC_LIBCUPTI', setBy: 'you', readBy: ['native/trace'], does: 'the `libcupti.so` the tracer loads (no newer than the driver)' },
  { name: 'CUIPC_TRACE_DIR', setBy: 'you', readBy: ['lib/trace', 'native/trace'], does: 'the folder traces are written to (`cuipc trace --trace-dir` sets it for the traced program)' },
  { name: 'CUIPC_TRACE_RUN', setBy: 'cuipc', readBy: ['native/trace'], does: 'the run id `cuipc trace` gives every process it traces, so their files are read together' },
  { name: 'CUIPC_FORCE_BUILD', setBy: 'you', readBy: ['scripts/install.cjs'], does: "`1`: `npm install` builds the addon from source even where the platform package's prebuild fits" },
  { name: 'CUIPC_RANK', setBy: 'cuipc', readBy: ['lib/probe', 'native/sim', 'bench'], does: "the rank a probe rank process is (the simulated device's faults can name ranks)" },
  { name: 'CUIPC_RANKS', setBy: 'cuipc', readBy: ['lib/probe'], does: 'how many ranks the probe runs' },
  { name: 'CUIPC_PROBE_ADDRESS', setBy: 'cuipc', readBy: ['lib/probe'], does: "the coordinator's address a rank connects to (`tcp:HOST:PORT` or `unix:PATH`)" },
  { name: 'CUIPC_PROBE_TOKEN', setBy: 'cuipc', readBy: ['lib/probe'], does: 'the secret a rank proves itself with to the coordinator' },
  { name: 'CUIPC_PARENT_PID', setBy: 'cuipc', readBy: ['lib/probe', 'lib/launch'], does: "the coordinator's pid, which a rank watches to leave when the coordinator is gone" },
  { name: 'CUIPC_PROBE_DEVICES', setBy: 'cuipc', readBy: ['lib/probe'], does: "each rank's device, told at spawn so that a rank starts its CUDA context while the others connect" },
  { name: 'CUIPC_RAY_GPU_IDS', setBy: 'cuipc', readBy: ['lib/probe', 'python/cuipc_ray'], does: "the GPUs Ray assigned to a rank's actor (`ray.get_gpu_ids()`), for the report" },
  { name: 'CUIPC_RAY_NODE_ID', setBy: 'cuipc', readBy: ['lib/probe', 'python/cuipc_ray'], does: "the Ray node a rank's actor runs on, for the report" },
  { name: 'CUIPC_RAY_CUDA_VISIBLE_DEVICES', setBy: 'cuipc', readBy: ['lib/probe', 'python/cuipc_ray'], does: "the actor's CUDA_VISIBLE_DEVICES as Ray set it, for the report" },
  { name: 'CUIPC_RAY_NOSET', setBy: 'cuipc', readBy: ['lib/probe', 'python/cuipc_ray'], does: 'whether RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES was set in the actor, for the report' },
  { name: 'CUIPC_BENCH_RSS_DIR', setBy: 'cuipc', readBy: ['bench'], does: "`npm run bench`: where each process it starts writes its peak memory" },
  { name: 'CUIPC_BENCH_TIMELINE_DIR', setBy: 'cuipc', readBy: ['bench'], does: '`npm run bench`: where each process of the timed probe writes when it started and each protocol line it wrote' },
  { name: 'CUIPC_BENCH_FELL_BACK', setBy: 'cuipc', readBy: ['bench'], does: '`npm run bench`: why it restarted itself on the simulated device (no GPU)' },
  { name: 'CUIPC_TEST_RAY_PYTHON', setBy: 'tests', readBy: ['test'], does: 'a Python that imports ray: the Ray tests run against real Ray' },
  { name: 'CUIPC_TEST_SLOW_EXIT_RANK', setBy: 'tests', readBy: ['test/probe'], does: 'the rank that test/probe/fixtures/slow-exit.mjs holds in its exit (the answer-first tests)' },
  { name: 'CUIPC_TEST_RELEASE', setBy: 'tests', readBy: ['test/probe'], does: 'the file whose appearance lets that rank finish exiting' },
  { name: 'CUIPC_TEST_RAY_ADDRESS', setBy: 'tests', readBy: ['test'], does: 'a Ray cluster (with at least 2 GPUs) for the real-Ray tests' },
  { name: 'CUIPC_TEST_TMS_HOOK', setBy: 'tests', readBy: ['test/gpu'], does: "the real torch_memory_saver preload library for the GPU suite's seed (else the ABI stand-in)" },
  { name: 'CUIPC_TEST_TORCH_PYTHON', setBy: 'tests', readBy: ['test/gpu'], does: 'a Python that imports torch: the GPU suite compares the probe with the PyTorch program (test/gpu/torch_share_graph_inputs.py)' },
  { name: 'CUIPC_TEST_TMS_HOOKS', setBy: 'tests', readBy: ['test/gpu'], does: 'torch_memory_saver preload libraries for the PyTorch comparison, as `release=path;release=path`' },
  { name: 'CUIPC_CROSSCHECK_TABLE', setBy: 'tests', readBy: ['test/gpu'], does: 'where the PyTorch comparison writes its agreement table (Markdown)' },
  { name: 'CUIPC_TRACE_RECORDINGS', setBy: 'tests', readBy: ['test/trace'], does: 'where the recorded-trace checks read traces (while recording on a GPU host)' },
];

const SETTERS: Record<VariableSetter, string> = { you: 'you', cuipc: 'cuipc, for a process it starts', tests: 'the test suite, or you for it' };

/** The README's table, one row per variable, in the list's order. */
export function variablesTable(): string {
  const rows = CUIPC_VARIABLES.map((v) => `| \`${v.name}\` | ${SETTERS[v.setBy]} | ${v.readBy.map((r) => `\`${r}\``).join(', ')} | ${v.does} |`);
  return ['| variable | set by | read by | what it does |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
