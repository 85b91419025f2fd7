#!/usr/bin/env node
// npm install hook: use a prebuild when one fits this platform, else build from source with
// cmake-js (a C++17 compiler and cmake; nvcc is optional and adds the kernels). The
// simulated device and the test interposer are built with the addon.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');

function prebuildFits() {
  try {
    const found = require('node-gyp-build').path(root);
    // A prebuild must come with its simulated device, or `--backend sim` would not work.
    return existsSync(path.join(path.dirname(found), 'libcuipc_sim.so')) ? found : null;
  } catch {
    return null;
  }
}

if (process.env.CUIPC_FORCE_BUILD !== '1') {
  const found = prebuildFits();
  if (found) {
    console.log(`cuipc: using ${path.relative(root, found)}`);
    process.exit(0);
  }
}

console.log('cuipc: no prebuild for this platform; building from source with cmake-js');
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const result = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', 'build'], { cwd: root, stdio: 'inherit' });
if (result.status !== 0) {
  console.error(
    [
      'cuipc: the source build failed.',
      '  It needs cmake >= 3.18 and a C++17 compiler (g++ or clang++); nvcc is optional (kernels).',
      '  Debian/Ubuntu: apt-get install cmake g++',
      '  Then: npm rebuild cuipc',
    ].join('\n'),
  );
  process.exit(result.status ?? 1);
}
