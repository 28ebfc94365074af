/**
 * The one way vmbootfail opens a file it was handed (kernels, ramdisks, xl
 * configs, rules, console logs): the type is checked before anything can
 * block, and text is read with a size cap.
 *
 * A plain open(2) of a FIFO blocks until a writer appears (for ever, on a
 * thread of the libuv pool), a character device such as /dev/zero or
 * /dev/urandom never ends, and a terminal may become the controlling tty. So:
 * stat(2) first (follows symlinks, never blocks), then open with O_NONBLOCK |
 * O_NOCTTY, then fstat(2) the descriptor and check it is still the same
 * regular file (the path may have been swapped in between). O_NONBLOCK has no
 * effect on reads of a regular file.
 */
import { constants, type ReadStream, type Stats } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { VmbootfailError } from '../errors.js';

export type FileKind =
  | 'file'
  | 'directory'
  | 'fifo'
  | 'socket'
  | 'character device'
  | 'block device'
  | 'symbolic link'
  | 'unknown';

export function fileKind(info: Stats): FileKind {
  if (info.isFile()) return 'file';
  if (info.isDirectory()) return 'directory';
  if (info.isFIFO()) return 'fifo';
  if (info.isSocket()) return 'socket';
  if (info.isCharacterDevice()) return 'character device';
  if (info.isBlockDevice()) return 'block device';
  if (info.isSymbolicLink()) return 'symbolic link';
  return 'unknown';
}

export interface SafeOpenOptions {
  /** The error code raised (ERR_XL_CONFIG, ERR_RULES, ...). Default ERR_NOT_REGULAR_FILE. */
  code?: string;
  /** What the file is, for messages: "xl config", "rules file", "kernel". */
  what?: string;
}

/** Thrown for a path that is not a regular file, too large, not text or unreadable. */
export class UnsafeFileError extends VmbootfailError {
  readonly kind: FileKind | undefined;
  constructor(message: string, code: string, path: string, kind?: FileKind, cause?: unknown) {
    super(message, { code, path, lib: 'vmbootfail', ...(cause === undefined ? {} : { cause }) });
    this.name = 'UnsafeFileError';
    this.kind = kind;
  }
}

// libuv adds O_CLOEXEC itself.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

function describe(path: string, options: SafeOpenOptions): string {
  return options.what ? `${options.what} ${path}` : path;
}

function osMessage(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return 'does not exist';
  if (e.code === 'EACCES' || e.code === 'EPERM') return 'permission denied';
  if (e.code === 'ELOOP') return 'too many levels of symbolic links';
  if (e.code === 'ENOTDIR') return 'a component of the path is not a directory';
  return (e.message ?? String(error)).replace(/^[A-Z]+: /, '');
}

/**
 * Opens a regular file for reading without ever blocking on a FIFO or a
 * device. Rejects with an UnsafeFileError (the caller's code) otherwise.
 */
export async function openRegularFile(
  path: string,
  options: SafeOpenOptions = {},
): Promise<{ handle: FileHandle; info: Stats }> {
  const code = options.code ?? 'ERR_NOT_REGULAR_FILE';
  // The OS's own error (missing, permission, loop) as this module's typed one.
  const failed = (error: unknown) =>
    new UnsafeFileError(`${describe(path, options)}: ${osMessage(error)}`, code, path, undefined, error);
  let before: Stats;
  try {
    before = await stat(path);
  } catch (error) {
    throw failed(error);
  }
  const kind = fileKind(before);
  if (kind !== 'file') {
    throw new UnsafeFileError(
      `${describe(path, options)} is a ${kind}, not a regular file`,
      code,
      path,
      kind,
    );
  }
  let handle: FileHandle;
  try {
    handle = await open(path, OPEN_FLAGS);
  } catch (error) {
    throw failed(error);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.dev !== before.dev || info.ino !== before.ino) {
      throw new UnsafeFileError(
        `${describe(path, options)} changed while it was opened (now a ${fileKind(info)})`,
        code,
        path,
        fileKind(info),
      );
    }
    return { handle, info };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

export interface ReadTextOptions extends SafeOpenOptions {
  /** Larger files are refused. */
  maxBytes: number;
  /** Refuse files with NUL bytes (binary). Default true. */
  rejectBinary?: boolean;
}

/** Reads a regular text file of at most `maxBytes` bytes as UTF-8. */
export async function readTextFile(path: string, options: ReadTextOptions): Promise<string> {
  const code = options.code ?? 'ERR_NOT_REGULAR_FILE';
  const { handle, info } = await openRegularFile(path, options);
  try {
    if (info.size > options.maxBytes) {
      throw new UnsafeFileError(
        `${describe(path, options)} is ${info.size} bytes, larger than ${options.maxBytes}`,
        code,
        path,
        'file',
      );
    }
    // Read at most one byte past the cap: a file that grows meanwhile is still bounded.
    const buffer = Buffer.alloc(options.maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > options.maxBytes) {
        throw new UnsafeFileError(
          `${describe(path, options)} is larger than ${options.maxBytes} bytes`,
          code,
          path,
          'file',
        );
      }
    }
    const data = buffer.subarray(0, length);
    if ((options.rejectBinary ?? true) && data.includes(0)) {
      throw new UnsafeFileError(
        `${describe(path, options)} is binary (contains NUL bytes), not text`,
        code,
        path,
        'file',
      );
    }
    return data.toString('utf8');
  } finally {
    await handle.close();
  }
}

/** Reads up to `length` bytes at `position` of a regular file. */
export async function readRegularFileAt(
  path: string,
  position: number,
  length: number,
  options: SafeOpenOptions = {},
): Promise<Buffer> {
  const { handle } = await openRegularFile(path, options);
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, position);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** A read stream over a regular file (checked as above), from `start`. */
export async function createRegularFileStream(
  path: string,
  streamOptions: { start?: number; highWaterMark?: number },
  options: SafeOpenOptions = {},
): Promise<ReadStream> {
  const { handle } = await openRegularFile(path, options);
  return handle.createReadStream({ ...streamOptions, autoClose: true });
}
