#!/usr/bin/env node
// The prebuild ships in its own package, @cuipc/linux-x64-gnu (as esbuild, swc and sharp ship
// theirs): cuipc lists it as an optional dependency, npm installs it only where its os, cpu and
// libc fit, and cuipc's own tarball carries the native sources alone. This writes that package
// from prepack's prebuild (prebuilds/<platform>-<arch>/) and its committed manifest
// (platform/<name>/package.json) into dist/platform/<name>/, and with
// --pack packs it. stdout gets only the tarball's name (as `npm pack` prints it); the rest goes
// to stderr.
//
//   node scripts/platform-package.cjs [--pack] [--pack-destination DIR]
'use strict';
const { spawnSync } = require('node:child_process');
const { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } = require('node:fs');
const path = require('node:path');
// Each platform package's manifest is committed in platform/<folder>/package.json, a workspace
// of the checkout, so that package-lock.json resolves cuipc's optional dependency on it (and
// `npm ci` works) before and without any registry. Its version is cuipc's
// (test/package/platform-package.test.ts holds them equal).
const { PLATFORM_PACKAGES } = require('./platform.cjs');

/**
 * Writes dist/platform/<folder>/ under `root` from `prebuildDir`: the committed manifest, its
 * `files` and `main` narrowed to what this prebuild has (the trace library needs the CUPTI
 * headers), and those files; nothing else. Returns the folder and the package.json written.
 */
function writePlatformPackage(root, prebuildDir, key = 'linux-x64-glibc') {
  const platform = PLATFORM_PACKAGES[key];
  if (!platform) throw new Error(`no platform package is defined for ${key}`);
  if (!existsSync(prebuildDir)) throw new Error(`${path.relative(root, prebuildDir)} does not exist: run the prebuild first (npm pack, or npm run prebuildify)`);
  const manifest = JSON.parse(readFileSync(path.join(root, 'platform', platform.folder, 'package.json'), 'utf8'));
  const version = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version;
  if (manifest.version !== version) throw new Error(`platform/${platform.folder}/package.json has version ${manifest.version}, cuipc ${version}: they must be equal`);
  const files = readdirSync(prebuildDir, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name).sort();
  const addon = files.find((f) => f.endsWith('.node'));
  if (!addon) throw new Error(`${path.relative(root, prebuildDir)} holds no addon (*.node)`);
  const unlisted = files.filter((f) => !manifest.files.includes(f));
  if (unlisted.length > 0) throw new Error(`platform/${platform.folder}/package.json's files lacks ${unlisted.join(', ')}`);
  // require('@cuipc/linux-x64-gnu') loads the addon; cuipc's loader reads `main` to find it.
  const pkg = { ...manifest, main: addon, files: manifest.files.filter((f) => files.includes(f)) };
  const dir = path.join(root, 'dist', 'platform', platform.folder);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const file of files) copyFileSync(path.join(prebuildDir, file), path.join(dir, file));
  // Apache-2.0 asks for a copy of the license with the binaries; npm packs a LICENSE at the
  // package root whatever `files` lists.
  copyFileSync(path.join(root, 'LICENSE'), path.join(dir, 'LICENSE'));
  writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  return { dir, pkg };
}

/** `npm pack` of the folder into `destination`; returns the tarball's name. */
function packPlatformPackage(dir, destination) {
  const env = { ...process.env };
  // An enclosing `npm run` sets npm_config_* (--json, --dry-run) that must not leak into this pack.
  for (const key of Object.keys(env)) if (/^npm_config_/i.test(key)) delete env[key];
  const result = spawnSync('npm', ['pack', '--json', '--pack-destination', destination], { cwd: dir, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 2] });
  if (result.status !== 0) throw new Error(`npm pack of ${dir} failed (${result.status}):\n${result.stdout}`);
  return JSON.parse(result.stdout)[0].filename;
}

module.exports = { PLATFORM_PACKAGES, writePlatformPackage, packPlatformPackage };

if (require.main === module) {
  const root = path.join(__dirname, '..');
  const args = process.argv.slice(2);
  const at = args.indexOf('--pack-destination');
  const destination = path.resolve(at >= 0 ? args[at + 1] ?? '.' : '.');
  try {
    const { dir, pkg } = writePlatformPackage(root, path.join(root, 'prebuilds', `${process.platform}-${process.arch}`));
    console.error(`cuipc platform package: ${path.relative(root, dir)}: ${pkg.name}@${pkg.version} (${pkg.files.join(', ')})`);
    if (args.includes('--pack')) process.stdout.write(`${packPlatformPackage(dir, destination)}\n`);
  } catch (error) {
    console.error(`cuipc platform package: ${error.message}`);
    process.exit(1);
  }
}
