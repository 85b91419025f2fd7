// The fingerprint of the native sources an addon was built from: CMakeLists.txt, native/
// (native/bench excepted: the benchmark program is not part of the addon and is not shipped),
// and the files outside native/ that the build embeds (BUILD_INPUTS).
// The install script compares it with the stamp written beside a build or a prebuild, so
// `npm ci` after `git pull` rebuilds when the native sources changed, and a tarball's prebuild
// is used only when it was built from the very sources the tarball ships.
'use strict';
const { createHash } = require('node:crypto');
const { existsSync, readdirSync, readFileSync, writeFileSync } = require('node:fs');
const path = require('node:path');

/** The name of the stamp file written beside the addon (build/Release or prebuilds/<platform>). */
const STAMP = 'cuipc-native.sha256';

function listFiles(root, rel, out) {
  for (const entry of readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const child = rel ? `${rel}/${entry.name}` : entry.name;
    if (child === 'native/bench') continue;
    if (entry.isDirectory()) listFiles(root, child, out);
    else if (entry.isFile()) out.push(child);
  }
  return out;
}

/** Read by the build from outside native/: the trace library's environment filter. */
const BUILD_INPUTS = ['lib/env/relevant-variables.json'];

/** sha256 over the sorted relative paths and contents of CMakeLists.txt, native/ and BUILD_INPUTS. */
function nativeHash(root) {
  const inputs = BUILD_INPUTS.filter((f) => existsSync(path.join(root, f)));
  const files = ['CMakeLists.txt', ...listFiles(root, 'native', []), ...inputs].sort();
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(file).update('\0').update(readFileSync(path.join(root, file))).update('\0');
  }
  return hash.digest('hex');
}

/** The stamp beside an addon, or null when there is none. */
function readStamp(dir) {
  const file = path.join(dir, STAMP);
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : null;
}

function writeStamp(dir, hash) {
  writeFileSync(path.join(dir, STAMP), `${hash}\n`);
}

module.exports = { STAMP, nativeHash, readStamp, writeStamp };

// `node scripts/native-hash.cjs` prints the fingerprint; `--stamp DIR` writes it beside a build.
if (require.main === module) {
  const hash = nativeHash(path.join(__dirname, '..'));
  const at = process.argv.indexOf('--stamp');
  if (at >= 0) writeStamp(path.resolve(process.argv[at + 1] ?? 'build/Release'), hash);
  else process.stdout.write(`${hash}\n`);
}
