/** Virtual Disk Analysis (paper module 7): disk inspection results as causes. */
import type { DiskFinding } from '../disk/inspector.js';
import type { DiskReport } from '../monitor/virtual-disk-information-inspector.js';
import { type Cause, type CauseCode, PAPER_FAULT } from './evidence.js';

const FINDING_CAUSE: Record<DiskFinding['code'], { code: CauseCode; title: string; confidence: number }> = {
  LOOP_UNATTACHED: {
    code: 'UVDE',
    title: 'the virtual disk is a loop device with no file attached',
    confidence: 0.75,
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
    code: 'SUPERBLOCK_CHECKSUM',
    title: 'the ext superblock checksum is wrong',
    confidence: 0.6,
  },
  // Linux falls back to the backup GPT header, so this alone rarely stops a boot.
  GPT_PRIMARY_DAMAGED: { code: 'GPT_DAMAGED', title: 'the primary GPT header is damaged', confidence: 0.35 },
  PARTED_ERROR: {
    code: 'DIDF',
    title: 'libparted reports an error reading the partition table',
    confidence: 0.4,
  },
};

export function analyseVirtualDisks(reports: DiskReport[]): Cause[] {
  const causes: Cause[] = [];
  for (const { disk, inspection, error } of reports) {
    if (error) {
      const missing = error.code === 'ERR_DISK_NOT_FOUND';
      const empty = error.code === 'ERR_DISK_EMPTY';
      if (!missing && !empty) continue;
      const code: CauseCode = missing ? 'MISSING_IMAGE' : 'UVDE';
      causes.push({
        code,
        paperFault: PAPER_FAULT[code],
        title: missing
          ? `the backing storage of ${disk.vdev} does not exist`
          : `the disk image of ${disk.vdev} is empty`,
        confidence: 0.9,
        disk: disk.vdev,
        evidence: [{ source: 'inspector', detail: error.message, value: error.code }],
        remedy: missing
          ? `create or restore ${disk.target}, or fix the target in: disk = [ '${disk.spec}' ]`
          : `restore the image ${disk.target} from a backup`,
      });
      continue;
    }
    for (const f of inspection?.findings ?? []) {
      const kind = FINDING_CAUSE[f.code];
      causes.push({
        code: kind.code,
        paperFault: PAPER_FAULT[kind.code],
        title: `${disk.vdev}: ${kind.title}`,
        confidence: kind.confidence,
        disk: disk.vdev,
        evidence: [{ source: 'inspector', detail: f.message, value: f.code }],
        ...(f.remedy ? { remedy: f.remedy } : {}),
      });
    }
  }
  return causes;
}
