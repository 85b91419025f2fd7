// The library API: `probe` and `matrix` for test harnesses, `cuda` for the typed low-level
// calls, `doctor` and `env` for the environment, `bisect` for which environment difference breaks a probe.
export { openCuda, resolveBackend, IPC_MEM_LAZY_ENABLE_PEER_ACCESS, IPC_HANDLE_BYTES } from './cuda/index.js';
export type { Cuda } from './cuda/index.js';
export type * from '../binding.js';
export { CuipcLoadError } from './binding/native.js';
export { runDoctor, renderDoctor, type DoctorReport } from './doctor/index.js';
export {
  probe,
  matrix,
  renderProbeReport,
  renderMatrixReport,
  ProbeUsageError,
  PROBE_DEFAULTS,
  MAX_RANKS,
} from './probe/index.js';
export type * from './probe/index.js';
export { bisect, renderBisect, HELD_FIXED_BY_DEFAULT } from './bisect/index.js';
export type * from './bisect/index.js';
