#!/usr/bin/env node
// `npm pack` / `npm publish` hook: builds prebuilds/<platform>-<arch>/ (the N-API addon,
// glibc-tagged, with the simulated device, the interposer and the trace library beside it)
// from a clean build, stamps it with the native sources' fingerprint, and checks it is
// complete, so the platform package made from it (scripts/platform-package.cjs, written to
// dist/platform/ here) installs and runs with no compiler and no CUDA toolkit. cuipc's own
// tarball does not carry prebuilds/ (package.json's files). Then it compiles the TypeScript afresh (the package has no `prepare` script: npm would run it on
// every install from git). Everything it and the tools it runs print goes to stderr, so that
// `npm pack --json` prints only the JSON on stdout.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync, readdirSync, rmSync } = require('node:fs');
const path = require('node:path');
const { nativeHash, writeStamp } = require('./native-hash.cjs');

const root = path.join(__dirname, '..');
const target = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);

// Nothing stale may ship: the prebuilds are rebuilt whole, and dist/ is emptied and compiled
// afresh, without the output of sources that no longer exist.
rmSync(path.join(root, 'prebuilds'), { recursive: true, force: true });
rmSync(path.join(root, 'dist'), { recursive: true, force: true });
const prebuildify = require.resolve('prebuildify/bin.js', { paths: [root] });
const result = spawnSync(
  process.execPath,
  [prebuildify, '--napi', '--strip', '--tag-libc', '--node-gyp', path.join(__dirname, 'prebuild-with-cmake-js.cjs')],
  { cwd: root, stdio: ['ignore', 2, 2] },
);
if (result.status !== 0) {
  console.error('cuipc prepack: prebuildify failed (see above); nothing was packed');
  process.exit(result.status ?? 1);
}

const files = existsSync(target) ? readdirSync(target) : [];
const required = ['libcuipc_sim.so', 'libcuipc_vmm_interposer.so', 'libcuipc_tms_standin.so'];
const missing = required.filter((name) => !files.includes(name));
if (!files.some((name) => name.endsWith('.node'))) missing.unshift('the addon (*.node)');
if (missing.length > 0) {
  console.error(`cuipc prepack: ${path.relative(root, target)} lacks ${missing.join(', ')}; nothing was packed`);
  process.exit(1);
}
if (!files.includes('libcuipc_trace.so')) {
  console.warn('cuipc prepack: libcuipc_trace.so was not built (no CUPTI headers): `cuipc trace` will be unavailable from this tarball');
}
writeStamp(target, nativeHash(root));
console.error(`cuipc prepack: ${path.relative(root, target)}: ${files.join(', ')}`);

const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
for (const args of [[tsc, '-p', 'tsconfig.json'], [path.join(__dirname, 'bundle.mjs')]]) {
  const step = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 2, 2] });
  if (step.status !== 0) {
    console.error(`cuipc prepack: ${path.basename(args[0])} failed (see above); nothing was packed`);
    process.exit(step.status ?? 1);
  }
}

// The platform package's folder, from the prebuild just built (after the compile: it emptied dist/).
const { writePlatformPackage } = require('./platform-package.cjs');
try {
  const { dir } = writePlatformPackage(root, target);
  console.error(`cuipc prepack: ${path.relative(root, dir)} written (npm run pack:all packs it)`);
} catch (error) {
  console.error(`cuipc prepack: the platform package could not be written: ${error.message}`);
  process.exit(1);
}
