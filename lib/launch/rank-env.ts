// The variables a launcher sets in each rank's environment, beside the coordinator's own
// (token, address): the launcher layer's side of the contract with the rank program, so that
// launchers need nothing from the probe above them.

/** The rank's number, 0..ranks-1. */
export const RANK_ENV = 'CUIPC_RANK';
/**
 * The pid the rank's parent must have (the plain launcher's coordinator): a rank that starts
 * after its coordinator died has been reparented already, so its own getppid() cannot tell.
 */
export const PARENT_PID_ENV = 'CUIPC_PARENT_PID';
/** Set by python/cuipc_ray for a rank it runs in a Ray actor: what Ray gave that actor. */
export const RAY_ENV = {
  gpuIds: 'CUIPC_RAY_GPU_IDS',
  nodeId: 'CUIPC_RAY_NODE_ID',
  cudaVisibleDevices: 'CUIPC_RAY_CUDA_VISIBLE_DEVICES',
  noset: 'CUIPC_RAY_NOSET',
} as const;
