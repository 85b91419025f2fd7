// Reads traces back: one process's file, line by line (a line that cannot be read is one of
// the trace's problems, not an error, since a process may die mid-write), and the trace files
// of a folder, found by name or by content. What the lines hold is format.ts's.
import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { READ_CAPS, readRegularFile } from '../files/read.js';
import { basename, join } from 'node:path';
import {
  CALL_KINDS,
  TRACE_FORMAT_VERSION,
  TraceFormatError,
  type CallKind,
  type ProcessTrace,
  type TraceArgument,
  type TraceCallLine,
  type TraceProcessLine,
  type TraceState,
  type TraceStatusLine,
} from './format.js';

const TRACE_FILE_PATTERN = /^cuipc-trace-(?:([A-Za-z0-9_-]+)-)?(\d+)\.jsonl$/;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isHex = (v: unknown): v is string => typeof v === 'string' && /^0x[0-9a-f]+$/i.test(v);

function need(ok: boolean, what: string): void {
  if (!ok) throw new TraceFormatError(what);
}

function checkProcess(o: Json): TraceProcessLine {
  need(typeof o.pid === 'number' && Number.isInteger(o.pid), 'process: pid must be an integer');
  need(typeof o.format === 'number', 'process: format must be a number');
  need((o.format as number) <= TRACE_FORMAT_VERSION, `process: format ${String(o.format)} is newer than this cuipc reads (${TRACE_FORMAT_VERSION})`);
  need(Array.isArray(o.argv) && o.argv.every((a) => typeof a === 'string'), 'process: argv must be an array of strings');
  need(isObject(o.env) && Object.values(o.env).every((v) => typeof v === 'string'), 'process: env must map names to strings');
  need(o.symbols === undefined || Array.isArray(o.symbols), 'process: symbols must be an array');
  return {
    type: 'process',
    format: o.format as number,
    pid: o.pid as number,
    ppid: typeof o.ppid === 'number' ? o.ppid : 0,
    ...(typeof o.forkedFrom === 'number' ? { forkedFrom: o.forkedFrom } : {}),
    run: typeof o.run === 'string' ? o.run : null,
    startedAt: typeof o.startedAt === 'string' ? o.startedAt : '',
    host: typeof o.host === 'string' ? o.host : '',
    exe: typeof o.exe === 'string' ? o.exe : '',
    argv: o.argv as string[],
    env: o.env as Record<string, string>,
    pidNamespace: typeof o.pidNamespace === 'string' ? o.pidNamespace : null,
    shm: isObject(o.shm) && typeof o.shm.sizeBytes === 'number' && typeof o.shm.freeBytes === 'number'
      ? { path: typeof o.shm.path === 'string' ? o.shm.path : '/dev/shm', sizeBytes: o.shm.sizeBytes, freeBytes: o.shm.freeBytes }
      : null,
    symbols: ((o.symbols as unknown[] | undefined) ?? []).filter(isObject).map((s) => ({
      symbol: String(s.symbol),
      path: typeof s.path === 'string' ? s.path : null,
      interposed: s.interposed === true,
    })),
    tracer: isObject(o.tracer) ? { library: String(o.tracer.library ?? ''), format: Number(o.tracer.format ?? o.format) } : { library: '', format: o.format as number },
    ...(typeof o.synthetic === 'string' ? { synthetic: o.synthetic } : {}),
  };
}

const STATES: readonly TraceState[] = ['tracing', 'cupti-unavailable', 'subscriber-busy', 'cupti-error'];

function checkStatus(o: Json): TraceStatusLine {
  need(STATES.includes(o.state as TraceState), `status: state must be one of ${STATES.join(', ')}`);
  return o as unknown as TraceStatusLine;
}

function checkArguments(v: unknown, where: string): Record<string, TraceArgument> {
  need(isObject(v), `${where} must be an object`);
  for (const [k, a] of Object.entries(v as Json)) {
    const ok = typeof a === 'number' || typeof a === 'string' || (isObject(a) && typeof a.type === 'number' && typeof a.id === 'number');
    need(ok, `${where}.${k} must be a number, a string or a location`);
  }
  return v as Record<string, TraceArgument>;
}

function checkCall(o: Json): TraceCallLine {
  need(typeof o.seq === 'number' && typeof o.tid === 'number' && typeof o.t === 'number', 'call: seq, t and tid must be numbers');
  need(o.api === 'runtime' || o.api === 'driver', 'call: api must be runtime or driver');
  need(typeof o.call === 'string' && o.call.length > 0, 'call: call must name the entry point');
  need(CALL_KINDS.includes(o.kind as CallKind), `call: unknown kind ${String(o.kind)}`);
  need(typeof o.code === 'number', 'call: code must be a number');
  need(o.codeName === undefined || (typeof o.codeName === 'string' && typeof o.codeMessage === 'string'), 'call: codeName and codeMessage must be strings');
  checkArguments(o.args, 'call: args');
  if (o.out !== undefined) checkArguments(o.out, 'call: out');
  if (o.provenance !== undefined) need(isObject(o.provenance) && isHex(o.provenance.ptr), 'call: provenance.ptr must be a hex pointer');
  if (o.capture !== undefined) need(isObject(o.capture) && Array.isArray(o.capture.active), 'call: capture.active must be an array');
  if (o.within !== undefined) need(isObject(o.within) && typeof o.within.seq === 'number', 'call: within.seq must be a number');
  return o as unknown as TraceCallLine;
}

/** Reads one process's trace. A cut last line (the process died mid-write) is a problem, not an error. */
export function parseTrace(text: string, file = '<trace>'): ProcessTrace {
  const trace: ProcessTrace = { file, process: null, status: null, calls: [], end: null, comments: [], problems: [] };
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${basename(file)}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      const last = lines.slice(i + 1).every((l) => l.trim() === '');
      trace.problems.push(`${where}: ${last ? 'the last line is cut short (the process ended while writing it)' : 'not JSON'}`);
      return;
    }
    try {
      need(isObject(value), 'a line must be a JSON object');
      const o = value as Json;
      switch (o.type) {
        case 'process':
          need(trace.process === null, 'a second process line');
          trace.process = checkProcess(o);
          break;
        case 'status':
          trace.status = checkStatus(o);
          break;
        case 'call':
          trace.calls.push(checkCall(o));
          break;
        case 'end':
          trace.end = { type: 'end', t: Number(o.t), calls: Number(o.calls), writeErrors: Number(o.writeErrors ?? 0) };
          break;
        case 'comment':
          trace.comments.push(String(o.text ?? ''));
          break;
        default:
          throw new TraceFormatError(`unknown line type ${JSON.stringify(o.type)}`);
      }
    } catch (error) {
      if (!(error instanceof TraceFormatError)) throw error;
      trace.problems.push(`${where}: ${error.message}`);
    }
  });
  if (trace.process === null) trace.problems.push(`${basename(file)}: no process line`);
  trace.calls.sort((a, b) => a.seq - b.seq);
  return trace;
}

export function readTraceFile(path: string): ProcessTrace {
  return parseTrace(readRegularFile(path, READ_CAPS.trace, 'trace').toString('utf8'), path);
}

/**
 * The pid and run of a file that starts like a trace (its first line that is not a comment is
 * a process line), or null. Reads only the head of the file (traces can be large); whether
 * the rest is a valid trace is for parseTrace to say, as problems.
 */
export function sniffTrace(path: string): { pid: number; run: string | null } | null {
  let head: string;
  let full = false;
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const buffer = Buffer.alloc(SNIFF_BYTES);
    const read = readSync(fd, buffer, 0, SNIFF_BYTES, 0);
    full = read === SNIFF_BYTES;
    head = buffer.subarray(0, read).toString('utf8');
  } catch {
    return null;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const lines = head.split('\n');
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      // A process line longer than the head: read what identifies it from its start.
      const cut = full && i === lines.length - 1;
      const pid = /"pid":(\d+)/.exec(line);
      if (!cut || !/^\{"type":"process"/.test(line) || !pid) return null;
      const run = /"run":"([A-Za-z0-9_-]+)"/.exec(line);
      return { pid: Number(pid[1]), run: run ? run[1] : null };
    }
    if (!isObject(value)) return null;
    if (value.type === 'comment') continue;
    if (value.type !== 'process' || typeof value.pid !== 'number' || !Number.isInteger(value.pid)) return null;
    return { pid: value.pid, run: typeof value.run === 'string' ? value.run : null };
  }
  return null;
}

const SNIFF_BYTES = 64 * 1024;

/**
 * Trace files in a folder: those the tracer named (cuipc-trace-<run>-<pid>.jsonl), and any
 * other file that starts like a trace (a user renamed or collected them); pid order.
 */
export function listTraceFiles(dir: string): Array<{ path: string; run: string | null; pid: number }> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    throw new TraceFormatError(`cannot read the trace folder ${dir}: ${(error as Error).message}`);
  }
  const files: Array<{ path: string; run: string | null; pid: number }> = [];
  for (const name of names) {
    const path = join(dir, name);
    const m = TRACE_FILE_PATTERN.exec(name);
    if (m) {
      files.push({ path, run: m[1] ?? null, pid: Number(m[2]) });
      continue;
    }
    if (!isRegularFile(path)) continue;
    const head = sniffTrace(path);
    if (head) files.push({ path, ...head });
  }
  return files.sort((a, b) => a.pid - b.pid || a.path.localeCompare(b.path));
}

function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
