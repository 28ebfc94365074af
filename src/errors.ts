/** Every error the library raises is a VmbootfailError with a stable `code`. */

export type LibraryName =
  | 'xenstore'
  | 'xenstat'
  | 'parted'
  | 'ext2fs'
  | 'blkid'
  | 'loop'
  | 'addon'
  | 'vmbootfail';

export interface ErrorDetails {
  /** errno name ("ENOENT", "EACCES", ...) for system errors, otherwise an ERR_* code. */
  code: string;
  errno?: number;
  lib?: LibraryName | string;
  /** The C function or step that failed, e.g. "xs_read". */
  op?: string;
  path?: string;
  cause?: unknown;
}

export class VmbootfailError extends Error {
  readonly code: string;
  readonly errno?: number;
  readonly lib?: string;
  readonly op?: string;
  readonly path?: string;

  constructor(message: string, details: ErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'VmbootfailError';
    this.code = details.code;
    if (details.errno !== undefined) this.errno = details.errno;
    if (details.lib !== undefined) this.lib = details.lib;
    if (details.op !== undefined) this.op = details.op;
    if (details.path !== undefined) this.path = details.path;
  }
}

/** Codes the library itself raises (system errors use errno names). */
export const ErrorCode = {
  /** A native call did not finish within its deadline. */
  DEADLINE: 'ERR_DEADLINE',
  CLOSED: 'ERR_CLOSED',
  NOT_OPEN: 'ERR_NOT_OPEN',
  INVALID_ARGUMENT: 'ERR_INVALID_ARGUMENT',
  LIB_UNAVAILABLE: 'ERR_LIB_UNAVAILABLE',
  ADDON_UNAVAILABLE: 'ERR_ADDON_UNAVAILABLE',
  XENSTORE_DISCONNECTED: 'ERR_XENSTORE_DISCONNECTED',
  XENSTAT_INIT: 'ERR_XENSTAT_INIT',
  DISK_NOT_FOUND: 'ERR_DISK_NOT_FOUND',
  DISK_IS_DIRECTORY: 'ERR_DISK_IS_DIRECTORY',
  DISK_EMPTY: 'ERR_DISK_EMPTY',
  DISK_NOT_BLOCK_OR_FILE: 'ERR_DISK_NOT_BLOCK_OR_FILE',
  DISK_UNREADABLE: 'ERR_DISK_UNREADABLE',
  TRANSACTION_CONFLICT: 'ERR_TRANSACTION_CONFLICT',
  /** `test` needs a Xen dom0 with xenstored: this host is not one. */
  NOT_DOM0: 'ERR_NOT_DOM0',
  /** A caller's callback (onPhase, onProgress) threw; the engine cleaned up first. */
  CALLBACK: 'ERR_CALLBACK',
  /** A file handed to the tool is not a regular file (a FIFO, a device) or is too large. */
  NOT_REGULAR_FILE: 'ERR_NOT_REGULAR_FILE',
} as const;

export function invalidArgument(message: string): VmbootfailError {
  return new VmbootfailError(message, { code: ErrorCode.INVALID_ARGUMENT, lib: 'vmbootfail' });
}
