#!/usr/bin/env node
// npm install hook. Uses an addon that fits this platform and was built from the native
// sources here (an earlier local build or prebuild in a checkout, else the prebuild in the
// platform package @cuipc/linux-x64-gnu, the optional dependency npm installs on linux-x64
// glibc), else builds from source with cmake-js (a C++17 compiler and cmake; nvcc is optional
// and adds the kernels). It picks in the order lib/binding/native.ts's findAddon loads.
//
// "Built from the sources here" is a stamp beside the addon (scripts/native-hash.cjs): a
// checkout whose native/ changed since its last build (`git pull`, then `npm ci`) rebuilds
// instead of reusing a stale build/Release.
//
// cmake-js is not a dependency of the package: an install that uses the platform package (every
// linux-x64 glibc install that did not omit optional dependencies) needs no build tool at all. A source build takes cmake-js from the
// checkout's devDependencies, else runs it through `npm exec` (npx), which fetches it only then.
'use strict';
const { spawnSync } = require('node:child_process');
const { accessSync, constants, existsSync, readFileSync } = require('node:fs');
const path = require('node:path');
const { nativeHash, readStamp, writeStamp } = require('./native-hash.cjs');
const { platformPackageFor } = require('./platform.cjs');

const root = path.join(__dirname, '..');
/** What must lie beside the addon for every backend to work (the trace library is optional). */
const BESIDE = ['libcuipc_sim.so', 'libcuipc_vmm_interposer.so', 'libcuipc_tms_standin.so'];
const CMAKE_JS = 'cmake-js@^8';

function say(line) {
  console.log(`cuipc: ${line}`);
}

/** The platform package that carries this platform's prebuild, or null where none is made. */
const platformPackage = platformPackageFor()?.name ?? null;

/** Why `dir`'s addon `found` cannot be used as is, or null: the libraries beside it and the stamp. */
function problemWith(found, dir, label) {
  const missing = BESIDE.filter((name) => !existsSync(path.join(dir, name)));
  if (missing.length > 0) return `${label} lacks ${missing.join(', ')} beside the addon`;
  const stamp = readStamp(dir);
  if (stamp === wanted) return null;
  return `${label} ${stamp === null ? 'has no record of the native sources it was built from' : 'was built from other native sources'}`;
}

/** The installed platform package's addon, when it is usable as is; else why not. */
function platformAddon() {
  if (platformPackage === null) return { found: null, why: `no prebuild is made for ${process.platform}-${process.arch}` };
  let manifest;
  try {
    manifest = require.resolve(`${platformPackage}/package.json`, { paths: [root] });
  } catch {
    return { found: null, why: `${platformPackage} (an optional dependency) is not installed` };
  }
  const dir = path.dirname(manifest);
  const main = String(JSON.parse(readFileSync(manifest, 'utf8')).main ?? '');
  const found = path.join(dir, main);
  if (!main.endsWith('.node') || !existsSync(found)) return { found: null, why: `${platformPackage} has no addon` };
  const label = `${platformPackage}/${main}`;
  const problem = problemWith(found, dir, label);
  return problem === null ? { found, label, why: null } : { found: null, why: problem };
}

/** The addon the loader would load (a local build first, then the platform package), when it is usable as is; else why not. */
function usableAddon() {
  let found;
  try {
    found = require('node-gyp-build').path(root);
  } catch {
    const platform = platformAddon();
    return platform.found ? platform : { found: null, why: `no local build, and ${platform.why}` };
  }
  const label = path.relative(root, found);
  const problem = problemWith(found, path.dirname(found), label);
  return problem === null ? { found, label, why: null } : { found: null, why: problem };
}

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      accessSync(path.join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

/** The build tools a source build needs that are not on the PATH. */
function missingTools() {
  const missing = [];
  if (!onPath('cmake')) missing.push('cmake (>= 3.18)');
  const cxx = process.env.CXX ? [process.env.CXX] : ['c++', 'g++', 'clang++'];
  if (!cxx.some((c) => (path.isAbsolute(c) ? existsSync(c) : onPath(c)))) missing.push('a C++17 compiler (g++ or clang++)');
  return missing;
}

/** cuipc's version: the platform package's must be the same. */
function ownVersion() {
  try {
    return JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version;
  } catch {
    return 'latest';
  }
}

/** Where a prebuild fits, installing it is the way that needs no build tool. */
const PREBUILD_ADVICE = platformPackage
  ? [
      `  The prebuild for ${process.platform}-${process.arch} (glibc) is in ${platformPackage}, an optional dependency: with it installed`,
      `  (npm install --include=optional, or npm install ${platformPackage}@${ownVersion()}) nothing is built. Or install the build tools:`,
    ]
  : [];

const HOW_TO_INSTALL = [
  ...PREBUILD_ADVICE,
  '  Debian/Ubuntu: apt-get install cmake g++',
  '  RHEL/Fedora:   dnf install cmake gcc-c++',
  '  nvcc (a CUDA toolkit) is optional: with it on the PATH the kernels are compiled in too.',
  '  Then: npm rebuild cuipc',
];

/** node + cmake-js's own script when the checkout has it, else `npm exec` (npx) to fetch it. */
function cmakeJsCommand() {
  try {
    return [process.execPath, [require.resolve('cmake-js/bin/cmake-js', { paths: [root] })]];
  } catch {
    const npm = process.env.npm_execpath;
    if (npm && existsSync(npm)) return [process.execPath, [npm, 'exec', '--yes', '--package', CMAKE_JS, '--', 'cmake-js']];
    return ['npx', ['--yes', '--package', CMAKE_JS, '--', 'cmake-js']];
  }
}

function buildFromSource(why) {
  say(`${why}; building from source with cmake-js`);
  const missing = missingTools();
  if (missing.length > 0) {
    console.error([`cuipc: cannot build from source: ${missing.join(' and ')} not found on the PATH.`, ...HOW_TO_INSTALL].join('\n'));
    process.exit(1);
  }
  const [command, prefix] = cmakeJsCommand();
  const result = spawnSync(command, [...prefix, 'compile', '--out', 'build'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(['cuipc: the source build failed (see above). It needs cmake >= 3.18 and a C++17 compiler.', ...HOW_TO_INSTALL].join('\n'));
    process.exit(result.status ?? 1);
  }
  writeStamp(path.join(root, 'build', 'Release'), wanted);
}

const wanted = nativeHash(root);
if (process.env.CUIPC_FORCE_BUILD === '1') {
  buildFromSource('CUIPC_FORCE_BUILD=1');
} else {
  const { found, label, why } = usableAddon();
  if (found) say(`using ${label}`);
  else buildFromSource(why);
}

// In a checkout (`npm ci` there), the TypeScript is compiled too: dist/ is build output, and
// the package keeps no `prepare` script (npm would run it wherever the package is installed
// from git). An installed tarball has no lib/ and ships dist/ built, so nothing happens there.
if (existsSync(path.join(root, 'lib', 'index.ts')) && existsSync(path.join(root, 'tsconfig.json'))) {
  say('a checkout: compiling the TypeScript (npm run build:ts)');
  const steps = [[require.resolve('typescript/bin/tsc', { paths: [root] }), '-p', 'tsconfig.json'], [path.join(root, 'scripts', 'bundle.mjs')]];
  for (const args of steps) {
    const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
    if (result.status !== 0) {
      console.error('cuipc: compiling the TypeScript failed (see above)');
      process.exit(result.status ?? 1);
    }
  }
}
