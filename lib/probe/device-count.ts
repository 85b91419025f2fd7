// How many CUDA devices this process would see, read from the NVIDIA kernel driver's own
// listing instead of by loading CUDA. The coordinator needs only the count (to place ranks and
// check --devices); loading the driver for it cost an H200 coordinator 0.15-0.24 s of cuInit
// before any rank could start, and a driver teardown when it exits. Every rank still loads
// CUDA and makes every call itself.
//
// The answer is given only where it is exact: each GPU in /proc/driver/nvidia/gpus counts when
// its /dev/nvidia<minor> node exists (a container sees only its own), CUDA_VISIBLE_DEVICES as a
// list of distinct in-range ordinals narrows it. Anything else (no listing, no GPU, an
// excluded GPU, MIG instances, UUIDs or MIG names, an out-of-range or repeated entry, an
// empty list) answers null, and the caller asks CUDA as before. Not seen from here: a GPU in
// MIG mode with no instance yet (CUDA sees none; its rank then fails in init and says so).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** GPU instances (capabilities/gpu<N>/mig/gi<M>) exist only on a GPU in MIG mode. */
function hasMigInstances(root: string): boolean {
  const capabilities = join(root, 'proc', 'driver', 'nvidia', 'capabilities');
  let gpus: string[];
  try {
    gpus = readdirSync(capabilities).filter((name) => name.startsWith('gpu'));
  } catch {
    return false;
  }
  for (const gpu of gpus) {
    try {
      if (readdirSync(join(capabilities, gpu, 'mig')).some((name) => name.startsWith('gi'))) return true;
    } catch {
      // no mig folder: not MIG-capable
    }
  }
  return false;
}

export function countDevicesWithoutCuda(env: Record<string, string | undefined>, root = '/'): number | null {
  const listing = join(root, 'proc', 'driver', 'nvidia', 'gpus');
  let gpus: string[];
  try {
    gpus = readdirSync(listing);
  } catch {
    return null;
  }
  // MIG instances are CUDA devices of their own; their count is CUDA's to give.
  if (hasMigInstances(root)) return null;
  let present = 0;
  for (const gpu of gpus) {
    let information: string;
    try {
      information = readFileSync(join(listing, gpu, 'information'), 'utf8');
    } catch {
      return null;
    }
    const minor = /^Device Minor:\s*(\d+)\s*$/m.exec(information);
    // An excluded GPU (NVreg_ExcludedGpus) is one CUDA does not enumerate.
    if (!minor || /^GPU Excluded:\s*Yes/m.test(information)) return null;
    if (existsSync(join(root, 'dev', `nvidia${minor[1]}`))) present += 1;
  }
  if (present === 0) return null;
  const visible = env.CUDA_VISIBLE_DEVICES;
  if (visible === undefined) return present;
  const entries = visible.split(',').map((entry) => entry.trim());
  const seen = new Set<number>();
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) return null;
    const ordinal = Number(entry);
    if (ordinal >= present || seen.has(ordinal)) return null;
    seen.add(ordinal);
  }
  return seen.size;
}

/**
 * How many devices the simulated device shows a process with environment `env`, read as
 * native/sim/devices.cc reads it (CUIPC_SIM_DEVICES, default 1, at most 64; then
 * CUDA_VISIBLE_DEVICES up to its first invalid or repeated entry). null where an entry is a UUID
 * (the simulator's own answer is needed).
 */
export function countSimulatedDevices(env: Record<string, string | undefined>): number | null {
  const raw = (env.CUIPC_SIM_DEVICES ?? '').trim();
  const physical = /^\d{1,3}$/.test(raw) ? Math.min(Number(raw), 64) : 1;
  const visible = env.CUDA_VISIBLE_DEVICES;
  if (visible === undefined) return physical;
  const seen = new Set<number>();
  for (const entry of visible.split(',').map((e) => e.trim())) {
    if (/^(GPU|SIM)-/i.test(entry)) return null;
    const ordinal = /^\d{1,3}$/.test(entry) ? Number(entry) : -1;
    if (ordinal < 0 || ordinal >= physical || seen.has(ordinal)) break;
    seen.add(ordinal);
  }
  return seen.size;
}
