/**
 * DiskInspector: what is on a virtual disk (image file or block device), and
 * what is wrong with it. Combines libparted (label, partitions), libblkid
 * (filesystem signatures, GPT from either header), libext2fs (superblock
 * checksum, backup superblocks) and loop-device status. Never writes.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, VmbootfailError, invalidArgument } from '../errors.js';
import { withDeadline } from '../native/deadline.js';
import { nativeAddon } from '../native/loader.js';
import type {
  NativeAddon,
  NativeBlkidReport,
  NativeExt2Report,
  NativeLoopReport,
  NativePartedMessage,
} from '../native/native-types.js';

export type DiskFindingCode =
  | 'LOOP_UNATTACHED'
  | 'NO_PARTITION_TABLE'
  | 'GPT_PRIMARY_DAMAGED'
  | 'SUPERBLOCK_DAMAGED'
  | 'SUPERBLOCK_CHECKSUM'
  | 'NO_FILESYSTEM'
  | 'IMAGE_TRUNCATED'
  | 'PARTITION_TABLE_CORRUPT'
  | 'PARTED_ERROR';

export interface DiskFinding {
  code: DiskFindingCode;
  /** Partition number the finding is about; absent for the whole disk. */
  partition?: number;
  message: string;
  /** A command an operator can run to repair or confirm, when there is one. */
  remedy?: string;
}

export interface Ext2State {
  primary: 'valid' | NonNullable<NativeExt2Report['primaryProblem']>;
  primaryError?: string;
  backupSuperblock?: { block: number; blockSize: number };
  blockSize?: number;
  blocks?: number;
  uuid?: string;
  hasJournal?: boolean;
  metadataChecksums?: boolean;
}

export interface FilesystemInfo {
  /** ext4, xfs, btrfs, swap, ... or null when no signature was found. */
  type: string | null;
  uuid?: string;
  label?: string;
  /** Present when the area was checked as ext2/3/4. */
  ext?: Ext2State;
}

export interface PartitionInfo {
  number: number;
  kind: 'normal' | 'logical' | 'extended';
  startSector: number;
  lengthSectors: number;
  filesystem: FilesystemInfo;
}

export interface DiskInspection {
  /** As given. */
  path: string;
  realPath: string;
  kind: 'file' | 'block-device';
  sizeBytes: number;
  sectorSize: number;
  /** libparted's label: msdos, gpt, loop (a filesystem on the whole disk), ... or 'none'. */
  label: string;
  partitions: PartitionInfo[];
  /** The filesystem on the whole disk, when there is no partition table. */
  wholeDisk?: FilesystemInfo;
  gpt?: { primaryHeader: 'valid' | 'damaged'; backupHeader: 'valid' | 'unknown' };
  loop?: { attached: boolean; backingFile?: string; offset?: number; readOnly?: boolean };
  findings: DiskFinding[];
  /** What libparted reported, with the answer given (never Fix or Retry). */
  libraryMessages: NativePartedMessage[];
  /** libparted fell back to a read-only open (proof it could not have written). */
  openedReadOnly: boolean;
  elapsedMs: number;
}

export interface DiskInspectorOptions {
  /** Deadline for each native probe. Default 10000 ms. */
  callTimeoutMs?: number;
}

const EXT_TYPES = new Set(['ext2', 'ext3', 'ext4']);
// libparted's own notice when our read-only disk thread makes it fall back.
const READ_ONLY_NOTICE =
  /^Unable to open .* read-write \(Permission denied\)\.\s+.* has been opened read-only\.$/s;
// Where a partition usually starts, for finding a filesystem whose table was erased.
const USUAL_PARTITION_STARTS = [2048, 63, 4096];
// libparted's notice when a structure on the disk points past its end.
const READ_PAST_END = /^end of file while reading /;
// What libparted says about a disk cut short, once IMAGE_TRUNCATED has said it better.
const TRUNCATION_CONSEQUENCE =
  /^end of file while reading |^Can't have a partition outside the disk|^The backup GPT table is corrupt/;

export class DiskInspector {
  readonly #timeoutMs: number;

  constructor(options: DiskInspectorOptions = {}) {
    this.#timeoutMs = options.callTimeoutMs ?? 10_000;
  }

  async inspect(diskPath: string): Promise<DiskInspection> {
    if (typeof diskPath !== 'string' || diskPath.length === 0) {
      throw invalidArgument('disk path must be a non-empty string');
    }
    const started = performance.now();
    const addon = nativeAddon();
    const { kind, sizeBytes, realPath } = await this.#checkTarget(diskPath);
    const inspection: DiskInspection = {
      path: diskPath,
      realPath,
      kind,
      sizeBytes,
      sectorSize: 512,
      label: 'none',
      partitions: [],
      findings: [],
      libraryMessages: [],
      openedReadOnly: true,
      elapsedMs: 0,
    };

    if (kind === 'block-device') {
      const loop = await this.#probe('LOOP_GET_STATUS64', realPath, () => addon.loopProbe(realPath));
      if (loop.isLoop) {
        inspection.loop = await describeLoop(realPath, loop);
        if (!loop.attached) {
          inspection.findings.push({
            code: 'LOOP_UNATTACHED',
            message: `${diskPath} is a loop device with no file attached (the "not allocated device" of the paper)`,
            remedy: `losetup ${diskPath} <image-file>`,
          });
          inspection.elapsedMs = performance.now() - started;
          return inspection;
        }
      }
      if (sizeBytes === 0)
        throw diskError(ErrorCode.DISK_EMPTY, `${diskPath} is a block device of size 0`, diskPath);
    }

    const parted = await this.#probe('ped_disk_probe', realPath, () => addon.partedProbe(realPath));
    inspection.sectorSize = parted.sectorSize;
    inspection.openedReadOnly = parted.openedReadOnly || !parted.opened;
    inspection.libraryMessages = parted.messages.filter((m) => !READ_ONLY_NOTICE.test(m.message));
    inspection.label = parted.label ?? 'none';
    const sector = parted.sectorSize;

    for (const p of parted.partitions) {
      const filesystem =
        p.kind === 'extended'
          ? { type: null }
          : await this.#partitionFilesystem(addon, inspection, p.startSector, p.lengthSectors, p.filesystem);
      inspection.partitions.push({ ...p, filesystem });
    }

    const wholeDisk = await this.#probe('blkid_do_safeprobe', realPath, () =>
      addon.blkidProbe(realPath, 0, 0),
    );
    if (!parted.label && wholeDisk.partitionTable) {
      // libparted gave up (e.g. GPT primary header zeroed) but libblkid read the table
      // from its backup: report those partitions, so every filesystem is still checked.
      for (const p of wholeDisk.partitionTable.partitions) {
        const filesystem = await this.#partitionFilesystem(
          addon,
          inspection,
          p.startSector,
          p.sizeSectors,
          null,
        );
        inspection.partitions.push({
          number: p.number,
          kind: 'normal',
          startSector: p.startSector,
          lengthSectors: p.sizeSectors,
          filesystem,
        });
      }
    }
    if (inspection.label === 'none' || inspection.label === 'loop') {
      inspection.wholeDisk = await this.#filesystemAt(addon, realPath, 0, 0, null, wholeDisk);
    }
    if (inspection.label === 'loop') {
      // libparted's "loop" label is a filesystem on the whole disk: one pseudo-partition.
      inspection.partitions = [];
    }

    await this.#judge(addon, inspection, wholeDisk);
    inspection.elapsedMs = performance.now() - started;
    return inspection;
  }

  async #checkTarget(
    diskPath: string,
  ): Promise<{ kind: 'file' | 'block-device'; sizeBytes: number; realPath: string }> {
    let info: Awaited<ReturnType<typeof stat>>;
    let realPath: string;
    try {
      realPath = await realpath(diskPath);
      info = await stat(realPath);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT')
        throw diskError(ErrorCode.DISK_NOT_FOUND, `${diskPath} does not exist`, diskPath, error);
      throw diskError(
        ErrorCode.DISK_UNREADABLE,
        `${diskPath} cannot be examined: ${(error as Error).message}`,
        diskPath,
        error,
      );
    }
    if (info.isDirectory())
      throw diskError(ErrorCode.DISK_IS_DIRECTORY, `${diskPath} is a directory, not a disk`, diskPath);
    if (info.isFile()) {
      if (info.size === 0)
        throw diskError(ErrorCode.DISK_EMPTY, `${diskPath} is an empty (0-byte) file`, diskPath);
      return { kind: 'file', sizeBytes: info.size, realPath };
    }
    if (info.isBlockDevice()) {
      return { kind: 'block-device', sizeBytes: await blockDeviceSize(realPath), realPath };
    }
    const what = info.isCharacterDevice()
      ? 'a character device'
      : info.isFIFO()
        ? 'a FIFO'
        : 'not a regular file';
    throw diskError(
      ErrorCode.DISK_NOT_BLOCK_OR_FILE,
      `${diskPath} is ${what}, not a disk image or block device`,
      diskPath,
    );
  }

  /**
   * The filesystem of a partition, probed only within the disk: a table from a
   * truncated image or a hostile guest can point anywhere, and libblkid refuses
   * an area past the end (EINVAL).
   */
  async #partitionFilesystem(
    addon: NativeAddon,
    inspection: DiskInspection,
    startSector: number,
    lengthSectors: number,
    partedType: string | null,
  ): Promise<FilesystemInfo> {
    if (!startsOnDisk(startSector, inspection)) return { type: null };
    const offset = startSector * inspection.sectorSize;
    const size = Math.min(lengthSectors * inspection.sectorSize, inspection.sizeBytes - offset);
    return this.#filesystemAt(addon, inspection.realPath, offset, size, partedType);
  }

  /** Filesystem signature at [offset, offset+size), with an ext2/3/4 superblock check. */
  async #filesystemAt(
    addon: NativeAddon,
    diskPath: string,
    offset: number,
    size: number,
    partedType: string | null,
    known?: NativeBlkidReport,
  ): Promise<FilesystemInfo> {
    const blkid =
      known ??
      (await this.#probe('blkid_do_safeprobe', diskPath, () => addon.blkidProbe(diskPath, offset, size)));
    const type = blkid.values.TYPE ?? partedType ?? null;
    const info: FilesystemInfo = { type };
    if (blkid.values.UUID) info.uuid = blkid.values.UUID;
    if (blkid.values.LABEL) info.label = blkid.values.LABEL;
    const looksLikeExt = type === null ? !blkid.partitionTable : EXT_TYPES.has(type);
    // A wiped ext superblock leaves no signature: only its backups tell what it was.
    if (looksLikeExt) {
      const ext = await this.#probe('ext2fs_open2', diskPath, () => addon.ext2Probe(diskPath, offset));
      if (ext.primaryValid || ext.backup) info.ext = toExt2State(ext);
    }
    return info;
  }

  async #judge(addon: NativeAddon, inspection: DiskInspection, wholeDisk: NativeBlkidReport): Promise<void> {
    const { findings, path: diskPath } = inspection;
    const sector = inspection.sectorSize;
    // libparted gave up on an assertion: its silence says nothing about the GPT headers.
    const partedAbandoned = inspection.libraryMessages.some((m) => m.answer === 'probe-abandoned');
    const gptBehindLibparted =
      wholeDisk.partitionTable?.type === 'gpt' && inspection.label !== 'gpt' && !partedAbandoned;
    const gptCorruptMessage = inspection.libraryMessages.some((m) =>
      /primary GPT table is corrupt/i.test(m.message),
    );
    if (wholeDisk.partitionTable?.type === 'gpt' || inspection.label === 'gpt') {
      const damaged = gptBehindLibparted || gptCorruptMessage;
      inspection.gpt = {
        primaryHeader: damaged ? 'damaged' : 'valid',
        backupHeader: damaged ? 'valid' : 'unknown',
      };
      if (damaged) {
        findings.push({
          code: 'GPT_PRIMARY_DAMAGED',
          message: `the primary GPT header of ${diskPath} is damaged; the backup header at the end of the disk is intact`,
          remedy: `printf 'r\\nb\\nw\\ny\\n' | gdisk ${diskPath}  # recovery menu: rebuild the main header from the backup`,
        });
      }
    }

    // A table libblkid can read (libparted refuses e.g. one that runs past the end) is not erased.
    if (inspection.label === 'none' && !wholeDisk.partitionTable) {
      const whole = inspection.wholeDisk;
      if (!whole || (whole.type === null && !whole.ext)) {
        const orphan = await this.#findOrphanFilesystem(addon, inspection);
        findings.push({
          code: 'NO_PARTITION_TABLE',
          message: orphan
            ? `${diskPath} has no partition table, but an ${orphan.type} filesystem starts at sector ${orphan.sector}: the table was erased`
            : `${diskPath} has neither a partition table nor a filesystem`,
          ...(orphan
            ? {
                remedy: `parted -s ${diskPath} mklabel msdos mkpart primary ${orphan.type} ${orphan.sector}s 100%`,
              }
            : {}),
        });
      }
    }

    this.#judgeSize(inspection);

    const areas: { fs: FilesystemInfo; partition?: number; offset: number }[] = inspection.partitions
      // A partition that starts past the end was not probed: IMAGE_TRUNCATED says why.
      .filter((p) => p.kind !== 'extended' && startsOnDisk(p.startSector, inspection))
      .map((p) => ({ fs: p.filesystem, partition: p.number, offset: p.startSector * sector }));
    const whole = inspection.wholeDisk;
    if (whole && (whole.type !== null || whole.ext)) areas.push({ fs: whole, offset: 0 });

    for (const { fs, partition, offset } of areas) {
      const where =
        partition === undefined ? `the filesystem on ${diskPath}` : `partition ${partition} of ${diskPath}`;
      const device = partition === undefined ? diskPath : partitionDevice(inspection, partition, offset);
      const ext = fs.ext;
      const at = partition === undefined ? {} : { partition };
      if (ext && ext.primary !== 'valid' && ext.backupSuperblock) {
        const { block, blockSize } = ext.backupSuperblock;
        const checksum = ext.primary === 'bad-checksum';
        findings.push({
          code: checksum ? 'SUPERBLOCK_CHECKSUM' : 'SUPERBLOCK_DAMAGED',
          ...at,
          message: `${where}: the primary ext superblock is unusable (${ext.primaryError ?? ext.primary}); a valid backup superblock is at block ${block} (block size ${blockSize})`,
          remedy: `e2fsck -b ${block} -B ${blockSize} ${device}`,
        });
      } else if (ext && ext.primary === 'bad-checksum') {
        findings.push({
          code: 'SUPERBLOCK_CHECKSUM',
          ...at,
          message: `${where}: the ext superblock checksum does not match (${ext.primaryError ?? ''})`,
          remedy: `e2fsck -f ${device}`,
        });
      } else if (fs.type === null && partition !== undefined) {
        findings.push({
          code: 'NO_FILESYSTEM',
          ...at,
          message: `${where} holds no recognisable filesystem and no backup ext superblock`,
        });
      }
    }

    const truncated = findings.some((f) => f.code === 'IMAGE_TRUNCATED');
    for (const m of inspection.libraryMessages) {
      const explained = gptCorruptMessage || (truncated && TRUNCATION_CONSEQUENCE.test(m.message));
      if ((m.type === 'error' || m.type === 'fatal' || m.type === 'bug') && !explained) {
        findings.push({
          code: 'PARTED_ERROR',
          message:
            m.type === 'bug'
              ? `libparted failed an internal check on the partition table of ${diskPath} (${m.message}): the table is corrupt or crafted`
              : `libparted: ${m.message}`,
        });
      }
    }
  }

  /** Partitions or filesystems that need more than the disk holds: a copy cut short, or a corrupt table. */
  #judgeSize(inspection: DiskInspection): void {
    const { findings, path: diskPath, sizeBytes, sectorSize } = inspection;
    const diskSectors = Math.floor(sizeBytes / sectorSize);
    const restore =
      inspection.kind === 'file'
        ? `restore the complete image ${diskPath} from its source`
        : `restore ${diskPath} or grow the device back to its full size`;
    // The filesystem check to run after growing the image back, named the way e2fsprogs takes it.
    const check = (fs: FilesystemInfo, partition: number | undefined, offset: number) =>
      !fs.ext
        ? 'check its filesystem'
        : `e2fsck -f ${partition === undefined ? diskPath : partitionDevice(inspection, partition, offset)}`;
    const extend = (bytes: number, then: string) =>
      inspection.kind === 'file'
        ? `; if the lost tail held no data: truncate -s ${bytes} ${diskPath}, then ${then}`
        : '';
    let reported = false;
    for (const p of inspection.partitions) {
      if (p.startSector < 0 || p.lengthSectors <= 0) {
        findings.push({
          code: 'PARTITION_TABLE_CORRUPT',
          partition: p.number,
          message: `partition ${p.number} of ${diskPath} has an impossible place on the disk (start sector ${p.startSector}, ${p.lengthSectors} sectors): the partition table is corrupt or crafted`,
          remedy: `restore the partition table of ${diskPath} from a backup (review it with: sfdisk -d ${diskPath})`,
        });
        continue;
      }
      const end = p.startSector + p.lengthSectors;
      if (end <= diskSectors) continue;
      reported = true;
      const startsOutside = p.startSector >= diskSectors;
      findings.push({
        code: 'IMAGE_TRUNCATED',
        partition: p.number,
        message: startsOutside
          ? `partition ${p.number} of ${diskPath} starts at sector ${p.startSector}, past the end of the disk (${diskSectors} sectors): the partition table is corrupt or the image was cut short`
          : `partition ${p.number} of ${diskPath} ends at sector ${end}, but the disk has only ${diskSectors} sectors: the image was cut short`,
        remedy: startsOutside
          ? restore
          : `${restore}${extend(end * sectorSize, check(p.filesystem, p.number, p.startSector * sectorSize))}`,
      });
    }
    const areas = inspection.partitions
      .filter((p) => startsOnDisk(p.startSector, inspection))
      .map((p) => ({
        fs: p.filesystem,
        partition: p.number as number | undefined,
        offset: p.startSector * sectorSize,
      }));
    if (inspection.wholeDisk) areas.push({ fs: inspection.wholeDisk, partition: undefined, offset: 0 });
    for (const { fs, partition, offset } of areas) {
      const ext = fs.ext;
      if (!ext?.blocks || !ext.blockSize) continue;
      const needed = ext.blocks * ext.blockSize;
      if (offset + needed <= sizeBytes || (partition !== undefined && reported)) continue;
      reported = true;
      const where =
        partition === undefined
          ? `the filesystem on ${diskPath}`
          : `the filesystem of partition ${partition} of ${diskPath}`;
      findings.push({
        code: 'IMAGE_TRUNCATED',
        ...(partition === undefined ? {} : { partition }),
        message: `${where} needs ${needed} bytes (${ext.blocks} blocks of ${ext.blockSize}), but only ${sizeBytes - offset} remain: the image was cut short`,
        remedy: `${restore}${extend(offset + needed, check(fs, partition, offset))}`,
      });
    }
    const eof = inspection.libraryMessages.find((m) => READ_PAST_END.test(m.message));
    if (eof && !reported) {
      findings.push({
        code: 'IMAGE_TRUNCATED',
        message: `libparted read past the end of ${diskPath} (${eof.message}): the disk is shorter than its partition table says`,
        remedy: restore,
      });
    }
  }

  async #findOrphanFilesystem(
    addon: NativeAddon,
    inspection: DiskInspection,
  ): Promise<{ sector: number; type: string } | undefined> {
    for (const sector of USUAL_PARTITION_STARTS) {
      const offset = sector * inspection.sectorSize;
      if (offset >= inspection.sizeBytes) continue;
      const fs = await this.#filesystemAt(addon, inspection.realPath, offset, 0, null);
      if (fs.type !== null) return { sector, type: fs.type };
    }
    return undefined;
  }

  async #probe<T>(op: string, diskPath: string, call: () => Promise<T>): Promise<T> {
    return withDeadline(call, this.#timeoutMs, { lib: libraryOf(op), op, path: diskPath });
  }
}

/** A corrupt or cut-short partition table can point anywhere, even before sector 0. */
function startsOnDisk(startSector: number, inspection: DiskInspection): boolean {
  return startSector >= 0 && startSector * inspection.sectorSize < inspection.sizeBytes;
}

function libraryOf(op: string): string {
  if (op.startsWith('ped_')) return 'parted';
  if (op.startsWith('blkid_')) return 'blkid';
  if (op.startsWith('ext2fs_')) return 'ext2fs';
  return 'loop';
}

function toExt2State(ext: NativeExt2Report): Ext2State {
  const state: Ext2State = { primary: ext.primaryValid ? 'valid' : (ext.primaryProblem ?? 'other') };
  if (ext.primaryError) state.primaryError = ext.primaryError;
  if (ext.backup) state.backupSuperblock = ext.backup;
  if (ext.blockSize !== undefined) state.blockSize = ext.blockSize;
  if (ext.blocks !== undefined) state.blocks = ext.blocks;
  if (ext.uuid) state.uuid = ext.uuid;
  if (ext.hasJournal !== undefined) state.hasJournal = ext.hasJournal;
  if (ext.metadataChecksums !== undefined) state.metadataChecksums = ext.metadataChecksums;
  return state;
}

/**
 * How e2fsprogs names a partition: /dev/sda1, /dev/loop0p1, or for an image
 * file "img?offset=BYTES" (libext2fs reads io options after the '?').
 */
function partitionDevice(inspection: DiskInspection, partition: number, offset: number): string {
  const disk = inspection.path;
  if (inspection.kind === 'file') return `'${disk}?offset=${offset}'`;
  return /\d$/.test(disk) ? `${disk}p${partition}` : `${disk}${partition}`;
}

async function describeLoop(
  devicePath: string,
  loop: NativeLoopReport,
): Promise<NonNullable<DiskInspection['loop']>> {
  if (!loop.attached) return { attached: false };
  const name = path.basename(devicePath);
  // The ioctl truncates the file name to 64 bytes; sysfs has all of it.
  const backingFile = await readFile(`/sys/block/${name}/loop/backing_file`, 'utf8')
    .then((s) => s.trim())
    .catch(() => loop.fileName);
  return {
    attached: true,
    ...(backingFile ? { backingFile } : {}),
    ...(loop.offset !== undefined ? { offset: loop.offset } : {}),
    ...(loop.readOnly !== undefined ? { readOnly: loop.readOnly } : {}),
  };
}

async function blockDeviceSize(devicePath: string): Promise<number> {
  const name = path.basename(devicePath);
  const sectors = await readFile(`/sys/class/block/${name}/size`, 'utf8').catch(() => '0');
  return Number.parseInt(sectors, 10) * 512;
}

function diskError(code: string, message: string, diskPath: string, cause?: unknown): VmbootfailError {
  return new VmbootfailError(message, { code, lib: 'vmbootfail', op: 'inspect', path: diskPath, cause });
}
