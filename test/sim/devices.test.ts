// The simulated device's several-device mode, peer matrix, CUDA_VISIBLE_DEVICES handling and
// fault injection, each in a fresh process (the sim reads its variables once).
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const script = fileURLToPath(new URL('./helpers/run.mjs', import.meta.url));

function run(args: string[], env: Record<string, string>): { out: Record<string, unknown>; stderr: string } {
  const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
  if (r.status !== 0) throw new Error(`scenario ${args[0]} failed (${r.status}): ${r.stderr}`);
  return { out: JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>, stderr: r.stderr };
}

const sim = (n: string) => `SIM-63756970-6373-696d-0000-00000000000${n}`;

describe('several simulated devices', () => {
  test('CUIPC_SIM_DEVICES sets the count; each has its own UUID', () => {
    const { out } = run(['devices'], { CUIPC_SIM_DEVICES: '4', CUIPC_SIM_PEER: 'all' });
    expect(out.count).toBe(4);
    expect(out.uuids).toEqual([sim('0'), sim('1'), sim('2'), sim('3')]);
    expect(out.setBeyond).toBe(101);
  });

  test('CUIPC_SIM_PEER pairs decide peer access, both ways', () => {
    const { out } = run(['devices'], { CUIPC_SIM_DEVICES: '4', CUIPC_SIM_PEER: '0-1,2-3' });
    expect(out.peer).toEqual([
      [null, true, false, false],
      [true, null, false, false],
      [false, false, null, true],
      [false, false, true, null],
    ]);
  });

  test('CUDA_VISIBLE_DEVICES reorders and hides devices, and stops at the first invalid entry', () => {
    expect(run(['devices'], { CUIPC_SIM_DEVICES: '4', CUDA_VISIBLE_DEVICES: '2,0' }).out.uuids).toEqual([sim('2'), sim('0')]);
    expect(run(['devices'], { CUIPC_SIM_DEVICES: '4', CUDA_VISIBLE_DEVICES: '3,9,1' }).out.uuids).toEqual([sim('3')]);
    expect(run(['devices'], { CUIPC_SIM_DEVICES: '4', CUDA_VISIBLE_DEVICES: sim('1') }).out.uuids).toEqual([sim('1')]);
    const none = run(['devices'], { CUIPC_SIM_DEVICES: '4', CUDA_VISIBLE_DEVICES: '' }).out;
    expect(none.countCode).toBe(100);
  });

  test('a handle opened on a device that cannot reach the exporter gets cudaErrorPeerAccessUnsupported', async () => {
    const env = { ...process.env, CUIPC_SIM_DEVICES: '4', CUIPC_SIM_PEER: '0-1' };
    const exporter = spawn(process.execPath, [script, 'export', '0'], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve) => exporter.stdout.once('data', (d: Buffer) => resolve(d.toString())));
    const { handle } = JSON.parse(line) as { handle: string };
    try {
      expect(run(['open', '1', handle], { CUIPC_SIM_DEVICES: '4', CUIPC_SIM_PEER: '0-1' }).out.open).toBe(0);
      expect(run(['open', '2', handle], { CUIPC_SIM_DEVICES: '4', CUIPC_SIM_PEER: '0-1' }).out.open).toBe(217);
    } finally {
      exporter.stdin.write('done\n');
      await new Promise((r) => exporter.once('exit', r));
    }
  });
});

describe('CUIPC_SIM_FAULT', () => {
  test('the n-th call of a function returns the given code', () => {
    expect(run(['faults'], { CUIPC_SIM_FAULT: 'cudaIpcGetMemHandle#2=1' }).out.codes).toEqual([0, 1, 0]);
  });

  test('a rule for another rank does not fire', () => {
    expect(run(['faults'], { CUIPC_SIM_FAULT: 'cudaIpcGetMemHandle@3#1=1', CUIPC_RANK: '0' }).out.codes).toEqual([0, 0, 0]);
    expect(run(['faults'], { CUIPC_SIM_FAULT: 'cudaIpcGetMemHandle@3#1=1', CUIPC_RANK: '3' }).out.codes).toEqual([1, 0, 0]);
  });

  test('kill ends the process with SIGKILL', () => {
    const r = spawnSync(process.execPath, [script, 'faults'], { env: { ...process.env, CUIPC_SIM_FAULT: 'cudaIpcGetMemHandle#1=kill' }, timeout: 30_000 });
    expect(r.signal).toBe('SIGKILL');
  });

  test('a malformed rule is reported on stderr and ignored; the others apply', () => {
    const { out, stderr } = run(['faults'], { CUIPC_SIM_FAULT: 'noSuchCall#1=1;cudaIpcGetMemHandle#3=700' });
    expect(stderr).toMatch(/noSuchCall/);
    expect(out.codes).toEqual([0, 0, 700]);
  });
});
