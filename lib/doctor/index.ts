// `cuipc doctor`: what was loaded, which devices are there and how they map to physical
// GPUs, whether peers reach each other, and whether legacy IPC export works on each device
// (a real cudaMalloc + cudaIpcGetMemHandle, as NCCL checks it).
import type { CudaStatus, DeviceInfo, LoaderReport } from '../../binding.js';
import { openCuda, type Cuda } from '../cuda/index.js';
import { detectHazards, type Hazard } from '../env/hazards.js';

const DOCTOR_SCHEMA_VERSION = 1;

interface DeviceCheck {
  info: DeviceInfo | null;
  /** Present when the device could not be queried. */
  error?: CudaStatus;
  context: CudaStatus | null;
  legacyIpc: { works: boolean; steps: CudaStatus[] } | null;
}

/** What doctor concludes (the JSON schema's enum is held to DOCTOR_VERDICTS). */
export type DoctorVerdict = 'ok' | 'ipc-broken' | 'no-driver' | 'no-device';
export const DOCTOR_VERDICTS: readonly DoctorVerdict[] = ['ok', 'ipc-broken', 'no-driver', 'no-device'];

export interface DoctorReport {
  schemaVersion: number;
  simulated: boolean;
  loader: LoaderReport;
  versions: { driver: number | null; runtime: number | null };
  deviceCount: CudaStatus & { value?: number };
  cudaVisibleDevices: string | null;
  devices: DeviceCheck[];
  /** peer[i][j]: whether device i can access device j (null on the diagonal or on error). */
  peerAccess: Array<Array<boolean | null>>;
  hazards: Hazard[];
  verdict: DoctorVerdict;
  summary: string;
}

const PROBE_BYTES = 2 * 1024 * 1024;

async function checkDevice(cuda: Cuda, ordinal: number): Promise<DeviceCheck> {
  const info = cuda.getDeviceInfo(ordinal);
  if (!info.ok || !info.value) return { info: null, error: stripValue(info), context: null, legacyIpc: null };
  const context = await cuda.initDeviceAsync(ordinal);
  if (!context.ok) return { info: info.value, context, legacyIpc: null };
  const steps: CudaStatus[] = [];
  const allocation = cuda.malloc('device', PROBE_BYTES);
  steps.push(stripValue(allocation));
  let works = false;
  if (allocation.ok && allocation.value) {
    const handle = cuda.ipcGetMemHandle(allocation.value.ptr);
    steps.push(stripValue(handle));
    works = handle.ok;
    steps.push(cuda.free(allocation.value.ptr));
  }
  return { info: info.value, context, legacyIpc: { works, steps } };
}

function stripValue(result: CudaStatus): CudaStatus {
  const { ok, code, name, message, call } = result;
  return { ok, code, name, message, call };
}

export async function runDoctor(options: { backend?: 'cuda' | 'sim' | 'auto' } = {}): Promise<DoctorReport> {
  const cuda = openCuda(options);
  const loader = cuda.report;
  const driverVersion = cuda.driverGetVersion();
  const runtimeVersion = cuda.runtimeGetVersion();
  const deviceCount = cuda.getDeviceCount();
  const count = deviceCount.ok ? (deviceCount.value ?? 0) : 0;
  const devices: DeviceCheck[] = [];
  for (let d = 0; d < count; d++) devices.push(await checkDevice(cuda, d));
  const peerAccess: Array<Array<boolean | null>> = [];
  for (let i = 0; i < count; i++) {
    const row: Array<boolean | null> = [];
    for (let j = 0; j < count; j++) {
      if (i === j) row.push(null);
      else {
        const can = cuda.deviceCanAccessPeer(i, j);
        row.push(can.ok ? (can.value ?? false) : null);
      }
    }
    peerAccess.push(row);
  }
  const report: DoctorReport = {
    schemaVersion: DOCTOR_SCHEMA_VERSION,
    simulated: loader.simulated,
    loader,
    versions: { driver: driverVersion.ok ? (driverVersion.value ?? null) : null, runtime: runtimeVersion.ok ? (runtimeVersion.value ?? null) : null },
    deviceCount: { ...stripValue(deviceCount), value: deviceCount.value },
    cudaVisibleDevices: process.env.CUDA_VISIBLE_DEVICES ?? null,
    devices,
    peerAccess,
    hazards: detectHazards(process.env),
    verdict: 'ok',
    summary: '',
  };
  if (!loader.driver) {
    report.verdict = 'no-driver';
    report.summary = 'No CUDA driver was found (libcuda.so.1): this machine cannot run CUDA programs. Use --backend sim to see what cuipc does without a GPU.';
  } else if (!loader.runtime) {
    report.verdict = 'no-driver';
    report.summary = 'A CUDA driver was found but no CUDA runtime (libcudart.so.13 or .12); set CUIPC_LIBCUDART to the one your application uses.';
  } else if (count === 0) {
    report.verdict = 'no-device';
    report.summary = `The driver and runtime loaded, but no device is visible (${deviceCount.name}: ${deviceCount.message}).` +
      (process.env.CUDA_VISIBLE_DEVICES === ''
        ? ' CUDA_VISIBLE_DEVICES is set but empty, which hides every device: unset it or name the devices (CUDA_VISIBLE_DEVICES=0,1).'
        : process.env.CUDA_VISIBLE_DEVICES !== undefined ? ` CUDA_VISIBLE_DEVICES is '${process.env.CUDA_VISIBLE_DEVICES}'.` : '');
  } else if (devices.some((d) => !d.legacyIpc?.works)) {
    report.verdict = 'ipc-broken';
    report.summary = 'Legacy CUDA IPC export does not work on every device (see the device rows).';
  } else {
    report.summary = `${count} device(s); legacy IPC export works on each.`;
  }
  return report;
}

/** 0 all fine, 1 a check failed or a [high] hazard is in the environment, 3 nothing could be checked (no driver or no device). */
export function doctorExitCode(report: DoctorReport): number {
  if (report.verdict === 'ok') return highHazards(report).length > 0 ? 1 : 0;
  return report.verdict === 'ipc-broken' ? 1 : 3;
}

function highHazards(report: DoctorReport): DoctorReport['hazards'] {
  return report.hazards.filter((h) => h.severity === 'high');
}

/** The line doctor opens with, and what to change (the hazards' remedies; the simulated device without a GPU). */
export function doctorAnswer(report: DoctorReport): { headline: string; fix: string[] } {
  const high = highHazards(report);
  const fix = [...new Set(high.flatMap((h) => (h.remedy ? [h.remedy] : [`remove ${h.variable} from the launch environment`])))];
  if (report.verdict === 'no-driver' || report.verdict === 'no-device') {
    return { headline: `COULD NOT CHECK: ${report.summary}`, fix: [...fix, 'no GPU here? cuipc runs on its simulated device: --backend sim (or CUIPC_BACKEND=sim)'] };
  }
  if (report.verdict === 'ipc-broken') {
    const broken = report.devices.flatMap((d, i) => (d.legacyIpc && !d.legacyIpc.works ? [i] : []));
    const step = report.devices[broken[0]]?.legacyIpc?.steps.find((x) => !x.ok);
    return { headline: `FAILED: legacy IPC export fails on device(s) ${broken.join(', ')}${step ? ` (${step.call} -> ${step.code} ${step.name})` : ''}`, fix };
  }
  if (high.length > 0) {
    const h = high[0];
    return { headline: `HAZARD [high]: ${h.variable}=${h.value}: ${h.effect}${high.length > 1 ? ` (+${high.length - 1} more [high])` : ''}`, fix };
  }
  return { headline: `OK: ${report.summary}`, fix };
}

function versionText(v: number | null | undefined): string {
  return v ? `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}` : 'unknown';
}

export function renderDoctor(report: DoctorReport): string {
  const out: string[] = [];
  if (report.simulated) out.push('*** SIMULATED DEVICE -- not a GPU; answers follow recorded H200 behaviour ***', '');
  const answer = doctorAnswer(report);
  out.push(answer.headline);
  if (answer.fix.length) out.push('Fix:', ...answer.fix.map((f) => `  - ${f}`));
  out.push('');
  const l = report.loader;
  out.push('Libraries');
  out.push(`  driver   ${l.driver ? `${l.driver.path} (CUDA ${versionText(l.driver.version)}, via ${l.driver.source})` : 'NOT FOUND'}`);
  if (!l.driver) for (const a of l.attempts.driver) out.push(`           tried ${a.candidate} [${a.source}]: ${a.error ?? 'loaded'}`);
  out.push(`  runtime  ${l.runtime ? `${l.runtime.path} (CUDA ${versionText(l.runtime.version)}, via ${l.runtime.source})` : 'NOT FOUND'}`);
  if (!l.runtime) for (const a of l.attempts.runtime) out.push(`           tried ${a.candidate} [${a.source}]: ${a.error ?? 'loaded'}`);
  if (l.driverInit && !l.driverInit.ok) out.push(`  cuInit   ${l.driverInit.code} ${l.driverInit.name}: ${l.driverInit.message}`);
  for (const s of l.allocation) {
    out.push(`  ${s.symbol.padEnd(8)} ${s.path || 'unresolved'}${s.interposed ? '  <-- INTERPOSED: not the runtime; allocations go through this library' : ''}`);
  }
  out.push(`  kernels  ${l.kernels.available ? 'available' : 'unavailable'}: ${l.kernels.reason}`);
  out.push('');
  out.push(`Devices (CUDA_VISIBLE_DEVICES=${report.cudaVisibleDevices ?? '<unset>'})`);
  if (report.devices.length === 0) out.push(`  none: ${report.deviceCount.code} ${report.deviceCount.name}: ${report.deviceCount.message}`);
  for (const [ordinal, d] of report.devices.entries()) {
    if (!d.info) {
      out.push(`  [${ordinal}] could not be queried: ${d.error?.call} -> ${d.error?.code} ${d.error?.name}`);
      continue;
    }
    const i = d.info;
    out.push(`  [${ordinal}] ${i.name}  ${i.uuid}  pci ${i.pciBusId}  sm_${i.computeCapability.join('')}  vmm=${i.vmmSupported ? 'yes' : 'no'} posix-fd=${i.posixFdHandleSupported ? 'yes' : 'no'}`);
    if (d.context && !d.context.ok) out.push(`      context: ${d.context.code} ${d.context.name}: ${d.context.message}`);
    if (d.legacyIpc) {
      const failed = d.legacyIpc.steps.find((s) => !s.ok);
      out.push(`      legacy IPC export (cudaMalloc + cudaIpcGetMemHandle): ${d.legacyIpc.works ? 'works' : `FAILS at ${failed?.call}: ${failed?.code} ${failed?.name} (${failed?.message})`}`);
    }
  }
  if (report.peerAccess.length > 1) {
    out.push('', 'Peer access (row can access column)');
    out.push('      ' + report.peerAccess.map((_, j) => String(j).padStart(4)).join(''));
    for (const [i, row] of report.peerAccess.entries()) {
      out.push(`  ${String(i).padStart(3)} ` + row.map((v) => (v === null ? '   -' : v ? ' yes' : '  no')).join(''));
    }
  }
  if (report.hazards.length > 0) {
    out.push('', 'Launch-environment hazards');
    for (const h of report.hazards) out.push(`  [${h.severity}] ${h.variable}=${h.value}: ${h.effect}`, `         evidence: ${h.evidence}`);
  }
  out.push('', report.summary);
  return out.join('\n');
}
