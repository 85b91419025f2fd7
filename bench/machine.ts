// What the figures ran on: CPU, cores, memory, and the GPUs and driver as the loader saw them
// (or "simulated device"). The section key groups results per machine kind in docs/.
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import type { Cuda } from '../dist/cuda/index.js';

export interface MachineDescription {
  simulated: boolean;
  /** docs/benchmarks.md keeps one section per key: 'simulated' or 'gpu-<name>'. */
  sectionKey: string;
  /** The section heading, e.g. "NVIDIA H200 (1 GPU)" or "SIMULATED device (no GPU)". */
  title: string;
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  gpuNames: string[];
  /** The kernel module's version (e.g. 580.159.04) when /proc says it; null otherwise. */
  driverModuleVersion: string | null;
  /** cuDriverGetVersion and cudaRuntimeGetVersion as "13.0"; null when unknown. */
  driverApiVersion: string | null;
  runtimeVersion: string | null;
  node: string;
}

function cudaVersion(value: number | undefined): string | null {
  if (!value) return null;
  return `${Math.floor(value / 1000)}.${Math.floor((value % 1000) / 10)}`;
}

function nvidiaModuleVersion(): string | null {
  try {
    const text = readFileSync('/proc/driver/nvidia/version', 'utf8');
    const match = /Kernel Module(?:\s+for\s+\S+)?\s+(\d+\.\d+(?:\.\d+)?)/.exec(text);
    return match ? match[1] : null;
  } catch {
    return null;
  }
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

export function describeMachine(cuda: Cuda): MachineDescription {
  const simulated = cuda.report.simulated;
  const gpuNames: string[] = [];
  const count = cuda.getDeviceCount();
  if (count.ok && count.value) {
    for (let ordinal = 0; ordinal < count.value; ordinal++) {
      const info = cuda.getDeviceInfo(ordinal);
      gpuNames.push(info.ok && info.value ? info.value.name : `device ${ordinal} (${info.name})`);
    }
  }
  const cpuList = cpus();
  const distinct = [...new Set(gpuNames)];
  const gpuLabel = distinct.length === 0 ? 'no GPU visible' : distinct.join(' + ');
  return {
    simulated,
    sectionKey: simulated ? 'simulated' : `gpu-${slug(gpuLabel)}`,
    title: simulated ? 'SIMULATED device (no GPU; CPU and process overhead only)' : `${gpuLabel} (${gpuNames.length} GPU${gpuNames.length === 1 ? '' : 's'})`,
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown CPU',
    cores: cpuList.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    gpuNames,
    driverModuleVersion: simulated ? null : nvidiaModuleVersion(),
    driverApiVersion: cudaVersion(cuda.report.driver?.version),
    runtimeVersion: cudaVersion(cuda.report.runtime?.version),
    node: process.version,
  };
}

/** One line for the docs and the terminal. */
export function machineLine(machine: MachineDescription): string {
  const cpu = `${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB`;
  if (machine.simulated) {
    return `CPU ${cpu}; GPU: none, SIMULATED device (libcuipc_sim, reports CUDA ${machine.driverApiVersion ?? '?'}); Node ${machine.node}`;
  }
  const driver = [machine.driverModuleVersion ? `driver ${machine.driverModuleVersion}` : null, machine.driverApiVersion ? `CUDA driver API ${machine.driverApiVersion}` : null]
    .filter((part) => part !== null)
    .join(', ');
  const gpus = machine.gpuNames.length ? machine.gpuNames.map((name, i) => `${i}: ${name}`).join('; ') : 'none visible';
  return `CPU ${cpu}; GPUs ${gpus}; ${driver || 'driver version unknown'}; runtime ${machine.runtimeVersion ?? 'unknown'}; Node ${machine.node}`;
}
