// `cuipc doctor` answers first: OK, a [high] hazard (exit 1, with what to change), or why it
// could not check (an empty CUDA_VISIBLE_DEVICES named as such). On the simulated device.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../bin/cuipc.js', import.meta.url));

function doctor(env: Record<string, string>): { status: number | null; lines: string[] } {
  const clean = { ...process.env };
  delete clean.SGLANG_MEMORY_SAVER_CUDA_GRAPH;
  delete clean.LD_PRELOAD;
  delete clean.CUDA_VISIBLE_DEVICES;
  const r = spawnSync(process.execPath, [bin, 'doctor', '--backend', 'sim'], { encoding: 'utf8', timeout: 60_000, env: { ...clean, ...env } });
  return { status: r.status, lines: r.stdout.split('\n') };
}

describe('cuipc doctor', () => {
  it('exit 0 and OK first when all is fine', () => {
    const r = doctor({});
    expect(r.status).toBe(0);
    expect(r.lines[2]).toMatch(/^OK: 1 device\(s\); legacy IPC export works on each/);
  });

  it('exit 1 with a [high] hazard, named on the first line, its remedy under Fix', () => {
    const r = doctor({ SGLANG_MEMORY_SAVER_CUDA_GRAPH: 'true' });
    expect(r.status).toBe(1);
    expect(r.lines[2]).toMatch(/^HAZARD \[high\]: SGLANG_MEMORY_SAVER_CUDA_GRAPH=true: /);
    expect(r.lines[3]).toBe('Fix:');
  });

  it('an empty CUDA_VISIBLE_DEVICES is named as such (exit 3)', () => {
    const r = doctor({ CUDA_VISIBLE_DEVICES: '' });
    expect(r.status).toBe(3);
    expect(r.lines[2]).toMatch(/^COULD NOT CHECK: .*CUDA_VISIBLE_DEVICES is set but empty, which hides every device/);
  });
});
