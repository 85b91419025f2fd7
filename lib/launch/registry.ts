// Launchers by name (as torch.distributed.elastic registers rendezvous handlers): each one
// declares its own options, checks them into settings, says how its ranks get devices, describes
// itself for the report and starts the ranks. The probe looks a launcher up by the name the
// user gave; nothing above this layer knows what Ray or the plain launcher need. Adding a
// launcher is one file that calls registerLauncher (and an import where it should be built in).
import type { LaunchSettings } from '../report/types.js';
import type { OptionSpec } from '../model/option-spec.js';
import type { LaunchSpec, RankLauncher, RankProgram } from './launcher.js';

/** What the report records of a launch beyond the launcher's name. */
export type LaunchDescription = Pick<LaunchSettings, 'visibility' | 'ray' | 'envSnapshot'>;

export interface LauncherDefinition<Settings extends object = object> {
  readonly name: string;
  /** One line for --help. */
  readonly summary: string;
  /** Its own options (their rows' consumer is `launcher:<name>`). */
  readonly options: readonly OptionSpec[];
  /**
   * true: the coordinator counts the devices it sees and assigns one per rank (--devices);
   * false: the launch places the ranks and each learns its device from its placement.
   */
  readonly coordinatorAssignsDevices: boolean;
  /**
   * The environment whose devices the coordinator counts and assigns from, when the ranks see
   * other devices than this process (a replayed snapshot); absent or null: this process's.
   */
  deviceView?(settings: Settings): Record<string, string | undefined> | null;
  /**
   * Checks its settings. `given` maps each of its options' library name to the checked value
   * (undefined: not given); custom rows are checked here. Throws LaunchUsageError when the
   * launch cannot be made as asked.
   */
  resolve(given: Readonly<Record<string, unknown>>, context: { devicesGiven: boolean }): Settings;
  describe(settings: Settings): LaunchDescription;
  /** `devices`: per rank, the ordinal the coordinator assigned (zeros when it assigns none). */
  create(spec: LaunchSpec, settings: Settings, devices: number[], program: RankProgram): RankLauncher;
}

const launchers = new Map<string, LauncherDefinition>();

export function registerLauncher<Settings extends object>(definition: LauncherDefinition<Settings>): void {
  if (!/^[a-z][a-z0-9-]*$/.test(definition.name)) throw new TypeError(`a launcher's name is lower-case letters, digits and '-', got '${definition.name}'`);
  if (launchers.has(definition.name)) throw new TypeError(`a launcher named '${definition.name}' is registered already`);
  for (const spec of definition.options) {
    if (spec.consumer !== `launcher:${definition.name}`) throw new TypeError(`option ${spec.path.join('.')} of launcher '${definition.name}' must say consumer 'launcher:${definition.name}'`);
  }
  launchers.set(definition.name, definition as unknown as LauncherDefinition);
}

export function launcherNames(): string[] {
  return [...launchers.keys()];
}

export function getLauncher(name: string): LauncherDefinition {
  const found = launchers.get(name);
  if (!found) throw new TypeError(`no launcher named '${name}' is registered (${launcherNames().join(', ')})`);
  return found;
}

/** Every registered launcher's options, in registration order. */
export function launcherOptions(): OptionSpec[] {
  return [...launchers.values()].flatMap((l) => l.options);
}
