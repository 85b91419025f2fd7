// Which backend a process loads, decided in one place: the caller's option, else
// CUIPC_BACKEND, else a default ('cuda' for the library and the probe; a caller such as the
// benchmark may pass 'auto'). 'auto' is 'cuda' when a driver library is where the loader will
// look, else 'sim'; everything from 'sim' says SIMULATED.
import { existsSync, readFileSync } from 'node:fs';
import type { Backend } from '../../binding.js';
import { driverCandidates } from './search.js';

export const BACKEND_CHOICES = ['cuda', 'sim', 'auto'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** The backend asked for, and where the request came from. */
export interface BackendRequest {
  choice: BackendChoice;
  from: 'option' | 'CUIPC_BACKEND' | 'default';
}

/** The option, else CUIPC_BACKEND, else `fallback`; a value that is no backend is a RangeError naming where it came from. */
export function requestedBackend(
  explicit: string | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
  fallback: BackendChoice = 'cuda',
): BackendRequest {
  const from: BackendRequest['from'] = explicit !== undefined ? 'option' : env.CUIPC_BACKEND !== undefined ? 'CUIPC_BACKEND' : 'default';
  const value = explicit ?? env.CUIPC_BACKEND ?? fallback;
  if (!(BACKEND_CHOICES as readonly string[]).includes(value)) {
    throw new RangeError(`backend must be 'cuda', 'sim' or 'auto' (from ${from === 'option' ? 'the option' : from}), got '${value}'`);
  }
  return { choice: value as BackendChoice, from };
}

/** Whether a CUDA driver library is where the loader will look (without loading it). */
export function driverLibraryPresent(): boolean {
  for (const { candidate } of driverCandidates()) {
    if (candidate.includes('/')) {
      if (existsSync(candidate)) return true;
    } else {
      try {
        if (readFileSync('/etc/ld.so.cache').includes(candidate)) return true;
      } catch {
        // no linker cache: rely on the explicit paths
      }
    }
  }
  return false;
}

/** 'auto' decided: 'cuda' with a driver library present, else 'sim'. */
export function concreteBackend(choice: BackendChoice): Backend {
  return choice === 'auto' ? (driverLibraryPresent() ? 'cuda' : 'sim') : choice;
}

/** 'cuda' or 'sim' from the option, else CUIPC_BACKEND, else 'cuda'; 'auto' decided as above. */
export function resolveBackend(explicit?: string): Backend {
  return concreteBackend(requestedBackend(explicit).choice);
}
