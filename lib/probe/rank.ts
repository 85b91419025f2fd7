// The rank program (`node dist/bundle/rank.cjs`, its own bundle: scripts/bundle.mjs), started
// by the coordinator with its rank number, the rendezvous address and the probe's token in its
// environment. It connects, says hello, starts its context once the hello is welcomed, runs each
// round it is sent, and leaves when told to or when the coordinator goes away.
//
// A rank must never outlive its probe. When the coordinator is gone (its socket closes, or
// this process is re-parented because its parent died) the rank releases what it holds and
// exits; the addon's lifeline thread sends it SIGKILL should that not complete within
// LEAVE_GRACE_MS, which is what happens when this thread is stuck in a CUDA call (the
// JavaScript thread runs no timers then, and process.exit() waits for libuv worker threads
// stuck in CUDA calls).
import { connect, type Socket } from 'node:net';
import type { NativeBinding } from '../../binding.js';
import { loadAddon } from '../binding/native.js';
import type { StepName, CallArguments } from '../model/vocabulary.js';
import { LineSplitter } from './decode.js';
import {
  ADDRESS_ENV,
  encodeMessage,
  PARENT_PID_ENV,
  placementFromEnvironment,
  RANK_ENV,
  TOKEN_ENV,
  type CoordinatorMessage,
  type RankMessage,
} from './protocol.js';
import { deviceHint } from './early-init.js';
import { RankSession } from './rank-session.js';

/** How long a rank may take to leave once it must: from a lost coordinator to SIGKILL. */
export const LEAVE_GRACE_MS = 400;

let lifeline: Pick<NativeBinding, 'lifeline' | 'lifelineDeadline'> | null = null;

/** Starts the addon's watch on the parent; false when the parent is gone already. */
function startLifeline(): boolean {
  try {
    lifeline = loadAddon().binding;
    const expected = Number(process.env[PARENT_PID_ENV]);
    return lifeline.lifeline(Number.isInteger(expected) && expected > 1 ? expected : process.ppid, LEAVE_GRACE_MS);
  } catch {
    // Without the addon the rank cannot run anyway; init reports why.
    lifeline = null;
    return true;
  }
}

/** The process ends within `ms`: normally, or by SIGKILL from the lifeline thread. */
function leaveWithin(ms: number): void {
  if (lifeline) lifeline.lifelineDeadline(ms);
  else setTimeout(() => process.kill(process.pid, 'SIGKILL'), ms).unref();
}

function fatal(message: string): never {
  process.stderr.write(`cuipc rank: ${message}\n`);
  leaveWithin(LEAVE_GRACE_MS);
  process.exit(1);
}

function connectTo(address: string): Socket {
  if (address.startsWith('tcp:')) {
    const at = address.lastIndexOf(':');
    return connect({ host: address.slice(4, at), port: Number(address.slice(at + 1)) });
  }
  if (address.startsWith('unix:')) return connect({ path: address.slice(5) });
  return fatal(`${ADDRESS_ENV} must be tcp:HOST:PORT or unix:PATH, got '${address}'`);
}

/** Runs this process as a rank; dist/bundle/rank.cjs calls it (importing this file runs nothing). */
export function main(): void {
  const token = process.env[TOKEN_ENV];
  const address = process.env[ADDRESS_ENV];
  const rank = Number(process.env[RANK_ENV]);
  if (!token || !address || !Number.isInteger(rank) || rank < 0) {
    fatal(`started without ${TOKEN_ENV}, ${ADDRESS_ENV} and ${RANK_ENV}; this program is run by \`cuipc probe\``);
  }
  if (!startLifeline()) fatal('the coordinator that started this rank is gone');
  const socket = connectTo(address);
  // Lock-step rounds are small request/answer lines: without this, Nagle's algorithm and
  // delayed ACKs hold each one back by tens of milliseconds.
  socket.setNoDelay(true);
  const send = (message: RankMessage): void => {
    // libuv writes at once when the socket is writable, so a 'calling' line is out before a call that blocks.
    socket.write(encodeMessage(message));
  };
  const announce = (step: StepName, call: string, method: string, args: CallArguments): void =>
    send({ type: 'calling', token, rank, step, call, method, args });
  const returned = (step: StepName, call: string): void => send({ type: 'returned', token, rank, step, call });
  const session = new RankSession(announce, returned);
  let leaving = false;
  // Rounds run one at a time, in arrival order.
  let queue: Promise<void> = Promise.resolve();

  socket.on('connect', () => {
    send({ type: 'hello', token, rank, pid: process.pid, placement: placementFromEnvironment(process.env) });
  });
  socket.on('error', (error) => {
    if (!leaving) process.stderr.write(`cuipc rank ${rank}: ${error.message}\n`);
  });
  socket.on('close', () => {
    if (leaving) return;
    // The coordinator is gone: release what we hold and go, by SIGKILL if a call is stuck.
    leaveWithin(LEAVE_GRACE_MS);
    session.abandon();
    process.exit(1);
  });
  const splitter = new LineSplitter();
  socket.on('data', (chunk: Buffer) => {
    let lines: string[];
    try {
      lines = splitter.push(chunk);
    } catch (error) {
      fatal(`from the coordinator: ${(error as Error).message}`);
    }
    for (const line of lines) {
      let message: CoordinatorMessage;
      try {
        message = JSON.parse(line) as CoordinatorMessage;
      } catch {
        fatal('the coordinator sent a line that is not JSON');
      }
      queue = queue.then(async () => {
        if (message.type === 'welcome') {
          // While the other ranks start: load the backend, start the context (early-init.ts).
          // Not before the welcome: until the coordinator has read our hello, a 'calling' line
          // sits on a connection it cannot tie to this rank, and a call that kills us would be
          // reported without its name.
          session.prestart(process.env.CUIPC_BACKEND, deviceHint(process.env, rank));
          return;
        }
        if (message.type === 'exit') {
          leaving = true;
          leaveWithin(5 * LEAVE_GRACE_MS);
          socket.end(() => process.exit(0));
          return;
        }
        const result = await session.run(message.step, message.phase, message.input);
        send({ type: 'result', token, rank, round: message.round, result });
      });
    }
  });
}
