/** What a guest kernel's mount path would conclude about one filesystem. */

/**
 * - will-not-mount: the kernel refuses every mount;
 * - read-only: it refuses a read-write mount (the usual root mount) but mounts read-only;
 * - warning: it mounts, and prints a warning. Only the first two are faults.
 */
export type MountSeverity = 'will-not-mount' | 'read-only' | 'warning';

export type MountProblemCode =
  | 'SUPERBLOCK_INVALID'
  | 'SUPERBLOCK_CHECKSUM'
  | 'GROUP_DESCRIPTORS_CORRUPT'
  | 'GROUP_DESCRIPTOR_CHECKSUM'
  | 'JOURNAL_DAMAGED'
  | 'ROOT_INODE_CORRUPT'
  | 'ROOT_DIRECTORY_CORRUPT'
  | 'FEATURE_UNSUPPORTED'
  | 'DEVICES_MISSING'
  | 'FILESYSTEM_WARNING';

export interface MountProblem {
  code: MountProblemCode;
  severity: MountSeverity;
  /**
   * DIDF: the disk is damaged. UVKE: a healthy filesystem the guest kernel cannot handle. VMCE: a
   * healthy filesystem whose other devices the VM must also be given.
   */
  family: 'DIDF' | 'UVKE' | 'VMCE';
  message: string;
  /** What the kernel prints, quoted from its source (file named in the model). */
  kernelSays?: string;
  remedy?: string;
}

export function isFault(severity: MountSeverity): boolean {
  return severity !== 'warning';
}
