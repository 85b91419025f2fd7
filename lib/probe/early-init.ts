// Start-up overlap: the coordinator tells each rank at spawn which device its init round will
// name, so that a rank can load the backend and start creating its context as soon as its
// hello is welcomed, while the other ranks are still starting (context creation is the longest
// part of init, and one GPU's driver creates contexts one at a time). The init round still makes
// and records every call; it finds them under way or done.
import type { Backend, CudaStatus } from '../../binding.js';
import { openCuda, type Cuda } from '../cuda/index.js';
import type { Announce, Returned } from './call-recorder.js';

/** Comma-separated device ordinals, one per rank, as the launcher's deviceFor gives them. */
export const DEVICES_HINT_ENV = 'CUIPC_PROBE_DEVICES';

/** The hinted device of `rank`, or undefined when there is no usable hint. */
export function deviceHint(env: Record<string, string | undefined>, rank: number): number | undefined {
  const entry = env[DEVICES_HINT_ENV]?.split(',')[rank];
  if (entry === undefined || !/^\d+$/.test(entry)) return undefined;
  return Number(entry);
}

export function devicesHint(devices: number[]): Record<string, string> {
  return { [DEVICES_HINT_ENV]: devices.join(',') };
}

/** What a rank began before its init round: the backend, and the context on the hinted device. */
export interface EarlyInit {
  backend: Backend;
  cuda: Cuda | null;
  loadError: Error | null;
  device: number | null;
  /** The last-error slot before cudaSetDevice, as init would have read it. */
  before?: CudaStatus;
  set: CudaStatus | null;
  context: Promise<CudaStatus> | null;
}

/**
 * Loads the backend and, given a device, makes init's first two calls (cudaSetDevice, then
 * cudaFree(0) on a worker thread), announced as init's so a hang here reads as a hang in init.
 * Nothing when the backend is not named: the init round then does it all.
 */
export function startEarly(backend: string | undefined, device: number | undefined, announce: Announce, returned: Returned): EarlyInit | null {
  if (backend !== 'cuda' && backend !== 'sim') return null;
  const early: EarlyInit = { backend, cuda: null, loadError: null, device: device ?? null, set: null, context: null };
  try {
    early.cuda = openCuda({ backend });
  } catch (error) {
    early.loadError = error as Error;
    return early;
  }
  if (device === undefined) return early;
  const cuda = early.cuda;
  announce('init', 'cudaSetDevice', 'setDevice', { device });
  early.before = cuda.peekAtLastError();
  early.set = cuda.setDevice(device);
  if (!early.set.ok) {
    returned('init', 'cudaSetDevice');
    return early;
  }
  announce('init', 'cudaFree', 'initDeviceAsync', { device });
  early.context = cuda.initDeviceAsync(device);
  // Registered before the init round can await it, so the coordinator hears of the return
  // before any line the round writes after it.
  const done = (): void => returned('init', 'cudaFree');
  void early.context.then(done, done);
  return early;
}
