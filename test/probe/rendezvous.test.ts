// The rendezvous's limits for connections that have not said hello: the deadline, the line
// cap, the cap on how many are open; and that a rank, once its hello is accepted, is not held
// to them (its exchange line may be megabytes, its calls may take minutes).
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { openRendezvous, type Rendezvous, type RendezvousLimits } from '../../lib/probe/rendezvous.js';
import { encodeMessage, type RankMessage } from '../../lib/probe/protocol.js';

const TOKEN = 'b'.repeat(64);
let open: Rendezvous | null = null;
afterEach(async () => {
  await open?.close();
  open = null;
});

async function start(limits: RendezvousLimits) {
  const rejected: string[] = [];
  const messages: RankMessage[] = [];
  open = await openRendezvous({ kind: 'tcp', host: '127.0.0.1', port: 0 }, TOKEN, {
    message: (connection, message) => {
      messages.push(message);
      if (message.type === 'hello') connection.rank = message.rank;
      return null;
    },
    rejected: (_from, reason) => rejected.push(reason),
    closed: () => {},
  }, limits);
  return { port: Number(open.address.split(':')[2]), rejected, messages };
}

function client(port: number): Promise<{ socket: Socket; closed: Promise<number> }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const opened = Date.now();
    const closed = new Promise<number>((r) => socket.on('close', () => r(Date.now() - opened)));
    socket.on('error', () => {});
    socket.on('connect', () => resolve({ socket, closed }));
  });
}

async function waitFor(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

const limits: RendezvousLimits = { maxUnauthenticated: 2, helloLineBytes: 1024, helloDeadlineMs: 300 };

describe('rendezvous limits before hello', () => {
  it('closes a connection that says nothing within the hello deadline, and records why', async () => {
    const { port, rejected } = await start(limits);
    const { closed } = await client(port);
    const ms = await closed;
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(3000);
    expect(rejected).toContain('no hello within 300 ms');
  });

  it('closes a connection whose first line grows past the cap', async () => {
    const { port, rejected } = await start(limits);
    const { socket, closed } = await client(port);
    socket.write(Buffer.alloc(4096, 0x41));
    await closed;
    expect(rejected).toContain('a line longer than 1024 bytes');
  });

  it('a connection beyond the cap on those without a hello closes the oldest of them, recording the burst once', async () => {
    // A hello deadline far beyond the bound below, so that only the eviction meets it,
    // however loaded the machine is.
    const { port, rejected } = await start({ ...limits, helloDeadlineMs: 20_000 });
    const first = await client(port);
    const second = await client(port);
    let secondClosed = false;
    void second.closed.then(() => (secondClosed = true));
    const third = await client(port);
    expect(await first.closed).toBeLessThan(10_000);
    const fourth = await client(port);
    expect(await second.closed).toBeLessThan(10_000);
    expect(rejected.filter((r) => r.startsWith('more than 2 connections without a hello; the oldest closed'))).toHaveLength(1);
    // The newest two are the ones held.
    expect(third.socket.destroyed || fourth.socket.destroyed).toBe(false);
    expect(secondClosed).toBe(true);
    third.socket.destroy();
    fourth.socket.destroy();
  });

  it('idle connections that fill the budget before the ranks connect never take a rank\'s place', async () => {
    const { port, messages, rejected } = await start({ ...limits, helloDeadlineMs: 20_000 });
    const idle = [];
    for (let i = 0; i < 10; i++) idle.push(await client(port));
    const ranks = [await client(port), await client(port)];
    ranks.forEach(({ socket }, rank) => socket.write(encodeMessage({ type: 'hello', token: TOKEN, rank, pid: process.pid })));
    await waitFor(() => messages.length === 2);
    expect(messages.map((m) => m.type === 'hello' && m.rank)).toEqual([0, 1]);
    for (const { socket } of ranks) expect(socket.destroyed).toBe(false);
    // More idle ones after the hellos: the ranks, no longer without a hello, are not counted.
    for (let i = 0; i < 5; i++) idle.push(await client(port));
    await new Promise((r) => setTimeout(r, 100));
    for (const { socket } of ranks) expect(socket.destroyed).toBe(false);
    expect(rejected.every((r) => r.startsWith('more than 2 connections without a hello'))).toBe(true);
    for (const { socket } of [...idle, ...ranks]) socket.destroy();
  });

  it('a rank whose hello was accepted may send a line far past the hello cap and stay past the deadline', async () => {
    const { port, messages, rejected } = await start(limits);
    const { socket, closed } = await client(port);
    let isClosed = false;
    void closed.then(() => (isClosed = true));
    socket.write(encodeMessage({ type: 'hello', token: TOKEN, rank: 0, pid: process.pid }));
    await new Promise((r) => setTimeout(r, 500));
    const call = { type: 'calling', token: TOKEN, rank: 0, step: 'import', call: 'x', method: 'y', args: { pad: 'z'.repeat(200_000) } } as RankMessage;
    socket.write(encodeMessage(call));
    await new Promise((r) => setTimeout(r, 300));
    expect(isClosed).toBe(false);
    expect(rejected).toEqual([]);
    expect(messages.map((m) => m.type)).toEqual(['hello', 'calling']);
    socket.destroy();
  });
});
