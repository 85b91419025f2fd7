#!/usr/bin/env node
// prebuildify drives node-gyp (`--node-gyp <program>`); this stands in for it and builds with
// cmake-js instead. prebuildify then takes the .node file from build/Release and copies the
// shared libraries beside it (the simulated device, the interposer, the trace library).
// Prebuilds are built for size (-Os, unused sections dropped at link time): they are most of
// the tarball, and none of their calls is hot enough for -O3 to matter. A build from source
// (scripts/install.cjs) keeps the CMakeLists' Release flags.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const debug = process.argv.includes('--debug');
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const SMALL = ['--CDCMAKE_CXX_FLAGS_RELEASE=-Os -DNDEBUG -ffunction-sections -fdata-sections', '--CDCMAKE_SHARED_LINKER_FLAGS=-Wl,--gc-sections'];
const result = spawnSync(process.execPath, [cmakeJs, 'rebuild', '--out', 'build', ...(debug ? ['--debug'] : SMALL)], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
