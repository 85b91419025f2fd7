// The coordinator's end of the rendezvous: a loopback TCP or Unix-socket server that reads
// newline-delimited JSON from ranks. Every line is checked (token first); a line that fails
// is rejected and recorded, and a connection that never identified itself as a rank is
// dropped. Nothing a peer sends can throw out of here.
//
// Limits for connections that have not said hello (anyone on the machine can connect to a
// loopback port): at most ranks + 16 open at once, a 64 KiB line cap, and 10 s to say hello,
// after which the connection is closed. What a flood can make the coordinator hold is
// therefore about (ranks + 16) x 64 KiB. When the budget is full, a new connection closes the
// oldest one still without a hello: idle connections opened before the ranks (any number of
// them) make room for each rank as it connects, and never take its place; a rank says hello
// as soon as it connects, so only a burst of ranks + 16 new connections inside that moment
// could close it. Once a rank's hello is
// accepted its connection gets the 32 MiB line cap of an exchange and no idle timeout: a
// rank may spend minutes in one CUDA call, and the coordinator's per-step timeout bounds it.
import { chmodSync, existsSync, statSync, unlinkSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createServer, type Server, type Socket } from 'node:net';
import { ProbeUsageError } from './options.js';
import { decodeRankMessage, LineSplitter, sampleOf } from './decode.js';
import {
  encodeMessage,
  HELLO_DEADLINE_MS,
  HELLO_LINE_BYTES,
  MAX_LINE_BYTES,
  SPARE_UNAUTHENTICATED,
  type CoordinatorMessage,
  type RankMessage,
} from './protocol.js';

export type RendezvousSpec = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export class RankConnection {
  /** Set once the coordinator accepted this connection's hello. */
  rank: number | null = null;
  constructor(
    private readonly socket: Socket,
    readonly from: string,
  ) {}

  send(message: CoordinatorMessage): void {
    if (!this.socket.destroyed) this.socket.write(encodeMessage(message));
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface RendezvousHandlers {
  /** Returns null to accept, or why the message is refused (then it is recorded). */
  message(connection: RankConnection, message: RankMessage): string | null;
  rejected(from: string, reason: string, sample: string): void;
  closed(connection: RankConnection): void;
}

export interface Rendezvous {
  /** What ranks get in CUIPC_PROBE_ADDRESS: "tcp:HOST:PORT" (HOST 127.0.0.1 unless asked) or "unix:PATH". */
  address: string;
  /** Closes every connection and the server, and removes the Unix socket; safe to call twice. */
  close(): Promise<void>;
  /** The same, synchronously, for when the process is exiting: the socket file goes at once. */
  closeNow(): void;
}

export interface RendezvousLimits {
  /** Connections open at once that have not said hello; more are closed as they arrive. */
  maxUnauthenticated: number;
  /** The longest line before hello. */
  helloLineBytes: number;
  /** How long a connection may stay without a hello. */
  helloDeadlineMs: number;
}

export function defaultLimits(ranks: number): RendezvousLimits {
  return { maxUnauthenticated: ranks + SPARE_UNAUTHENTICATED, helloLineBytes: HELLO_LINE_BYTES, helloDeadlineMs: HELLO_DEADLINE_MS };
}

function listen(server: Server, spec: RendezvousSpec): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (spec.kind === 'tcp') server.listen({ host: spec.host, port: spec.port, exclusive: true }, done);
    else server.listen({ path: spec.path, exclusive: true }, done);
  });
}

export async function openRendezvous(spec: RendezvousSpec, token: string, handlers: RendezvousHandlers, limits: RendezvousLimits = defaultLimits(0)): Promise<Rendezvous> {
  if (spec.kind === 'unix' && existsSync(spec.path)) {
    throw new ProbeUsageError(`--socket ${spec.path} already exists; remove it or choose another path`);
  }
  if (spec.kind === 'unix') {
    // listen() reports a missing folder as EACCES: say what is wrong instead.
    const folder = statSync(dirname(resolve(spec.path)), { throwIfNoEntry: false });
    if (folder === undefined) throw new ProbeUsageError(`--socket ${spec.path}: the folder ${dirname(resolve(spec.path))} does not exist`);
    if (!folder.isDirectory()) throw new ProbeUsageError(`--socket ${spec.path}: ${dirname(resolve(spec.path))} is not a folder`);
  }
  const sockets = new Set<Socket>();
  // Connections without a hello yet, oldest first (a Set keeps insertion order).
  const pending = new Set<Socket>();
  let evictions = 0;
  const server = createServer((socket) => {
    const from = spec.kind === 'tcp' ? `tcp ${socket.remoteAddress}:${socket.remotePort}` : `unix ${spec.path}`;
    if (pending.size >= limits.maxUnauthenticated) {
      // Recorded once per burst, not once per connection: the record itself must stay small.
      if (evictions++ === 0) handlers.rejected(from, `more than ${limits.maxUnauthenticated} connections without a hello; the oldest closed to make room`, '');
      const oldest = pending.values().next().value as Socket;
      pending.delete(oldest);
      oldest.destroy();
    }
    socket.setNoDelay(true); // see rank.ts: small lock-step lines must not wait for ACKs
    sockets.add(socket);
    pending.add(socket);
    const authenticated = (): void => {
      if (!pending.delete(socket)) return;
      clearTimeout(helloTimer);
      splitter.setMaxLineBytes(MAX_LINE_BYTES);
    };
    const connection = new RankConnection(socket, from);
    const splitter = new LineSplitter(limits.helloLineBytes);
    const helloTimer = setTimeout(() => {
      if (connection.rank !== null || socket.destroyed) return;
      handlers.rejected(from, `no hello within ${limits.helloDeadlineMs} ms`, '');
      socket.destroy();
    }, limits.helloDeadlineMs);
    helloTimer.unref();
    const reject = (reason: string, sample: string): void => {
      handlers.rejected(from, reason, sample);
      if (connection.rank === null) socket.destroy();
    };
    socket.on('data', (chunk: Buffer) => {
      let lines: string[];
      try {
        lines = splitter.push(chunk);
      } catch (error) {
        handlers.rejected(from, (error as Error).message, sampleOf(chunk.toString('utf8', 0, 80)));
        socket.destroy();
        return;
      }
      for (const line of lines) {
        if (socket.destroyed) return;
        if (line.trim() === '') continue;
        const decoded = decodeRankMessage(line, token);
        if (!decoded.ok) {
          reject(decoded.reason, sampleOf(line));
          continue;
        }
        if (connection.rank === null && decoded.message.type !== 'hello') {
          reject('a message before hello', sampleOf(line));
          continue;
        }
        if (connection.rank !== null && decoded.message.rank !== connection.rank) {
          reject(`rank ${decoded.message.rank} on the connection of rank ${connection.rank}`, sampleOf(line));
          continue;
        }
        let refusal: string | null;
        try {
          refusal = handlers.message(connection, decoded.message);
        } catch (error) {
          refusal = `could not be handled: ${(error as Error).message}`;
        }
        if (refusal !== null) reject(refusal, sampleOf(line));
        else if (connection.rank !== null) authenticated();
      }
    });
    socket.on('error', () => {
      // A reset from a dying rank; 'close' follows and reports it.
    });
    socket.on('close', () => {
      sockets.delete(socket);
      pending.delete(socket);
      clearTimeout(helloTimer);
      if (connection.rank !== null) handlers.closed(connection);
    });
  });
  server.on('error', () => {
    // After listen succeeded the server only reports accept failures; ranks time out instead.
  });
  try {
    await listen(server, spec);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const where = spec.kind === 'tcp' ? `port ${spec.port} on ${spec.host}` : `socket ${spec.path}`;
    if (code === 'EADDRINUSE') throw new ProbeUsageError(`--${spec.kind === 'tcp' ? 'port' : 'socket'}: ${where} is already taken`);
    throw new ProbeUsageError(`cannot listen on ${where}: ${code ?? (error as Error).message}`);
  }
  let address: string;
  if (spec.kind === 'tcp') {
    const info = server.address();
    if (info === null || typeof info === 'string') throw new Error('the TCP server has no port');
    address = `tcp:${spec.host}:${info.port}`;
  } else {
    chmodSync(spec.path, 0o600);
    address = `unix:${spec.path}`;
  }
  const removeSocketFile = (): void => {
    if (spec.kind !== 'unix') return;
    try {
      unlinkSync(spec.path);
    } catch {
      // already gone
    }
  };
  let closing: Promise<void> | null = null;
  return {
    address,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          removeSocketFile();
          resolve();
        });
      });
      return closing;
    },
    closeNow: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      removeSocketFile();
    },
  };
}
