/**
 * Lists the files of an initramfs without unpacking it: a sequence of cpio "newc" archives, the last of
 * which is usually compressed (Debian prepends an uncompressed early-microcode archive).
 */

import { stat } from 'node:fs/promises';
import { createRegularFileStream } from '../util/safe-open.js';
import {
  type Compression,
  debianPackageFor,
  decompressFileStream,
  detectCompression,
  errorText,
  readAt,
} from './compression.js';
import { findTool, runTool } from './tools.js';

const HEADER_SIZE = 110;
/** The kernel refuses names longer than PATH_MAX. */
const MAX_NAME_SIZE = 4096;
const TRAILER_NAME = 'TRAILER!!!';
const MODE_TYPE_MASK = 0o170000;
const MODE_REGULAR = 0o100000;
/** Debian writes two (early microcode + main); anything near this is crafted. */
const MAX_SEGMENTS = 64;

export const INITRAMFS_LIMITS = {
  /** Debian's default initrd is ~70 MB compressed; anything near this is not a ramdisk. */
  maxFileBytes: 1024 * 1024 * 1024,
  maxUnpackedBytes: 4 * 1024 * 1024 * 1024,
  maxEntries: 1_000_000,
  maxListedModules: 100_000,
};

export type InitramfsFailureReason =
  | 'corrupt'
  | 'truncated'
  | 'too-large'
  | 'tool-missing'
  | 'timeout'
  | 'io';

export class InitramfsError extends Error {
  constructor(
    message: string,
    readonly reason: InitramfsFailureReason,
    readonly offset?: number,
  ) {
    super(message);
    this.name = 'InitramfsError';
  }
}

export interface InitramfsListing {
  /** Compression of the main (last) archive; 'none' when every archive is plain cpio. */
  compression: Compression | 'none';
  /** Each archive in order, e.g. ['cpio', 'zstd'] for early microcode + a zstd main archive. */
  segments: string[];
  entryCount: number;
  /** Paths of kernel modules (.ko, .ko.xz, .ko.zst, .ko.gz) as stored, without a leading "./" or "/". */
  modulePaths: string[];
  moduleCount: number;
  lister: 'parser' | 'lsinitramfs';
  warnings: string[];
}

const MODULE_NAME = /\.ko(?:\.(?:xz|zst|gz))?$/;

function normalisePath(name: string): string {
  return name.replace(/^(?:\.?\/)+/, '');
}

/**
 * Push-based newc parser: it reads headers and names and skips file bodies without keeping them, so
 * memory stays small whatever the archive size. Every step consumes input, so corrupt data cannot loop.
 */
export class NewcScanner {
  /** Position in the input: the file offset for a plain scan, the unpacked offset inside a compressed archive. */
  offset = 0;
  archiveCount = 0;
  entryCount = 0;
  /** Where non-cpio, non-padding data starts, once seen. */
  foreignOffset: number | undefined;

  private state: 'gap' | 'header' | 'name' | 'body' | 'stopped' = 'gap';
  private readonly pending = Buffer.alloc(HEADER_SIZE + MAX_NAME_SIZE + 4);
  private pendingLength = 0;
  private needed = 0;
  private bodyRemaining = 0;
  private nameSize = 0;
  private fileMode = 0;
  private entryStart = 0;
  private insideArchive = false;

  /** `startOffset`: where the input begins in the file, since the kernel aligns headers on file offsets. */
  constructor(
    private readonly onEntry: (path: string, isRegularFile: boolean) => void,
    startOffset = 0,
  ) {
    this.offset = startOffset;
  }

  get stopped(): boolean {
    return this.state === 'stopped';
  }

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length && this.state !== 'stopped') {
      switch (this.state) {
        case 'gap': {
          // Zero padding may separate archives (cpio pads to 512 bytes); the kernel skips it byte by byte.
          while (i < chunk.length && chunk[i] === 0) {
            i++;
            this.offset++;
          }
          if (i === chunk.length) break;
          if (chunk[i] === 0x30 /* '0' */ && this.offset % 4 === 0) {
            this.beginHeader();
          } else {
            this.foreignOffset = this.offset;
            this.state = 'stopped';
          }
          break;
        }
        case 'header':
        case 'name': {
          const take = Math.min(this.needed - this.pendingLength, chunk.length - i);
          chunk.copy(this.pending, this.pendingLength, i, i + take);
          this.pendingLength += take;
          this.offset += take;
          i += take;
          if (this.pendingLength === this.needed) {
            if (this.state === 'header') this.parseHeader();
            else this.finishName();
          }
          break;
        }
        case 'body': {
          const take = Math.min(this.bodyRemaining, chunk.length - i);
          this.bodyRemaining -= take;
          this.offset += take;
          i += take;
          if (this.bodyRemaining === 0) this.beginHeader();
          break;
        }
      }
    }
  }

  /** Declares the end of input; throws if it cut an entry short. */
  end(): void {
    if (this.state === 'gap' || this.state === 'stopped') return;
    throw new InitramfsError(
      `cpio archive truncated: input ends inside the entry that starts at offset ${this.entryStart}`,
      'truncated',
      this.entryStart,
    );
  }

  private beginHeader(): void {
    this.state = 'header';
    this.entryStart = this.offset;
    this.pendingLength = 0;
    this.needed = HEADER_SIZE;
  }

  private corrupt(what: string): never {
    throw new InitramfsError(
      `corrupt cpio header at offset ${this.entryStart}: ${what}`,
      'corrupt',
      this.entryStart,
    );
  }

  private hexField(index: number): number {
    const start = 6 + index * 8;
    const text = this.pending.toString('latin1', start, start + 8);
    if (!/^[0-9a-fA-F]{8}$/.test(text))
      this.corrupt(`field ${index} is not hexadecimal (${JSON.stringify(text)})`);
    return Number.parseInt(text, 16);
  }

  private parseHeader(): void {
    const magic = this.pending.toString('latin1', 0, 6);
    if (magic !== '070701' && magic !== '070702') {
      this.corrupt(`magic ${JSON.stringify(magic)} is not newc (070701/070702)`);
    }
    if (!this.insideArchive) {
      this.archiveCount++;
      this.insideArchive = true;
    }
    this.fileMode = this.hexField(1);
    const fileSize = this.hexField(6);
    this.nameSize = this.hexField(11);
    if (this.nameSize < 1 || this.nameSize > MAX_NAME_SIZE) this.corrupt(`name size ${this.nameSize}`);
    this.bodyRemaining = align4(fileSize);
    this.state = 'name';
    this.needed = align4(HEADER_SIZE + this.nameSize);
  }

  private finishName(): void {
    const raw = this.pending.subarray(HEADER_SIZE, HEADER_SIZE + this.nameSize);
    const nul = raw.indexOf(0);
    const name = raw.toString('utf8', 0, nul === -1 ? raw.length : nul);
    if (name === TRAILER_NAME) {
      this.insideArchive = false;
      this.state = 'gap';
      return;
    }
    this.entryCount++;
    if (this.entryCount > INITRAMFS_LIMITS.maxEntries) {
      throw new InitramfsError(
        `more than ${INITRAMFS_LIMITS.maxEntries} entries`,
        'too-large',
        this.entryStart,
      );
    }
    this.onEntry(name, (this.fileMode & MODE_TYPE_MASK) === MODE_REGULAR);
    if (this.bodyRemaining === 0) this.beginHeader();
    else this.state = 'body';
  }
}

function align4(value: number): number {
  return Math.ceil(value / 4) * 4;
}

export interface ListInitramfsOptions {
  toolDirs: readonly string[];
  timeoutMs: number;
}

class ModuleCollector {
  readonly modulePaths: string[] = [];
  moduleCount = 0;
  add(path: string, isRegularFile: boolean): void {
    const normalised = normalisePath(path);
    if (!isRegularFile || !MODULE_NAME.test(normalised)) return;
    this.moduleCount++;
    if (this.modulePaths.length < INITRAMFS_LIMITS.maxListedModules) this.modulePaths.push(normalised);
  }
}

/** Lists an initramfs with the built-in parser, falling back to lsinitramfs when a decompressor is missing. */
export async function listInitramfs(path: string, options: ListInitramfsOptions): Promise<InitramfsListing> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new InitramfsError(`${path} is not a regular file`, 'io');
    size = info.size;
  } catch (error) {
    if (error instanceof InitramfsError) throw error;
    throw new InitramfsError(`cannot read ${path}: ${errorText(error)}`, 'io');
  }
  if (size > INITRAMFS_LIMITS.maxFileBytes) {
    throw new InitramfsError(
      `${path} is ${size} bytes, over the ${INITRAMFS_LIMITS.maxFileBytes} limit`,
      'too-large',
    );
  }

  const modules = new ModuleCollector();
  const onEntry = (name: string, isRegular: boolean) => modules.add(name, isRegular);
  const segments: string[] = [];
  const warnings: string[] = [];
  let compression: Compression | 'none' = 'none';
  let entryCount = 0;
  let offset = 0;
  let afterCompressed = false;
  // The kernel's own loop: plain cpio archives and zero padding, then a compressed archive, and again.
  while (offset < size) {
    if (segments.length >= MAX_SEGMENTS) {
      throw new InitramfsError(`more than ${MAX_SEGMENTS} archives`, 'too-large', offset);
    }
    const plain = new NewcScanner(onEntry, offset);
    await scanFile(path, plain);
    plain.end();
    for (let i = 0; i < plain.archiveCount; i++) segments.push('cpio');
    entryCount += plain.entryCount;
    if (plain.foreignOffset === undefined) break;

    const start = plain.foreignOffset;
    const head = await readAt(path, start, 16);
    const detected = detectCompression(head);
    if (!detected) {
      const junk = `unrecognised data at offset ${start} (not cpio, not a compression the kernel knows): ${head.subarray(0, 8).toString('hex')}`;
      if (afterCompressed && plain.archiveCount === 0) {
        // The kernel logs "Initramfs unpacking failed: invalid magic at start of compressed archive" and keeps
        // what it unpacked (unless CONFIG_BLK_DEV_RAM=y, when it falls back to an old-style initrd).
        warnings.push(`ignored ${junk}`);
        break;
      }
      throw new InitramfsError(junk, 'corrupt', start);
    }
    compression = detected;
    segments.push(detected);
    const inner = new NewcScanner(onEntry, 0);
    let unpacked = 0;
    let innerError: InitramfsError | undefined;
    const result = await decompressFileStream(
      detected,
      path,
      start,
      (chunk) => {
        unpacked += chunk.length;
        if (unpacked > INITRAMFS_LIMITS.maxUnpackedBytes) {
          innerError = new InitramfsError(
            `more than ${INITRAMFS_LIMITS.maxUnpackedBytes} bytes once decompressed`,
            'too-large',
          );
          return false;
        }
        try {
          inner.push(chunk);
        } catch (error) {
          innerError =
            error instanceof InitramfsError ? error : new InitramfsError(errorText(error), 'corrupt');
          return false;
        }
        return !inner.stopped;
      },
      options,
    );
    const context = `${detected} archive at offset ${start}`;
    if (innerError) throw withContext(innerError, context);
    if (!result.ok) {
      if (result.reason === 'tool-missing') {
        const listed = await listWithLsinitramfs(path, options);
        if (listed) return { ...listed, compression: detected, segments, warnings: [result.detail] };
        const pkg = debianPackageFor(detected);
        throw new InitramfsError(
          `${result.detail}; lsinitramfs is not installed either${pkg ? ` (install ${pkg})` : ''}`,
          'tool-missing',
          start,
        );
      }
      throw new InitramfsError(`${context}: ${result.detail}`, result.reason, start);
    }
    if (inner.foreignOffset !== undefined) {
      throw new InitramfsError(
        `${context}: junk at unpacked offset ${inner.foreignOffset}`,
        'corrupt',
        start,
      );
    }
    try {
      inner.end();
    } catch (error) {
      throw error instanceof InitramfsError ? withContext(error, context) : error;
    }
    if (inner.archiveCount === 0)
      throw new InitramfsError(`${context}: no cpio archive inside`, 'corrupt', start);
    entryCount += inner.entryCount;
    // Only gzip tells where its archive ends; the tools run to the end of the file.
    if (result.consumed === undefined) break;
    offset = start + result.consumed;
    afterCompressed = true;
  }
  if (segments.length === 0) throw new InitramfsError(`${path} holds no cpio archive`, 'corrupt', 0);
  return {
    compression,
    segments,
    entryCount,
    modulePaths: modules.modulePaths,
    moduleCount: modules.moduleCount,
    lister: 'parser',
    warnings,
  };
}

async function scanFile(path: string, scanner: NewcScanner): Promise<void> {
  let stream: Awaited<ReturnType<typeof createRegularFileStream>> | undefined;
  try {
    stream = await createRegularFileStream(path, { start: scanner.offset, highWaterMark: 1024 * 1024 });
    for await (const chunk of stream) {
      scanner.push(chunk as Buffer);
      if (scanner.stopped) break;
    }
  } catch (error) {
    if (error instanceof InitramfsError) throw error;
    throw new InitramfsError(`cannot read ${path}: ${errorText(error)}`, 'io');
  } finally {
    stream?.destroy();
  }
}

function withContext(error: InitramfsError, context: string): InitramfsError {
  return new InitramfsError(`${context}: ${error.message}`, error.reason, error.offset);
}

/** initramfs-tools' lister; it prints one path per line. Only used when we lack a decompressor. */
async function listWithLsinitramfs(
  path: string,
  options: ListInitramfsOptions,
): Promise<Omit<InitramfsListing, 'compression' | 'segments' | 'warnings'> | undefined> {
  const tool = await findTool('lsinitramfs', options.toolDirs);
  if (!tool) return undefined;
  const modules = new ModuleCollector();
  let entryCount = 0;
  let carry = '';
  let listed = 0;
  const takeLine = (line: string) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed === '.') return;
    entryCount++;
    modules.add(trimmed, true);
  };
  const run = await runTool(
    tool,
    [path],
    null,
    (chunk) => {
      listed += chunk.length;
      if (listed > 256 * 1024 * 1024) return false;
      const lines = (carry + chunk.toString('utf8')).split('\n');
      carry = lines.pop() ?? '';
      for (const line of lines) takeLine(line);
      return true;
    },
    options.timeoutMs,
  );
  takeLine(carry);
  if (run.spawnError || run.timedOut || run.stoppedEarly || run.code !== 0) return undefined;
  return {
    entryCount,
    modulePaths: modules.modulePaths,
    moduleCount: modules.moduleCount,
    lister: 'lsinitramfs',
  };
}
