// The init step: load the backend (or take what prestart began), choose the share strategy
// and the memory-saver region, set the device and create its context. What it finds (device,
// loader, environment hazards) goes to the coordinator for the report.
import { readlinkSync } from 'node:fs';
import { openCuda } from '../../cuda/index.js';
import { detectHazards } from '../../env/hazards.js';
import type { RankLoader } from '../../report/types.js';
import { pseudoStatus } from '../call-recorder.js';
import type { EarlyInit } from '../early-init.js';
import { decideMemorySaverRegion } from '../memory-saver.js';
import { LOAD_CALL, type InitData, type RankConfig, type RoundData } from '../protocol.js';
import { shareStrategy } from '../share/index.js';
import type { SessionState } from './state.js';

/** `prestarted`: what RankSession.prestart() began before this round (early-init.ts). */
export async function init(state: SessionState, config: RankConfig, prestarted: EarlyInit | null): Promise<RoundData> {
  state.config = config;
  state.strategy = shareStrategy(config.share);
  const init: InitData = { pid: process.pid, device: null, loader: null, hazards: hazards(state), memorySaver: null };
  // What prestart() began counts only when it is what this round asks for.
  const early = prestarted && prestarted.backend === config.backend ? prestarted : null;
  const made = early && early.device === config.device ? early : null;
  try {
    if (early?.loadError) throw early.loadError;
    state.cuda = early?.cuda ?? openCuda({ backend: config.backend });
  } catch (error) {
    state.rec.fail('openCuda', { backend: config.backend }, pseudoStatus(LOAD_CALL, (error as Error).name, (error as Error).message), {
      detail: (error as Error).message,
    });
    return { kind: 'init', init };
  }
  const cuda = state.cuda;
  const report = cuda.report;
  const available = cuda.kernelsAvailable();
  // CUIPC_PROBE_VERIFY=copy takes the path a build without kernels takes, to compare or to test it.
  const kernels = process.env.CUIPC_PROBE_VERIFY === 'copy' && available.available
    ? { available: false, reason: 'disabled by CUIPC_PROBE_VERIFY=copy' }
    : available;
  state.kernels = kernels.available;
  const loader: RankLoader = {
    backend: report.backend,
    simulated: report.simulated,
    driver: report.driver?.path ?? null,
    runtime: report.runtime?.path ?? null,
    allocation: report.allocation,
    kernels,
  };
  init.loader = loader;
  // Decided from the rank's own environment, as SGLang decides in its scheduler process.
  state.memorySaver = decideMemorySaverRegion(config.memorySaverRegion, process.env, cuda.allocatorHooks());
  init.memorySaver = state.memorySaver;
  if (!kernels.available) state.rec.note(`kernels unavailable (${kernels.reason}): replay fills with copies and verify reads peers' inputs with copies`);
  const device = config.device;
  const set = made?.set;
  if (!(await state.rec.call('cudaSetDevice', 'setDevice', { device }, () => set ?? cuda.setDevice(device), {}, set ? made : undefined)).ok) return { kind: 'init', init };
  const context = made?.context;
  if (!(await state.rec.call('cudaFree', 'initDeviceAsync', { device }, () => context ?? cuda.initDeviceAsync(device))).ok) return { kind: 'init', init };
  const info = await state.rec.call('cudaGetDeviceProperties', 'getDeviceInfo', { device }, () => cuda.getDeviceInfo(device));
  if (info.ok && info.value) {
    init.device = { ordinal: info.value.ordinal, uuid: info.value.uuid, pciBusId: info.value.pciBusId, name: info.value.name };
  }
  return { kind: 'init', init };
}

function hazards(state: SessionState): InitData['hazards'] {
  let pidNamespace: string | null = null;
  try {
    pidNamespace = readlinkSync('/proc/self/ns/pid');
  } catch {
    // not Linux, or /proc is hidden
  }
  try {
    return detectHazards(process.env, { pidNamespace });
  } catch (error) {
    state.rec.note(`environment hazards could not be read: ${(error as Error).message}`);
    return [];
  }
}
