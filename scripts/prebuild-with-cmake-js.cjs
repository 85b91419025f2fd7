#!/usr/bin/env node
// prebuildify drives node-gyp (`--node-gyp <program>`); this stands in for it and builds with
// cmake-js instead. prebuildify then takes the .node file from build/Release and copies the
// shared libraries beside it (the simulated device, the interposer, the trace library).
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const debug = process.argv.includes('--debug');
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const result = spawnSync(process.execPath, [cmakeJs, 'rebuild', '--out', 'build', ...(debug ? ['--debug'] : [])], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
