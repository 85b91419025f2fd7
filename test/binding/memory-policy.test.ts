// setHugePagesDisabled: how a probe starts its ranks without transparent huge pages (see
// lib/launch/processes.ts). The kernel's answer is read back from /proc (THP_enabled in the
// status file), in a process of its own, since the flag belongs to the process; a program
// started while it is set inherits it, one started after it is cleared again does not.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { loadAddon } from '../../lib/binding/native.js';

// Kernels before 5.0 have no THP_enabled line; the flag then cannot be read back.
const readable = /^THP_enabled:\s*\d$/m.test(readFileSync('/proc/self/status', 'utf8'));

describe('setHugePagesDisabled', () => {
  test.runIf(readable)('set, a started program inherits it; cleared, the next one does not', () => {
    const { addonPath } = loadAddon();
    const child = `
      const { readFileSync } = require('node:fs');
      const { execFileSync } = require('node:child_process');
      const flag = (text) => /^THP_enabled:\\s*(\\d)$/m.exec(text)[1];
      const own = () => flag(readFileSync('/proc/self/status', 'utf8'));
      const started = () => flag(execFileSync('cat', ['/proc/self/status'], { encoding: 'utf8' }));
      const addon = require(process.argv[1]);
      const was = addon.setHugePagesDisabled(true);
      const whileSet = { own: own(), started: started() };
      const wasSet = addon.setHugePagesDisabled(was);
      console.log(JSON.stringify({ was, whileSet, wasSet, after: { own: own(), started: started() } }));`;
    const run = spawnSync(process.execPath, ['-e', child, addonPath], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const seen = JSON.parse(run.stdout) as { was: boolean; whileSet: object; wasSet: boolean; after: object };
    expect(seen.whileSet).toEqual({ own: '0', started: '0' });
    expect(seen.wasSet).toBe(true);
    // Whatever started this test may have set the flag already; then it stays set, as it was.
    const restored = seen.was ? '0' : '1';
    expect(seen.after).toEqual({ own: restored, started: restored });
  });

  test('a flag that is not a boolean is a TypeError', () => {
    const { binding } = loadAddon();
    expect(() => binding.setHugePagesDisabled(1 as unknown as boolean)).toThrow(TypeError);
  });
});
