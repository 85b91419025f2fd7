// The environment a rank process should get to reproduce a captured launch environment.
import { REDACTED, type EnvSnapshot } from './capture.js';
import { isRayAssigned } from './visibility.js';

// A rank cannot start without these; a snapshot that lacks them (or redacted them) gets this process's.
const ALWAYS_KEPT = ['PATH', 'HOME'];

/**
 * The captured variables, as captured. A redacted value is replaced by this process's value of the
 * same variable when it has one (secrets are never stored, so the rank gets the live one), otherwise
 * the variable is left out. Variables this process has and the snapshot lacks are not added, except
 * PATH and HOME: the point is to reproduce the captured launch, LD_PRELOAD and allocator settings
 * included or excluded exactly as captured. A CUDA_VISIBLE_DEVICES that Ray assigned (the
 * actor's GPU) is left out: the launcher gives each rank one device instead (replayVisibility).
 */
export function environmentForReplay(snapshot: EnvSnapshot, current: Record<string, string | undefined> = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(snapshot.environment)) {
    // Credentials inside URLs are redacted in place; such a value is as unusable as a redacted one.
    if (!value.includes(REDACTED)) {
      env[name] = value;
      continue;
    }
    const live = current[name];
    if (live !== undefined) env[name] = live;
  }
  if (isRayAssigned(snapshot.visibility, snapshot.environment)) delete env.CUDA_VISIBLE_DEVICES;
  for (const name of ALWAYS_KEPT) {
    const live = current[name];
    if (env[name] === undefined && live !== undefined) env[name] = live;
  }
  return env;
}

/**
 * The visibility a replay of `snapshot` gives its ranks: 'per-rank' (one device each, as Ray
 * assigns) when Ray chose the captured process's devices, else `asked`.
 */
export function replayVisibility<V extends string>(snapshot: EnvSnapshot | null, asked: V): V | 'per-rank' {
  return snapshot !== null && isRayAssigned(snapshot.visibility, snapshot.environment) ? 'per-rank' : asked;
}
