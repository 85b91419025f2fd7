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

  it('closes connections beyond the cap on those without a hello, recording the burst once', async () => {
    // A hello deadline far beyond the bound below, so that only a close on accept meets it,
    // however loaded the machine is.
    const { port, rejected } = await start({ ...limits, helloDeadlineMs: 20_000 });
    await client(port);
    await client(port);
    const third = await client(port);
    expect(await third.closed).toBeLessThan(10_000);
    const fourth = await client(port);
    await fourth.closed;
    expect(rejected.filter((r) => r.startsWith('more than 2 connections without a hello'))).toHaveLength(1);
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
