#!/usr/bin/env node
// prebuildify packs only the addon; the simulated device and the interposer travel beside it.
'use strict';
const { copyFileSync, existsSync, readdirSync } = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const target = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
for (const name of ['libcuipc_sim.so', 'libcuipc_vmm_interposer.so', 'libcuipc_trace.so']) {
  const from = path.join(root, 'build', 'Release', name);
  if (existsSync(from) && existsSync(target)) copyFileSync(from, path.join(target, name));
}
console.log(`prebuilds: ${existsSync(target) ? readdirSync(target).join(', ') : 'none'}`);
