// Reads the dynamic symbol table (.dynsym) of an ELF shared object, so that cuipc can tell
// whether an LD_PRELOAD entry replaces cudaMalloc/cudaFree or driver VMM calls without
// running `nm` (which may be missing in the container that launched the ranks).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export class ElfFormatError extends Error {
  override readonly name = 'ElfFormatError';
  constructor(readonly path: string, reason: string) {
    super(`${path}: not a readable ELF shared object: ${reason}`);
  }
}

type ElfSymbolBinding = 'global' | 'weak' | 'unique';
type ElfSymbolType = 'func' | 'object' | 'ifunc' | 'other';

interface ElfDynamicSymbol {
  name: string;
  binding: ElfSymbolBinding;
  type: ElfSymbolType;
}

interface ElfDynamicSymbols {
  path: string;
  elfClass: 32 | 64;
  littleEndian: boolean;
  /** e_machine: 62 x86-64, 183 AArch64, 21 PowerPC64, ... */
  machine: number;
  /** Symbols this object defines and exports (global, weak or unique; default or protected visibility). */
  exported: ElfDynamicSymbol[];
  /** Names of symbols it needs from other objects (undefined in .dynsym). */
  imported: string[];
}

const SHT_DYNSYM = 11;
const SHN_UNDEF = 0;
const STB_GLOBAL = 1;
const STB_WEAK = 2;
const STB_GNU_UNIQUE = 10;
const STT_OBJECT = 1;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const STV_HIDDEN = 2;
const STV_INTERNAL = 1;
// A .dynsym beyond this is not a shared object cuipc has any reason to read.
const MAX_TABLE_BYTES = 256 * 1024 * 1024;

/** Positional reads with bounds checks: a truncated or hostile file raises ElfFormatError, never a RangeError. */
class BoundedFile {
  readonly size: number;
  constructor(private readonly fd: number, private readonly path: string) {
    this.size = fstatSync(fd).size;
  }
  read(offset: number, length: number, what: string): Buffer {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 ||
        offset + length > this.size) {
      throw new ElfFormatError(this.path, `${what} lies outside the file (offset ${offset}, ${length} bytes, file ${this.size} bytes)`);
    }
    if (length > MAX_TABLE_BYTES) throw new ElfFormatError(this.path, `${what} is implausibly large (${length} bytes)`);
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buf, done, length - done, offset + done);
      if (n === 0) throw new ElfFormatError(this.path, `${what}: file ended early`);
      done += n;
    }
    return buf;
  }
}

/** Field access that hides class (32/64) and byte order. */
class Fields {
  constructor(private readonly buf: Buffer, private readonly le: boolean) {}
  u8(at: number): number { return this.buf.readUInt8(at); }
  u16(at: number): number { return this.le ? this.buf.readUInt16LE(at) : this.buf.readUInt16BE(at); }
  u32(at: number): number { return this.le ? this.buf.readUInt32LE(at) : this.buf.readUInt32BE(at); }
  u64(at: number): number {
    const v = this.le ? this.buf.readBigUInt64LE(at) : this.buf.readBigUInt64BE(at);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }
  word(at: number, is64: boolean): number { return is64 ? this.u64(at) : this.u32(at); }
}

interface SectionHeader { type: number; offset: number; size: number; link: number; entsize: number }

function readSectionHeaders(file: BoundedFile, path: string, ident: Buffer): {
  sections: SectionHeader[]; is64: boolean; le: boolean; machine: number;
} {
  const cls = ident[4];
  const data = ident[5];
  if (cls !== 1 && cls !== 2) throw new ElfFormatError(path, `unknown ELF class ${cls}`);
  if (data !== 1 && data !== 2) throw new ElfFormatError(path, `unknown ELF byte order ${data}`);
  const is64 = cls === 2;
  const le = data === 1;
  const header = new Fields(file.read(0, is64 ? 64 : 52, 'ELF header'), le);
  const machine = header.u16(18);
  const shoff = header.word(is64 ? 0x28 : 0x20, is64);
  const shentsize = header.u16(is64 ? 0x3a : 0x2e);
  const shnum = header.u16(is64 ? 0x3c : 0x30);
  if (shoff === 0 || shnum === 0) throw new ElfFormatError(path, 'it has no section headers');
  const minEntry = is64 ? 64 : 40;
  if (shentsize < minEntry) throw new ElfFormatError(path, `section header entry size ${shentsize} < ${minEntry}`);
  const table = new Fields(file.read(shoff, shentsize * shnum, 'section header table'), le);
  const sections: SectionHeader[] = [];
  for (let i = 0; i < shnum; i++) {
    const at = i * shentsize;
    sections.push(is64
      ? { type: table.u32(at + 4), offset: table.u64(at + 24), size: table.u64(at + 32), link: table.u32(at + 40), entsize: table.u64(at + 56) }
      : { type: table.u32(at + 4), offset: table.u32(at + 16), size: table.u32(at + 20), link: table.u32(at + 24), entsize: table.u32(at + 36) });
  }
  return { sections, is64, le, machine };
}

function cString(strtab: Buffer, offset: number): string {
  if (offset >= strtab.length) return '';
  const end = strtab.indexOf(0, offset);
  return strtab.toString('latin1', offset, end < 0 ? strtab.length : end);
}

/** Reads the exported and imported dynamic symbols of the ELF file at `path`. Throws ElfFormatError or a file-system error. */
export function readElfDynamicSymbols(path: string): ElfDynamicSymbols {
  const fd = openSync(path, 'r');
  try {
    const file = new BoundedFile(fd, path);
    if (file.size < 52) throw new ElfFormatError(path, `only ${file.size} bytes`);
    const ident = file.read(0, 16, 'ELF identification');
    if (ident.readUInt32BE(0) !== 0x7f454c46) throw new ElfFormatError(path, 'no ELF magic (\\x7fELF)');
    const { sections, is64, le, machine } = readSectionHeaders(file, path, ident);
    const result: ElfDynamicSymbols = { path, elfClass: is64 ? 64 : 32, littleEndian: le, machine, exported: [], imported: [] };
    const dynsym = sections.find((s) => s.type === SHT_DYNSYM);
    if (!dynsym) return result; // a static object: it can interpose nothing
    const entsize = dynsym.entsize || (is64 ? 24 : 16);
    if (entsize < (is64 ? 24 : 16)) throw new ElfFormatError(path, `.dynsym entry size ${entsize} is too small`);
    const strHeader = sections[dynsym.link];
    if (!strHeader) throw new ElfFormatError(path, `.dynsym links to missing string table ${dynsym.link}`);
    const strtab = file.read(strHeader.offset, strHeader.size, '.dynstr');
    const symbols = new Fields(file.read(dynsym.offset, dynsym.size, '.dynsym'), le);
    const count = Math.floor(dynsym.size / entsize);
    for (let i = 1; i < count; i++) {
      const at = i * entsize;
      const nameOffset = symbols.u32(at);
      const info = symbols.u8(at + (is64 ? 4 : 12));
      const other = symbols.u8(at + (is64 ? 5 : 13));
      const shndx = symbols.u16(at + (is64 ? 6 : 14));
      const bind = info >> 4;
      const type = info & 0xf;
      const name = cString(strtab, nameOffset);
      if (!name) continue;
      if (shndx === SHN_UNDEF) { result.imported.push(name); continue; }
      const visibility = other & 3;
      if (visibility === STV_HIDDEN || visibility === STV_INTERNAL) continue;
      if (bind !== STB_GLOBAL && bind !== STB_WEAK && bind !== STB_GNU_UNIQUE) continue;
      result.exported.push({
        name,
        binding: bind === STB_GLOBAL ? 'global' : bind === STB_WEAK ? 'weak' : 'unique',
        type: type === STT_FUNC ? 'func' : type === STT_OBJECT ? 'object' : type === STT_GNU_IFUNC ? 'ifunc' : 'other',
      });
    }
    return result;
  } finally {
    closeSync(fd);
  }
}
