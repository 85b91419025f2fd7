// The launchers cuipc ships, registered by importing their modules; the probe imports this
// once, so a launcher is available by name wherever probe options are read.
import './plain.js';
import './ray.js';

export { getLauncher, launcherNames, launcherOptions, registerLauncher, type LauncherDefinition } from './registry.js';
