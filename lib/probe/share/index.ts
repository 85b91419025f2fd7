// One row per --share strategy: the module that does its part of each step.
import type { ShareStrategy } from '../../model/vocabulary.js';
import { copyStrategy } from './copy.js';
import { ipcStrategy } from './ipc.js';
import type { ShareStrategyModule } from './strategy.js';
import { vmmExportStrategy } from './vmm-export.js';

export type { InputLocator, InputRanges, ShareContext, ShareStrategyModule } from './strategy.js';

const STRATEGIES: Record<ShareStrategy, () => ShareStrategyModule> = {
  ipc: ipcStrategy,
  copy: copyStrategy,
  'vmm-export': vmmExportStrategy,
};

/** A fresh strategy for one rank (strategies hold what they opened, for teardown). */
export function shareStrategy(share: ShareStrategy): ShareStrategyModule {
  return STRATEGIES[share]();
}
