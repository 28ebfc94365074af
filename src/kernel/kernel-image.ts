/**
 * Is a kernel image loadable as a Xen PV guest? Xen's PV loader needs an ELF image (raw, compressed, or
 * wrapped in a bzImage) carrying the XEN_ELFNOTE_ENTRY note, which Linux emits only with CONFIG_XEN_PV.
 *
 * We parse this ourselves: Xen 4.17's `readnotes` only gunzips a bzImage payload, and Debian's kernels are
 * xz-compressed (CONFIG_KERNEL_XZ=y), so on them it prints "File ... is not an ELF image" and exits 1.
 */

import type { Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { UnsafeFileError, openRegularFile } from '../util/safe-open.js';
import { type Compression, decompressBuffer, detectCompression, errorText } from './compression.js';
import { runTool } from './tools.js';

export const KERNEL_LIMITS = {
  /** A vmlinux with debug info can be several hundred MB; we only read its headers and notes. */
  maxFileBytes: 2 * 1024 * 1024 * 1024,
  /** A compressed payload (or whole compressed image) we are willing to load into memory. */
  maxCompressedBytes: 256 * 1024 * 1024,
  maxDecompressedBytes: 768 * 1024 * 1024,
  maxNoteBytes: 1024 * 1024,
  maxHeaderTableBytes: 16 * 1024 * 1024,
  maxSections: 65_535,
};

/** XEN_ELFNOTE_* from xen/include/public/elfnote.h. */
const XEN_NOTE_NAMES: Record<number, string> = {
  0: 'INFO',
  1: 'ENTRY',
  2: 'HYPERCALL_PAGE',
  3: 'VIRT_BASE',
  4: 'PADDR_OFFSET',
  5: 'XEN_VERSION',
  6: 'GUEST_OS',
  7: 'GUEST_VERSION',
  8: 'LOADER',
  9: 'PAE_MODE',
  10: 'FEATURES',
  11: 'BSD_SYMTAB',
  12: 'HV_START_LOW',
  13: 'L1_MFN_VALID',
  14: 'SUSPEND_CANCEL',
  15: 'INIT_P2M',
  16: 'MOD_START_PFN',
  17: 'SUPPORTED_FEATURES',
  18: 'PHYS32_ENTRY',
};
const XEN_ELFNOTE_ENTRY = 1;
const STRING_NOTES = new Set([5, 6, 7, 8, 9, 10]);

export type KernelImageFormat = 'missing' | 'bzImage' | 'elf' | 'compressed-elf' | 'multiboot' | 'unknown';

export interface KernelImageReport {
  exists: boolean;
  format: KernelImageFormat;
  /** First word of the bzImage version string, e.g. "6.1.0-56-amd64". */
  version?: string;
  /** The whole bzImage version string. */
  versionString?: string;
  /** Compression of the bzImage payload, or of the whole file. */
  compression?: Compression;
  pvCapable?: boolean;
  /** Xen ELF notes found, in order; string notes carry their value ("GUEST_OS=linux"). */
  xenNotes: string[];
  /** Why pvCapable is what it is, in words. */
  reason: string;
  /** Broken rather than merely not built for Xen (truncated, undecodable). */
  damaged: boolean;
  method: 'elf-notes' | 'readnotes' | 'none';
  /** What readnotes printed, when it was consulted. */
  readnotesOutput?: string;
}

export interface KernelImageOptions {
  toolDirs: readonly string[];
  timeoutMs: number;
  /** Path of Xen's readnotes, or undefined when unavailable or disabled. */
  readnotes: string | undefined;
}

interface ByteSource {
  size: number;
  read(offset: number, length: number): Promise<Buffer>;
}

class ElfFormatError extends Error {}

function bufferSource(data: Buffer): ByteSource {
  return {
    size: data.length,
    read: async (offset, length) => data.subarray(offset, Math.min(data.length, offset + length)),
  };
}

function fileSource(handle: FileHandle, size: number): ByteSource {
  return {
    size,
    read: async (offset, length) => {
      const wanted = Math.max(0, Math.min(length, size - offset));
      const buffer = Buffer.alloc(wanted);
      const { bytesRead } = await handle.read(buffer, 0, wanted, offset);
      return buffer.subarray(0, bytesRead);
    },
  };
}

export async function inspectKernelImage(
  path: string,
  options: KernelImageOptions,
): Promise<KernelImageReport> {
  let handle: FileHandle;
  let info: Stats;
  try {
    // Never a blocking open: a FIFO or a device named as the kernel must not hang the inspection.
    ({ handle, info } = await openRegularFile(path, { what: 'kernel' }));
  } catch (error) {
    const kind = error instanceof UnsafeFileError ? error.kind : undefined;
    return missing(kind ? `a ${kind}, not a regular file` : `cannot open: ${errorText(error)}`);
  }
  try {
    if (info.size > KERNEL_LIMITS.maxFileBytes) {
      return undecided('unknown', `${info.size} bytes, over the ${KERNEL_LIMITS.maxFileBytes} limit`);
    }
    const report = await classify(fileSource(handle, info.size), options);
    if (report.pvCapable === undefined && options.readnotes && report.format !== 'missing') {
      return await consultReadnotes(path, report, options);
    }
    return report;
  } finally {
    await handle.close();
  }
}

function missing(reason: string): KernelImageReport {
  return { exists: false, format: 'missing', xenNotes: [], reason, damaged: false, method: 'none' };
}

function undecided(format: KernelImageFormat, reason: string): KernelImageReport {
  return { exists: true, format, xenNotes: [], reason, damaged: false, method: 'none' };
}

function notLoadable(format: KernelImageFormat, reason: string, damaged: boolean): KernelImageReport {
  return { exists: true, format, pvCapable: false, xenNotes: [], reason, damaged, method: 'none' };
}

async function classify(source: ByteSource, options: KernelImageOptions): Promise<KernelImageReport> {
  const head = await source.read(0, 8192);
  if (isElf(head)) return await fromElf(source, 'elf');
  if (bzImageHeader(head)) {
    return await fromBzImage(source, head, options);
  }
  const compression = detectCompression(head);
  if (compression) {
    if (source.size > KERNEL_LIMITS.maxCompressedBytes) {
      return undecided('compressed-elf', `${compression} file too large to inspect`);
    }
    const report = await fromCompressed(
      await source.read(0, source.size),
      compression,
      'compressed-elf',
      options,
    );
    return { ...report, compression };
  }
  if (hasMultibootHeader(head)) {
    return undecided('multiboot', 'a multiboot image, not a Linux kernel: its PV support was not assessed');
  }
  return notLoadable(
    'unknown',
    'neither an ELF image nor a bzImage: Xen reports "xc_dom_find_loader: no loader found: Invalid kernel"',
    false,
  );
}

function isElf(head: Buffer): boolean {
  return head.length >= 4 && head.readUInt32BE(0) === 0x7f454c46;
}

/** The Linux x86 boot protocol header (Documentation/x86/boot.rst), read as Xen's bzImage loader does. */
/** Where a bzImage's setup header puts its payload (Documentation/arch/x86/boot.rst), or undefined. */
export function bzImageHeader(
  head: Buffer,
): { protocol: number; payloadOffset: number; payloadLength: number } | undefined {
  if (head.length < 0x250 || head.toString('latin1', 0x202, 0x206) !== 'HdrS') return undefined;
  return {
    protocol: head.readUInt16LE(0x206),
    payloadOffset: (head.readUInt8(0x1f1) + 1) * 512 + head.readUInt32LE(0x248),
    payloadLength: head.readUInt32LE(0x24c),
  };
}

async function fromBzImage(
  source: ByteSource,
  head: Buffer,
  options: KernelImageOptions,
): Promise<KernelImageReport> {
  const { protocol, payloadOffset, payloadLength } = bzImageHeader(head) ?? {
    protocol: 0,
    payloadOffset: 0,
    payloadLength: 0,
  };
  const versionString = readVersionString(head, head.readUInt16LE(0x20e));
  const withVersion = (report: KernelImageReport): KernelImageReport => {
    if (!versionString) return report;
    const version = versionString.split(' ')[0];
    return version ? { ...report, versionString, version } : { ...report, versionString };
  };
  if (protocol < 0x0208) {
    return withVersion(
      notLoadable(
        'bzImage',
        `boot protocol ${hex16(protocol)} is older than 2.08, which Xen requires`,
        false,
      ),
    );
  }
  if (payloadLength === 0 || payloadOffset + payloadLength > source.size) {
    return withVersion(
      notLoadable(
        'bzImage',
        `damaged: the payload (offset ${payloadOffset}, ${payloadLength} bytes) does not fit in the ${source.size}-byte file`,
        true,
      ),
    );
  }
  if (payloadLength > KERNEL_LIMITS.maxCompressedBytes) {
    return withVersion(undecided('bzImage', `payload of ${payloadLength} bytes is too large to inspect`));
  }
  const payload = await source.read(payloadOffset, payloadLength);
  if (isElf(payload)) return withVersion(await fromElf(bufferSource(payload), 'bzImage'));
  const compression = detectCompression(payload);
  if (!compression) {
    return withVersion(
      notLoadable('bzImage', 'damaged: the payload is neither ELF nor in a compression Linux uses', true),
    );
  }
  // Every compressor but gzip gets the uncompressed size appended by the kernel build (size_append).
  const stream = compression === 'gzip' ? payload : payload.subarray(0, Math.max(0, payload.length - 4));
  const report = await fromCompressed(stream, compression, 'bzImage', options);
  return withVersion({ ...report, compression });
}

async function fromCompressed(
  data: Buffer,
  compression: Compression,
  format: KernelImageFormat,
  options: KernelImageOptions,
): Promise<KernelImageReport> {
  const result = await decompressBuffer(compression, data, KERNEL_LIMITS.maxDecompressedBytes, options);
  if (!result.ok) {
    if (result.reason === 'corrupt') {
      return notLoadable(
        format,
        `damaged: the ${compression} data does not decompress (${result.detail})`,
        true,
      );
    }
    return undecided(format, `cannot decompress the ${compression} data: ${result.detail}`);
  }
  if (!isElf(result.data)) {
    return notLoadable(
      format,
      `the decompressed ${compression} data is not an ELF image`,
      format === 'bzImage',
    );
  }
  return await fromElf(bufferSource(result.data), format);
}

function readVersionString(head: Buffer, pointer: number): string | undefined {
  if (pointer === 0) return undefined;
  const start = pointer + 0x200;
  if (start >= head.length) return undefined;
  const end = head.indexOf(0, start);
  const text = head.toString('latin1', start, end === -1 ? Math.min(head.length, start + 256) : end);
  return /^[\x20-\x7e]+$/.test(text) ? text : undefined;
}

function hasMultibootHeader(head: Buffer): boolean {
  for (let offset = 0; offset + 12 <= head.length; offset += 4) {
    if (head.readUInt32LE(offset) !== 0x1badb002) continue;
    const sum = (0x1badb002 + head.readUInt32LE(offset + 4) + head.readUInt32LE(offset + 8)) >>> 0;
    if (sum === 0) return true;
  }
  return false;
}

async function fromElf(source: ByteSource, format: KernelImageFormat): Promise<KernelImageReport> {
  let scan: { notes: XenNote[]; hasXenGuestSection: boolean };
  try {
    scan = await scanXenNotes(source);
  } catch (error) {
    if (!(error instanceof ElfFormatError || error instanceof RangeError)) throw error;
    return notLoadable(format, `damaged ELF image: ${error.message}`, true);
  }
  const xenNotes = scan.notes.map((note) => note.label);
  const base = { exists: true, format, xenNotes, damaged: false, method: 'elf-notes' as const };
  if (scan.notes.some((note) => note.type === XEN_ELFNOTE_ENTRY)) {
    return { ...base, pvCapable: true, reason: 'Xen ELF notes include XEN_ELFNOTE_ENTRY (a PV entry point)' };
  }
  if (scan.hasXenGuestSection) {
    return { ...base, pvCapable: true, reason: 'legacy __xen_guest section present' };
  }
  if (scan.notes.length > 0) {
    return {
      ...base,
      pvCapable: false,
      reason: 'Xen ELF notes but no XEN_ELFNOTE_ENTRY: built without CONFIG_XEN_PV (PVH/HVM only)',
    };
  }
  return { ...base, pvCapable: false, reason: 'an ELF image without Xen ELF notes: not built for Xen PV' };
}

interface XenNote {
  type: number;
  label: string;
}

interface ElfLayout {
  is64: boolean;
  little: boolean;
}

function reader(buffer: Buffer, layout: ElfLayout) {
  const u16 = (at: number) => (layout.little ? buffer.readUInt16LE(at) : buffer.readUInt16BE(at));
  const u32 = (at: number) => (layout.little ? buffer.readUInt32LE(at) : buffer.readUInt32BE(at));
  const u64 = (at: number) => {
    const value = layout.little ? buffer.readBigUInt64LE(at) : buffer.readBigUInt64BE(at);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfFormatError(`value ${value} out of range`);
    return Number(value);
  };
  const word = (at: number) => (layout.is64 ? u64(at) : u32(at));
  return { u16, u32, word };
}

/** Reads PT_NOTE segments (as Xen does), then SHT_NOTE sections, and looks for a __xen_guest section. */
async function scanXenNotes(source: ByteSource): Promise<{ notes: XenNote[]; hasXenGuestSection: boolean }> {
  const ident = await source.read(0, 64);
  if (ident.length < 52) throw new ElfFormatError('file shorter than an ELF header');
  const elfClass = ident[4];
  const encoding = ident[5];
  if ((elfClass !== 1 && elfClass !== 2) || (encoding !== 1 && encoding !== 2)) {
    throw new ElfFormatError(`unknown ELF class ${elfClass} or data encoding ${encoding}`);
  }
  const layout: ElfLayout = { is64: elfClass === 2, little: encoding === 1 };
  if (layout.is64 && ident.length < 64) throw new ElfFormatError('file shorter than an ELF64 header');
  const header = reader(ident, layout);
  const phoff = header.word(layout.is64 ? 0x20 : 0x1c);
  const shoff = header.word(layout.is64 ? 0x28 : 0x20);
  const phentsize = header.u16(layout.is64 ? 0x36 : 0x2a);
  const phnum = header.u16(layout.is64 ? 0x38 : 0x2c);
  const shentsize = header.u16(layout.is64 ? 0x3a : 0x2e);
  const shnum = header.u16(layout.is64 ? 0x3c : 0x30);
  const shstrndx = header.u16(layout.is64 ? 0x3e : 0x32);

  const notes: XenNote[] = [];
  const minPhent = layout.is64 ? 56 : 32;
  if (phnum > 0) {
    if (phentsize < minPhent) throw new ElfFormatError(`program header size ${phentsize}`);
    const table = await readExactly(source, phoff, phnum * phentsize, 'program headers');
    const at = reader(table, layout);
    for (let i = 0; i < phnum; i++) {
      const base = i * phentsize;
      if (at.u32(base) !== 4 /* PT_NOTE */) continue;
      const offset = at.word(base + (layout.is64 ? 8 : 4));
      const size = at.word(base + (layout.is64 ? 32 : 16));
      // Some binutils leave p_offset 0 on note segments; Xen skips those too.
      if (offset === 0) continue;
      notes.push(...parseNotes(await readNoteBytes(source, offset, size), layout));
    }
  }

  let hasXenGuestSection = false;
  const minShent = layout.is64 ? 64 : 40;
  if (shnum > 0 && shoff > 0 && shnum <= KERNEL_LIMITS.maxSections) {
    if (shentsize < minShent) throw new ElfFormatError(`section header size ${shentsize}`);
    const table = await readExactly(source, shoff, shnum * shentsize, 'section headers');
    const at = reader(table, layout);
    const sectionOffset = (i: number) => at.word(i * shentsize + (layout.is64 ? 24 : 16));
    const sectionSize = (i: number) => at.word(i * shentsize + (layout.is64 ? 32 : 20));
    if (notes.length === 0) {
      for (let i = 0; i < shnum; i++) {
        if (at.u32(i * shentsize + 4) !== 7 /* SHT_NOTE */) continue;
        notes.push(...parseNotes(await readNoteBytes(source, sectionOffset(i), sectionSize(i)), layout));
      }
    }
    if (shstrndx > 0 && shstrndx < shnum) {
      const names = await readNoteBytes(source, sectionOffset(shstrndx), sectionSize(shstrndx));
      for (let i = 0; i < shnum && !hasXenGuestSection; i++) {
        const nameOffset = at.u32(i * shentsize);
        if (nameOffset >= names.length) continue;
        const end = names.indexOf(0, nameOffset);
        hasXenGuestSection =
          names.toString('latin1', nameOffset, end === -1 ? names.length : end) === '__xen_guest';
      }
    }
  }
  return { notes, hasXenGuestSection };
}

async function readExactly(
  source: ByteSource,
  offset: number,
  length: number,
  what: string,
): Promise<Buffer> {
  if (length > KERNEL_LIMITS.maxHeaderTableBytes) throw new ElfFormatError(`${what} take ${length} bytes`);
  if (offset + length > source.size) {
    throw new ElfFormatError(`${what} (offset ${offset}, ${length} bytes) run past the end of the image`);
  }
  return await source.read(offset, length);
}

async function readNoteBytes(source: ByteSource, offset: number, size: number): Promise<Buffer> {
  return await readExactly(source, offset, Math.min(size, KERNEL_LIMITS.maxNoteBytes), 'a note area');
}

/** Walks an ELF note area; each step advances at least 12 bytes, and a malformed tail ends the walk. */
function parseNotes(area: Buffer, layout: ElfLayout): XenNote[] {
  const at = reader(area, layout);
  const found: XenNote[] = [];
  let position = 0;
  while (position + 12 <= area.length) {
    const nameSize = at.u32(position);
    const descSize = at.u32(position + 4);
    const type = at.u32(position + 8);
    const nameStart = position + 12;
    const descStart = nameStart + align4(nameSize);
    const next = descStart + align4(descSize);
    if (next > area.length) break;
    const name = area.toString('latin1', nameStart, nameStart + nameSize).replace(/\0+$/, '');
    if (name === 'Xen') {
      const noteName = XEN_NOTE_NAMES[type] ?? `TYPE_${type}`;
      let label = noteName;
      if (STRING_NOTES.has(type)) {
        const value = area.toString('latin1', descStart, descStart + descSize).replace(/\0+$/, '');
        if (/^[\x20-\x7e]*$/.test(value)) label = `${noteName}=${value.slice(0, 80)}`;
      }
      found.push({ type, label });
    }
    position = next;
  }
  return found;
}

function align4(value: number): number {
  return Math.ceil(value / 4) * 4;
}

function hex16(value: number): string {
  return `0x${value.toString(16).padStart(4, '0')}`;
}

/** Xen's own note reader, asked only when our parser could not decide. */
async function consultReadnotes(
  path: string,
  report: KernelImageReport,
  options: KernelImageOptions,
): Promise<KernelImageReport> {
  const tool = options.readnotes;
  if (!tool) return report;
  let output = '';
  const run = await runTool(
    tool,
    [path],
    null,
    (chunk) => {
      output += chunk.toString('utf8');
      return output.length < 65_536;
    },
    options.timeoutMs,
  );
  const printed = `${output}${run.stderr ? `\n${run.stderr}` : ''}`.trim().slice(0, 2000);
  const withOutput = { ...report, readnotesOutput: printed };
  if (run.spawnError || run.timedOut || run.stoppedEarly) return withOutput;
  const lines = output.split('\n').filter((line) => line.trim() !== '');
  if (run.code === 0 && lines.length > 0) {
    const pvCapable = lines.some((line) => line.startsWith('ENTRY:') || line.startsWith('__xen_guest:'));
    return {
      ...withOutput,
      pvCapable,
      method: 'readnotes',
      xenNotes: lines.map((line) => line.split(':')[0] ?? line),
      reason: pvCapable
        ? 'readnotes shows a PV entry point (ENTRY)'
        : 'readnotes shows Xen notes but no ENTRY: built without CONFIG_XEN_PV',
    };
  }
  // Exit 0 with no output is an ELF without Xen notes; "not an ELF image" from readnotes is not
  // conclusive, because it cannot decompress anything but gzip.
  if (run.code === 0) {
    return {
      ...withOutput,
      pvCapable: false,
      method: 'readnotes',
      reason: 'readnotes finds no Xen ELF notes: not built for Xen PV',
    };
  }
  return withOutput;
}
