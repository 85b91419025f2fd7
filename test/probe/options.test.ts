import { createServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openRendezvous } from '../../lib/probe/rendezvous.js';
import {
  assignDevices,
  parseDeviceList,
  parseEnvAssignment,
  parseEnvFile,
  ProbeUsageError,
  resolveProbeOptions,
} from '../../lib/probe/options.js';
import { probe } from '../../lib/probe/index.js';

const handlers = { message: () => null, rejected: () => {}, closed: () => {} };

describe('probe options', () => {
  it('fills the defaults', () => {
    const r = resolveProbeOptions({}, { CUIPC_BACKEND: 'sim' });
    expect(r).toMatchObject({ ranks: 4, inputs: 72, bytes: 4096, alloc: 'torch', share: 'ipc', captureMode: 'global', backend: 'sim', timeoutMs: 20000 });
    expect(r.rendezvous).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 0 });
    expect(r.launch).toEqual({ kind: 'plain', settings: { visibility: 'all', envSnapshot: null } });
    expect(resolveProbeOptions({}, {}).backend).toBe('cuda');
  });

  it.each([
    [{ ranks: 0 }, /ranks must be an integer from 1 to 64/],
    [{ ranks: 100000 }, /ranks must be an integer from 1 to 64/],
    [{ ranks: 2.5 }, /ranks/],
    [{ bytes: 4098 }, /multiple of 4/],
    [{ inputs: 0 }, /inputs/],
    [{ alloc: 'malloc' as never }, /alloc must be one of torch, cudaMalloc, vmm, vmm-fd, pool, managed, host/],
    [{ share: 'nccl' as never }, /share must be one of/],
    [{ captureMode: 'strict' as never }, /capture mode/],
    [{ backend: 'rocm' as never }, /backend/],
    [{ ranks: 2, devices: [0] }, /one device ordinal per rank \(2\)/],
    [{ env: { CUIPC_RANK: '3' } }, /set by the probe/],
    [{ env: { 'BAD-KEY': '1' } }, /not a valid environment variable name/],
    [{ port: 70000 }, /port/],
    [{ port: 1, socket: '/tmp/x' }, /not both/],
    [{ timeoutMs: 5 }, /timeout/],
  ])('rejects %j', (options, message) => {
    expect(() => resolveProbeOptions(options, {})).toThrow(message);
    expect(() => resolveProbeOptions(options, {})).toThrow(ProbeUsageError);
  });

  it('rejects a bad CUIPC_BACKEND and says where it came from', () => {
    expect(() => resolveProbeOptions({}, { CUIPC_BACKEND: 'gpu' })).toThrow(/from CUIPC_BACKEND/);
  });

  it('maps devices round-robin, and refuses a mapping that does not fit', () => {
    expect(assignDevices(resolveProbeOptions({ ranks: 5 }, {}), 2)).toEqual([0, 1, 0, 1, 0]);
    expect(assignDevices(resolveProbeOptions({ ranks: 3, devices: [0, 0, 0] }, {}), 1)).toEqual([0, 0, 0]);
    expect(() => assignDevices(resolveProbeOptions({ ranks: 2, devices: [0, 3] }, {}), 2)).toThrow(/rank 1 is mapped to device 3, but only 2 device/);
    expect(parseDeviceList('0, 1,1')).toEqual([0, 1, 1]);
    expect(() => parseDeviceList('0,a')).toThrow(ProbeUsageError);
  });

  it('parses --env and env files, and refuses malformed ones with the line', () => {
    expect(parseEnvAssignment('A=b=c')).toEqual(['A', 'b=c']);
    expect(() => parseEnvAssignment('novalue')).toThrow(/KEY=VALUE/);
    expect(parseEnvFile('# c\n\nexport A=1\nB="two words"\nC=\'x\'\nD=\n', 'f')).toEqual({ A: '1', B: 'two words', C: 'x', D: '' });
    expect(() => parseEnvFile('A=1\nthis line is wrong\n', 'actor.env')).toThrow(/actor\.env:2: expects KEY=VALUE/);
    expect(() => parseEnvFile('A="open\n', 'f')).toThrow(/f:1: unterminated quote/);
  });

  it('refuses a port that is already taken, before any rank starts', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      await expect(openRendezvous({ kind: 'tcp', host: '127.0.0.1', port }, 'token', handlers)).rejects.toThrow(new RegExp(`port ${port} on 127.0.0.1 is already taken`));
      await expect(probe({ backend: 'sim', ranks: 1, port })).rejects.toThrow(ProbeUsageError);
    } finally {
      blocker.close();
    }
  });

  it('refuses a socket path that exists', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cuipc-sock-'));
    try {
      writeFileSync(join(dir, 's'), '');
      await expect(openRendezvous({ kind: 'unix', path: join(dir, 's') }, 'token', handlers)).rejects.toThrow(/already exists/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});
