/** The CLI's exit codes. Documented in README.md; stable across versions. */
export const ExitCode = {
  /** Boot OK, or no fault found/predicted. */
  OK: 0,
  /** Unexpected internal failure (a bug). */
  INTERNAL: 1,
  /** Bad input: unknown option, missing or unreadable file, directory, empty image, garbage config. */
  USAGE: 2,
  /** The host cannot do it: not a Xen dom0, xenstored down, native addon or a tool missing. */
  ENVIRONMENT: 3,
  /** `inspect` found or predicts a fault. */
  FAULT_PREDICTED: 4,
  /** `test`: the boot failed, then succeeded on a retry. */
  TRANSIENT: 5,
  /** `test`: the boot failed on every try. */
  PERMANENT: 6,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

const INPUT_ERRORS = new Set([
  'ERR_INVALID_ARGUMENT',
  'ERR_DISK_NOT_FOUND',
  'ERR_DISK_IS_DIRECTORY',
  'ERR_DISK_EMPTY',
  'ERR_DISK_NOT_BLOCK_OR_FILE',
  'ERR_DISK_UNREADABLE',
  'ERR_XL_CONFIG',
  'ERR_RULES',
  'ERR_NOT_REGULAR_FILE',
  'ERR_USAGE',
  // readTextFile's code for a console log that is missing, not a regular file or too big (diagnose).
  'ERR_BAD_LOG',
  'ERR_TIMELINE',
]);

/** Maps a library error code to the exit code a script can act on. */
export function exitCodeForError(code: string | undefined): ExitCodeValue {
  if (code && INPUT_ERRORS.has(code)) return ExitCode.USAGE;
  if (code?.startsWith('ERR_') || (code && /^E[A-Z0-9]+$/.test(code))) return ExitCode.ENVIRONMENT;
  return ExitCode.INTERNAL;
}
