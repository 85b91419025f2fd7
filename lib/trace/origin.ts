// Where a failing call's pointer came from, from the trace itself: the traced allocations, VMM
// maps and reservations replayed up to the call, and the line that says which one holds the
// pointer (shown in the trace summary and given to the explanation rules as evidence).
import { handleTypeNames } from '../report/provenance.js';
import type { HexString, TraceArgument, TraceCallLine, TraceCaller } from './format.js';

/** Where the failing call's pointer came from, as far as the trace saw. */
export interface AllocationOrigin {
  /** 'allocation': cudaMalloc and friends; 'vmm': cuMemCreate + cuMemMap; 'reservation': only reserved, never mapped. */
  how: 'allocation' | 'vmm' | 'reservation';
  /** The allocating call (the outer runtime call when the driver's was made inside it), or the cuMemMap. */
  call: TraceCallLine;
  base: HexString;
  size: number | null;
  /** VMM: the cuMemCreate that made the mapped physical memory (null when the trace missed it). */
  create: TraceCallLine | null;
  /** The call that freed or unmapped the memory before the failing call, if one did. */
  released: TraceCallLine | null;
  /** The library that made the memory (the cuMemCreate's caller for VMM). */
  madeBy: TraceCaller | null;
  /** The next libraries up that call's stack. */
  via: string[];
}

function hexToBig(value: TraceArgument | undefined | null): bigint | null {
  return typeof value === 'string' && /^0x[0-9a-f]+$/i.test(value) ? BigInt(value) : null;
}

function numberOf(value: TraceArgument | undefined): number | null {
  return typeof value === 'number' ? value : null;
}

export function libraryName(path: string): string {
  return path.split('/').pop() || path;
}

interface Region {
  start: bigint;
  end: bigint;
  call: TraceCallLine;
  create: TraceCallLine | null;
  released: TraceCallLine | null;
}

function region(start: bigint, size: number, call: TraceCallLine, create: TraceCallLine | null = null): Region {
  return { start, end: start + BigInt(Math.max(size, 1)), call, create, released: null };
}

/** Which traced allocation holds `ptr` just before call number `beforeSeq`. */
export function findOrigin(calls: readonly TraceCallLine[], ptr: HexString, beforeSeq: number): AllocationOrigin | null {
  const p = hexToBig(ptr);
  if (p === null) return null;
  const allocs: Region[] = [];
  const maps: Region[] = [];
  const reserves: Region[] = [];
  const released: Region[] = [];
  const creates = new Map<string, TraceCallLine>();
  const releaseWhere = (list: Region[], test: (r: Region) => boolean, by: TraceCallLine): void => {
    for (let i = list.length - 1; i >= 0; i--) {
      if (!test(list[i])) continue;
      released.push({ ...list[i], released: by });
      list.splice(i, 1);
    }
  };
  for (const c of calls) {
    if (c.seq >= beforeSeq) break;
    if (c.code !== 0) continue;
    switch (c.kind) {
      case 'alloc': {
        const at = hexToBig(c.out?.ptr);
        const size = numberOf(c.out?.size) ?? numberOf(c.args.size);
        if (at !== null && size !== null) allocs.push(region(at, size, c));
        break;
      }
      case 'free': {
        const at = hexToBig(c.args.ptr);
        if (at !== null && at !== 0n) releaseWhere(allocs, (r) => r.start === at, c);
        break;
      }
      case 'vmm-create': {
        const handle = c.out?.handle;
        if (typeof handle === 'string') creates.set(handle.toLowerCase(), c);
        break;
      }
      case 'vmm-map': {
        const at = hexToBig(c.args.ptr);
        const size = numberOf(c.args.size);
        const handle = c.args.handle;
        if (at !== null && size !== null) maps.push(region(at, size, c, typeof handle === 'string' ? (creates.get(handle.toLowerCase()) ?? null) : null));
        break;
      }
      case 'vmm-unmap': {
        const at = hexToBig(c.args.ptr);
        const size = numberOf(c.args.size);
        if (at !== null && size !== null) releaseWhere(maps, (r) => r.start >= at && r.end <= at + BigInt(size), c);
        break;
      }
      case 'vmm-reserve': {
        const at = hexToBig(c.out?.ptr);
        const size = numberOf(c.args.size);
        if (at !== null && size !== null) reserves.push(region(at, size, c));
        break;
      }
      case 'vmm-unreserve': {
        const at = hexToBig(c.args.ptr);
        if (at !== null) releaseWhere(reserves, (r) => r.start === at, c);
        break;
      }
      default:
        break;
    }
  }
  const holds = (r: Region): boolean => r.start <= p && p < r.end;
  const latest = (list: Region[]): Region | undefined => [...list].reverse().find(holds);

  const fromRegion = (r: Region, how: AllocationOrigin['how']): AllocationOrigin => {
    const maker = r.create ?? r.call;
    const size = Number(r.end - r.start);
    return {
      how,
      call: r.call,
      base: `0x${r.start.toString(16)}`,
      size: Number.isSafeInteger(size) ? size : null,
      create: r.create,
      released: r.released,
      madeBy: maker.caller ?? r.call.caller ?? null,
      via: maker.libs ?? r.call.libs ?? [],
    };
  };
  const map = latest(maps);
  if (map) return fromRegion(map, 'vmm');
  let alloc = latest(allocs);
  if (alloc?.call.within) {
    // The driver's allocation inside cudaMalloc: report the runtime call the program made.
    const parentSeq = alloc.call.within.seq;
    alloc = allocs.find((r) => r.call.seq === parentSeq && holds(r)) ?? alloc;
  }
  if (alloc) return fromRegion(alloc, 'allocation');
  const gone = latest(released);
  if (gone) return fromRegion(gone, gone.call.kind === 'vmm-map' ? 'vmm' : gone.call.kind === 'vmm-reserve' ? 'reservation' : 'allocation');
  const reserve = latest(reserves);
  return reserve ? fromRegion(reserve, 'reservation') : null;
}

function describeHandleTypes(call: TraceCallLine | null): string {
  const types = numberOf(call?.args.handleTypes);
  if (types === null) return 'unknown';
  const names = handleTypeNames(types);
  return names.length ? names.join(', ') : 'none';
}

function describeCaller(caller: TraceCaller | null, via: readonly string[]): string {
  if (!caller) return 'from an unknown caller';
  const chain = [caller.lib, ...via.slice(0, 3)].map(libraryName);
  return `from ${chain.join(' <- ')}${caller.symbol ? ` (${caller.symbol})` : ''}`;
}

/** One line on where the pointer came from; the same line goes into the explanation's evidence. */
export function describeOrigin(origin: AllocationOrigin | null, ptr: HexString): string {
  if (!origin) return `no traced allocation holds ${ptr}: it was made before tracing started, or by a call the tracer does not follow`;
  const c = origin.call;
  const range = `${origin.base} + ${origin.size ?? '?'} bytes`;
  let line: string;
  if (origin.how === 'vmm') {
    const create = origin.create;
    line = create
      ? `${ptr} lies in cuMemMap #${c.seq} (${range}) of the physical memory made by cuMemCreate #${create.seq} (${numberOf(create.args.size) ?? '?'} bytes, shareable handle types: ${describeHandleTypes(create)}), called ${describeCaller(origin.madeBy, origin.via)}`
      : `${ptr} lies in cuMemMap #${c.seq} (${range}), called ${describeCaller(origin.madeBy, origin.via)}; the cuMemCreate of its handle was not traced`;
  } else if (origin.how === 'reservation') {
    line = `${ptr} lies in the address range reserved by ${c.call} #${c.seq} (${range}), but no traced cuMemMap maps it`;
  } else {
    line = `${ptr} lies in ${c.call} #${c.seq} (${range}${c.memory ? `, ${c.memory} memory` : ''}), called ${describeCaller(origin.madeBy, origin.via)}`;
  }
  if (origin.released) line += `; it was released by ${origin.released.call} #${origin.released.seq} before the failing call`;
  return line;
}
