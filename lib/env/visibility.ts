// Which devices a captured process saw, and who chose them. Inside a Ray actor
// CUDA_VISIBLE_DEVICES is the actor's GPU, chosen by Ray: replaying that literal ordinal in
// another process means nothing (issue 21), so a snapshot records where its visibility came from
// and a replay gives each rank the same kind of visibility (one device per rank) instead.

/** A snapshot's device visibility and the launch context that chose it. */
export interface SnapshotVisibility {
  /** CUDA_VISIBLE_DEVICES as the process had it; null when unset. */
  cudaVisibleDevices: string | null;
  /** 'ray': Ray assigned this worker its GPUs (one view per process); 'environment': set as the environment says. */
  assignedBy: 'ray' | 'environment';
  /** The Ray worker the process was (or ran under); null outside Ray. */
  ray: RayContext | null;
}

export interface RayContext {
  jobId: string | null;
  /** Ray's node id, where the capture could ask Ray (the Python capture in an actor). */
  nodeId: string | null;
  /** ray.get_gpu_ids(), where the capture could ask Ray. */
  gpuIds: string[] | null;
  /** RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES: Ray left every GPU visible. */
  noset: boolean;
}

const NOSET = 'RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES';
/** Variables Ray sets in every worker process it starts (and its children inherit). */
const RAY_WORKER_MARKS = ['RAY_RAYLET_PID', 'RAY_JOB_ID'];
/** Set by python/cuipc_ray for a probe rank in an actor: the actor's own CUDA_VISIBLE_DEVICES. */
const CUIPC_RAY_VISIBLE = 'CUIPC_RAY_CUDA_VISIBLE_DEVICES';

/** The visibility of a process with environment `env`; `ray` adds what only Ray itself can tell. */
export function visibilityOf(env: Readonly<Record<string, string | undefined>>, ray: Partial<RayContext> = {}): SnapshotVisibility {
  const cvd = env.CUDA_VISIBLE_DEVICES ?? null;
  const inRay = RAY_WORKER_MARKS.some((m) => (env[m] ?? '') !== '') || env[CUIPC_RAY_VISIBLE] !== undefined || ray.nodeId != null;
  if (!inRay) return { cudaVisibleDevices: cvd, assignedBy: 'environment', ray: null };
  const noset = ray.noset ?? ((env[NOSET] ?? '') !== '' && env[NOSET] !== '0');
  const context: RayContext = { jobId: ray.jobId ?? env.RAY_JOB_ID ?? null, nodeId: ray.nodeId ?? null, gpuIds: ray.gpuIds ?? null, noset };
  // Ray narrows CUDA_VISIBLE_DEVICES to the worker's GPUs unless NOSET; a worker without GPUs keeps what it inherited.
  const rayChose = cvd !== null && !noset && (context.gpuIds === null || context.gpuIds.length > 0);
  return { cudaVisibleDevices: cvd, assignedBy: rayChose ? 'ray' : 'environment', ray: context };
}

/** Whether a snapshot's CUDA_VISIBLE_DEVICES only says "the GPU Ray gave this actor". */
export function isRayAssigned(visibility: SnapshotVisibility | undefined, environment: Readonly<Record<string, string>>): boolean {
  return (visibility ?? visibilityOf(environment)).assignedBy === 'ray';
}

/** Checks a parsed `visibility` field (a snapshot read back); undefined when absent or malformed. */
export function parseVisibility(v: unknown): SnapshotVisibility | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (o.assignedBy !== 'ray' && o.assignedBy !== 'environment') return undefined;
  const str = (x: unknown): string | null => (typeof x === 'string' ? x : null);
  let ray: RayContext | null = null;
  if (typeof o.ray === 'object' && o.ray !== null) {
    const r = o.ray as Record<string, unknown>;
    ray = {
      jobId: str(r.jobId), nodeId: str(r.nodeId),
      gpuIds: Array.isArray(r.gpuIds) ? r.gpuIds.filter((g): g is string => typeof g === 'string') : null,
      noset: r.noset === true,
    };
  }
  return { cudaVisibleDevices: str(o.cudaVisibleDevices), assignedBy: o.assignedBy, ray };
}
