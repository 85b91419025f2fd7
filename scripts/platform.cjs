// The platform packages that carry cuipc's prebuild, and how a process tells which is its own:
// one home for the install script and the platform package's writer. The loader tells it the
// same way (lib/binding/native.ts, which cannot load scripts/); test/binding/loader.test.ts
// holds the two together. libc is told as node-gyp-build tells it: LIBC, else musl where
// /etc/alpine-release exists (a stat; process.report would cost a rank milliseconds at start).
'use strict';
const { existsSync } = require('node:fs');

/** By `<platform>-<arch>-<libc>`; each one's manifest is committed in platform/<folder>/package.json. */
const PLATFORM_PACKAGES = { 'linux-x64-glibc': { name: '@cuipc/linux-x64-gnu', folder: 'linux-x64-gnu' } };

function libcOf(env = process.env) {
  return env.LIBC ?? (existsSync('/etc/alpine-release') ? 'musl' : 'glibc');
}

/** The platform package for this process's platform, arch and libc, or null where none is made. */
function platformPackageFor(env = process.env, platform = process.platform, arch = process.arch) {
  return PLATFORM_PACKAGES[`${platform}-${arch}-${libcOf(env)}`] ?? null;
}

module.exports = { PLATFORM_PACKAGES, libcOf, platformPackageFor };
