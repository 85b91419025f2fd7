#!/usr/bin/env node
// Start-up time: a probe pays two Node start-ups before a rank can create its context (the
// coordinator's, then each rank's), and with the module tree each of them also resolves,
// reads and links some sixty ES modules. The two programs a probe starts are therefore also
// built as one file each, from the compiled tree in dist/ (tsc has checked it):
//   dist/bundle/cli.js   what bin/cuipc.js runs
//   dist/bundle/rank.js  what the coordinator spawns as a rank
// The library entry (dist/index.js) stays a module tree. The bundles sit two levels below the
// package root, as every dist/<concern>/<file>.js does, so the paths those files compute from
// import.meta.url (the addon, the schemas, package.json, the Python payload) stay right.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The programs and the file each becomes. */
const BUNDLES = [
  { entry: 'dist/cli/main.js', out: 'dist/bundle/cli.js' },
  { entry: 'dist/probe/rank.js', out: 'dist/bundle/rank.js' },
];

for (const { entry, out } of BUNDLES) {
  await build({
    absWorkingDir: root,
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    // Dependencies written as CommonJS (commander) call require() for Node's own modules; an ES
    // module has no require, so the bundle makes one.
    banner: { js: "import { createRequire as __cuipcCreateRequire } from 'node:module';\nconst require = __cuipcCreateRequire(import.meta.url);" },
    // The addon and JSON read at run time are found from import.meta.url, not bundled.
    logLevel: 'warning',
    legalComments: 'none',
  });
}
