/** Virtual Disk Analysis (paper module 7): disk inspection results as causes. */
import type { DiskFinding } from '../disk/inspector.js';
import { ErrorCode } from '../errors.js';
import type { DiskReport } from '../monitor/virtual-disk-information-inspector.js';
import { shellQuote } from '../util/shell-quote.js';
import { type Cause, type CauseCode, PAPER_FAULT } from './evidence.js';

const FINDING_CAUSE: Record<DiskFinding['code'], { code: CauseCode; title: string; confidence: number }> = {
  LOOP_UNATTACHED: {
    code: 'UVDE',
    title: 'the virtual disk is a loop device with no file attached',
    // A fact read from dom0's loop driver, not an inference.
    confidence: 0.9,
  },
  NO_PARTITION_TABLE: {
    code: 'DIDF',
    title: 'the partition table of the virtual disk is destroyed',
    confidence: 0.7,
  },
  SUPERBLOCK_DAMAGED: {
    code: 'DIDF',
    title: 'the filesystem superblock of the virtual disk is destroyed',
    confidence: 0.7,
  },
  SUPERBLOCK_INVALID: {
    code: 'DIDF',
    title: "the filesystem superblock fails the kernel's mount checks",
    confidence: 0.7,
  },
  IMAGE_TRUNCATED: {
    code: 'DIDF',
    title: 'the virtual disk is shorter than its partitions or filesystem: the image was cut short',
    confidence: 0.7,
  },
  PARTITION_TABLE_CORRUPT: {
    code: 'DIDF',
    title: 'the partition table of the virtual disk is corrupt',
    confidence: 0.6,
  },
  NO_FILESYSTEM: {
    code: 'DIDF',
    title: 'a partition of the virtual disk holds no filesystem',
    confidence: 0.5,
  },
  SUPERBLOCK_CHECKSUM: {
    code: 'DIDF',
    title: 'the filesystem superblock checksum is wrong',
    confidence: 0.7,
  },
  GROUP_DESCRIPTORS_CORRUPT: {
    code: 'DIDF',
    title: 'the ext group descriptors are corrupt',
    confidence: 0.7,
  },
  GROUP_DESCRIPTOR_CHECKSUM: {
    code: 'DIDF',
    title: 'ext group descriptor checksums are wrong: the kernel mounts it read-only only',
    confidence: 0.6,
  },
  JOURNAL_DAMAGED: {
    code: 'DIDF',
    title: 'the filesystem journal is unusable',
    confidence: 0.7,
  },
  ROOT_INODE_CORRUPT: {
    code: 'DIDF',
    title: 'the root directory of the filesystem is corrupt',
    confidence: 0.7,
  },
  ROOT_DIRECTORY_CORRUPT: {
    code: 'DIDF',
    title: "the root directory's first block is corrupt: no path in the filesystem resolves",
    confidence: 0.7,
  },
  FEATURE_UNSUPPORTED: {
    code: 'DIDF',
    title: 'the filesystem uses features the guest kernel does not accept',
    confidence: 0.65,
  },
  DEVICES_MISSING: {
    code: 'VMCE',
    title: 'the filesystem spans several devices and the VM is not given the others',
    confidence: 0.7,
  },
  FILESYSTEM_WARNING: {
    code: 'DIDF',
    title: 'the filesystem mounts with a warning',
    confidence: 0.2,
  },
  // Linux without the "gpt" boot option does not read the backup header (block/partitions/efi.c).
  GPT_PRIMARY_DAMAGED: {
    code: 'DIDF',
    title: 'the primary GPT header is damaged: Linux finds no partitions',
    confidence: 0.7,
  },
  GPT_PROTECTIVE_MBR_INVALID: {
    code: 'DIDF',
    title: 'the GPT has no valid protective MBR: Linux finds no partitions',
    confidence: 0.65,
  },
  PARTED_ERROR: {
    code: 'DIDF',
    title: 'libparted reports an error reading the partition table',
    confidence: 0.4,
  },
};

/** Every finding code the inspector reports (the record above is checked total by the compiler). */
export const KNOWN_FINDING_CODES = Object.keys(FINDING_CAUSE) as DiskFinding['code'][];

// A disk target that exists but cannot be a disk: what the guest's backend will fail on too.
const UNUSABLE_TARGET = new Set<string>([
  ErrorCode.DISK_IS_DIRECTORY,
  ErrorCode.DISK_NOT_BLOCK_OR_FILE,
  ErrorCode.DISK_UNREADABLE,
  'ELOOP',
  'EACCES',
  'ENOTDIR',
]);

/**
 * Causes from the disk reports. Only faults (will not mount, read-only only) become
 * causes of a failed boot; a filesystem that mounts with a warning is left to the report.
 */
export function analyseVirtualDisks(reports: DiskReport[]): Cause[] {
  const causes: Cause[] = [];
  for (const { disk, inspection, error } of reports) {
    if (error) {
      // No target: a script-backed disk (iscsi, drbd, ...) that only its hotplug script can judge.
      if (error.code !== 'ERR_NO_TARGET') causes.push(errorCause(disk, error));
      continue;
    }
    for (const f of inspection?.findings ?? []) {
      if (f.severity === 'warning') continue;
      const kind = FINDING_CAUSE[f.code];
      const code: CauseCode = f.family === 'UVKE' ? 'UVKE' : kind.code;
      const readOnly = f.severity === 'read-only';
      causes.push({
        code,
        paperFault: PAPER_FAULT[code],
        title: `${disk.vdev}: ${f.family === 'UVKE' ? 'the guest kernel cannot mount this healthy filesystem' : kind.title}${readOnly && !kind.title.includes('read-only') ? ' (it mounts read-only only)' : ''}`,
        // A read-only-only mount stops a root that must be writable, but less surely.
        confidence: readOnly ? Math.min(kind.confidence, 0.6) : kind.confidence,
        disk: disk.vdev,
        evidence: [
          { source: 'inspector', detail: f.message, value: f.code },
          ...(f.kernelSays
            ? [{ source: 'inspector' as const, detail: 'the guest kernel would print', value: f.kernelSays }]
            : []),
        ],
        ...(f.remedy ? { remedy: f.remedy } : {}),
      });
    }
  }
  return causes;
}

function errorCause(disk: DiskReport['disk'], error: NonNullable<DiskReport['error']>): Cause {
  const missing = error.code === ErrorCode.DISK_NOT_FOUND;
  const empty = error.code === ErrorCode.DISK_EMPTY;
  const unusable = UNUSABLE_TARGET.has(error.code);
  const code: CauseCode = missing ? 'MISSING_IMAGE' : 'UVDE';
  const target = disk.target ? shellQuote(disk.target) : '(no target)';
  return {
    code,
    paperFault: PAPER_FAULT[code],
    title: missing
      ? `the backing storage of ${disk.vdev} does not exist`
      : empty
        ? `the disk image of ${disk.vdev} is empty`
        : unusable
          ? `the backing storage of ${disk.vdev} is not a usable disk (${error.code})`
          : `the backing storage of ${disk.vdev} could not be examined (${error.code}): the guest's backend may fail on it too`,
    // An error we could not classify is weaker evidence than a missing or empty image.
    confidence: missing || empty ? 0.9 : unusable ? 0.8 : 0.5,
    disk: disk.vdev,
    evidence: [{ source: 'inspector', detail: error.message, value: error.code }],
    remedy: missing
      ? `create or restore ${target}, or fix the target in the disk = [ ... ] line of the config`
      : empty
        ? `restore the image ${target} from a backup`
        : `point the disk = [ ... ] entry of ${disk.vdev} at a disk image file or block device`,
  };
}
