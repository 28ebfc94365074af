/**
 * DiskInspector: what is on a virtual disk (image file or block device), and
 * what is wrong with it. Combines libparted (label, partitions), libblkid
 * (filesystem signatures, GPT from either header), libext2fs (superblock
 * checksum, backup superblocks) and loop-device status. Never writes.
 */
import { constants as fsConstants } from 'node:fs';
import { access, open, readFile, realpath, stat } from 'node:fs/promises';
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
import { shellQuote } from '../util/shell-quote.js';
import { diskInspectorOptions } from '../util/validate-options.js';
import {
  GRUB_CONFIGS,
  type GuestBootFiles,
  grubPathInFs,
  parseFstab,
  parseGrubConfig,
} from './guest-boot-files.js';
import { type BtrfsTreeVerdict, btrfsMountTrees } from './mount-model/btrfs-trees.js';
import { BTRFS_SUPER_OFFSET, isBtrfsSuper, judgeBtrfs } from './mount-model/btrfs.js';
import { judgeExt4 } from './mount-model/ext4.js';
import {
  type KernelVersion,
  NEWEST_MODELLED,
  formatKernel,
  parseKernelVersion,
} from './mount-model/kernel-version.js';
import {
  type MountProblem,
  type MountProblemCode,
  type MountSeverity,
  isFault,
} from './mount-model/problem.js';
import { XFS_MAGIC, judgeXfs, xfsMetadataProblems, xfsMetadataReads } from './mount-model/xfs.js';

export type { MountSeverity } from './mount-model/problem.js';

export type DiskFindingCode =
  | 'LOOP_UNATTACHED'
  | 'NO_PARTITION_TABLE'
  | 'GPT_PRIMARY_DAMAGED'
  | 'SUPERBLOCK_DAMAGED'
  | 'SUPERBLOCK_CHECKSUM'
  | 'NO_FILESYSTEM'
  | 'IMAGE_TRUNCATED'
  | 'PARTITION_TABLE_CORRUPT'
  | 'GPT_PROTECTIVE_MBR_INVALID'
  | 'PARTED_ERROR'
  | MountProblemCode;

export interface DiskFinding {
  code: DiskFindingCode;
  /** Partition number the finding is about; absent for the whole disk. */
  partition?: number;
  message: string;
  /**
   * What the guest kernel would do: will-not-mount and read-only are faults;
   * a warning mounts (the kernel prints it, the boot goes on).
   */
  severity: MountSeverity;
  /** The cause family when it is not the finding's usual one: UVKE for a healthy filesystem the guest kernel cannot handle. */
  family?: 'DIDF' | 'UVKE' | 'VMCE';
  /** The line the guest kernel prints for it, from the kernel's source. */
  kernelSays?: string;
  /** A command an operator can run to repair or confirm, when there is one; arguments shell-quoted. */
  remedy?: string;
}

/** Findings that stop a boot (or a read-write mount), as opposed to warnings. */
export function faultFindings(findings: readonly DiskFinding[]): DiskFinding[] {
  return findings.filter((f) => isFault(f.severity));
}

export interface InspectOptions {
  /**
   * The guest kernel's release ("6.1.0-56-amd64"), to judge filesystem features
   * by what that kernel accepts; without it, by the newest kernel modelled.
   */
  guestKernel?: string;
  /**
   * Also read what the guest's own files say its boot needs (/etc/fstab, its
   * init, the grub config pygrub reads) from every ext filesystem that opens.
   */
  bootFiles?: boolean;
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
  /** The kernel's verdict on mounting it, as modelled (ext2/3/4, xfs, btrfs). */
  mount?: 'mounts' | MountSeverity;
  uuid?: string;
  label?: string;
  /** Present when the area was checked as ext2/3/4. */
  ext?: Ext2State;
  /** The guest's boot files found in it (InspectOptions.bootFiles, ext2/3/4 only). */
  boot?: GuestBootFiles;
  /** A btrfs filesystem's device on this disk and every device it has (uuid is the filesystem's). */
  btrfsDevice?: { devid: number; devices: number[] };
}

/** The raw facts behind a FilesystemInfo, kept out of the (JSON) report. */
interface FilesystemFacts {
  ext?: NativeExt2Report;
  raw?: RawSuperblocks;
}
const FACTS = new WeakMap<FilesystemInfo, FilesystemFacts>();
/** Where on the disk each filesystem starts, for reading files from it later. */
const FS_AREA = new WeakMap<FilesystemInfo, { offset: number }>();
// fstab and grub.cfg are a few KiB; a bigger one is read in part and said to be.
const BOOT_FILE_LIMIT = 256 * 1024;
const MAX_GRUB_ENTRIES_CHECKED = 32;
function factsOf(fs: FilesystemInfo): FilesystemFacts {
  const known = FACTS.get(fs);
  if (known) return known;
  const facts: FilesystemFacts = {};
  FACTS.set(fs, facts);
  return facts;
}

export interface PartitionInfo {
  number: number;
  kind: 'normal' | 'logical' | 'extended';
  startSector: number;
  lengthSectors: number;
  /** PARTUUID= as Linux matches it (GPT entry GUID; MBR "<signature>-<NN>"), from libblkid. */
  partUuid?: string;
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
  /** The disk's own id (MBR signature or GPT disk GUID), as libblkid gives it. */
  tableId?: string;
  /** The filesystem on the whole disk, when there is no partition table. */
  wholeDisk?: FilesystemInfo;
  /** backupHeader 'not-needed': the primary is valid, so the backup was not examined (Linux reads only the primary). */
  gpt?: { primaryHeader: 'valid' | 'damaged'; backupHeader: 'valid' | 'not-needed' };
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

// jbd: an external ext journal device (mke2fs -O journal_dev), which libblkid names apart.
const EXT_TYPES = new Set(['ext2', 'ext3', 'ext4', 'jbd']);
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
    this.#timeoutMs = diskInspectorOptions(options).callTimeoutMs ?? 10_000;
  }

  async inspect(diskPath: string, options: InspectOptions = {}): Promise<DiskInspection> {
    if (typeof diskPath !== 'string' || diskPath.length === 0) {
      throw invalidArgument('disk path must be a non-empty string');
    }
    if (options === null || typeof options !== 'object')
      throw invalidArgument('inspect options must be an object');
    if (options.guestKernel !== undefined && typeof options.guestKernel !== 'string')
      throw invalidArgument('guestKernel must be a kernel release string such as 6.1.0-56-amd64');
    const kernel = parseKernelVersion(options.guestKernel);
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
            severity: 'will-not-mount',
            message: `${diskPath} is a loop device with no file attached (the "not allocated device" of the paper)`,
            remedy: `losetup ${shellQuote(diskPath)} IMAGE_FILE  # IMAGE_FILE: the image this device should hold`,
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

    const wholeDisk = await this.#probe('blkid_do_safeprobe', realPath, () =>
      addon.blkidProbe(realPath, 0, 0),
    );
    // A FAT boot sector ends in 0x55AA like an MBR; libparted may read it as an msdos
    // table. Linux's msdos parser rejects it (block/partitions/msdos.c: boot indicator
    // not 0 or 0x80, fat_valid_bootsector) and so does libblkid: trust the filesystem.
    const fatNotTable =
      parted.label === 'msdos' &&
      !wholeDisk.partitionTable &&
      /^(vfat|msdos|exfat)$/.test(wholeDisk.values.TYPE ?? '');
    if (fatNotTable) {
      inspection.label = 'loop';
      inspection.libraryMessages = [];
    }

    for (const p of fatNotTable ? [] : parted.partitions) {
      const filesystem =
        p.kind === 'extended'
          ? { type: null }
          : await this.#partitionFilesystem(addon, inspection, p.startSector, p.lengthSectors, p.filesystem);
      inspection.partitions.push({ ...p, filesystem });
    }
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
    // A filesystem signature on the whole disk beside a table (a stray MBR in an unused first
    // sector, a hybrid ISO): Linux can mount the whole disk, so it is judged too.
    if (inspection.label === 'none' || inspection.label === 'loop' || wholeDisk.values.TYPE) {
      inspection.wholeDisk = await this.#filesystemAt(addon, realPath, 0, 0, null, wholeDisk);
    }
    if (inspection.label === 'loop') {
      // libparted's "loop" label is a filesystem on the whole disk: one pseudo-partition.
      inspection.partitions = [];
    }

    const table = wholeDisk.partitionTable;
    if (table?.id) inspection.tableId = table.id;
    for (const p of inspection.partitions) {
      const uuid = table?.partitions.find((b) => b.number === p.number)?.uuid;
      if (uuid) p.partUuid = uuid;
    }
    if (options.bootFiles) {
      for (const fs of [...inspection.partitions.map((p) => p.filesystem), inspection.wholeDisk]) {
        const area = fs && FS_AREA.get(fs);
        if (fs && area && (fs.ext?.primary === 'valid' || factsOf(fs).ext?.deep?.opened))
          fs.boot = await this.#bootFiles(addon, realPath, area.offset);
      }
    }

    await this.#judge(addon, inspection, wholeDisk, kernel);
    inspection.elapsedMs = performance.now() - started;
    return inspection;
  }

  /**
   * Copies a regular file out of the ext filesystem at `fsOffsetBytes` of an image into
   * `destPath` (created 0600; it must not exist), at most `maxBytes`: the kernel and ramdisk
   * pygrub would boot, so that the kernel check can read them. The image is only read.
   */
  async copyFileOut(
    diskPath: string,
    fsOffsetBytes: number,
    fileName: string,
    destPath: string,
    maxBytes = 512 * 1024 * 1024,
  ): Promise<{ copied: boolean; bytes: number; error?: string }> {
    if (typeof diskPath !== 'string' || typeof fileName !== 'string' || typeof destPath !== 'string')
      throw invalidArgument('diskPath, fileName and destPath must be strings');
    if (!Number.isSafeInteger(fsOffsetBytes) || fsOffsetBytes < 0)
      throw invalidArgument('fsOffsetBytes must be a non-negative integer');
    const addon = nativeAddon();
    const { realPath } = await this.#checkTarget(diskPath);
    const chunk = 1024 * 1024;
    let done = 0;
    const out = await open(destPath, 'wx', 0o600);
    try {
      for (;;) {
        const part = await this.#probe('ext2fs_file_read', realPath, () =>
          addon.ext2ReadFile(realPath, fsOffsetBytes, fileName, chunk, done),
        );
        if (!part.found || !part.bytes) return { copied: false, bytes: 0, error: part.error ?? 'ENOENT' };
        if ((part.size ?? 0) > maxBytes)
          return { copied: false, bytes: 0, error: `larger than ${maxBytes} bytes` };
        await out.write(part.bytes);
        done += part.bytes.length;
        if (part.bytes.length < chunk || done >= (part.size ?? 0)) break;
      }
    } finally {
      await out.close();
    }
    return { copied: true, bytes: done };
  }

  /** What the guest's own files in one ext filesystem say its boot needs. */
  async #bootFiles(addon: NativeAddon, diskPath: string, offset: number): Promise<GuestBootFiles> {
    const read = (name: string, maxBytes: number) =>
      this.#probe('ext2fs_file_read', diskPath, () => addon.ext2ReadFile(diskPath, offset, name, maxBytes));
    const boot: GuestBootFiles = {};
    const fstab = await read('etc/fstab', BOOT_FILE_LIMIT);
    if (fstab.found && fstab.bytes)
      boot.fstab = {
        ...parseFstab(fstab.bytes.toString('utf8')),
        ...((fstab.size ?? 0) > BOOT_FILE_LIMIT ? { truncated: true } : {}),
      };
    const init = await read('sbin/init', 1);
    if (init.found) {
      let systemd = false;
      for (const name of ['lib/systemd/systemd', 'usr/lib/systemd/systemd']) {
        const target = await read(name, 1);
        if (target.found && target.inode !== undefined && target.inode === init.inode) systemd = true;
      }
      boot.init = systemd ? 'systemd' : 'other';
    }
    for (const { file, legacy } of GRUB_CONFIGS) {
      const cfg = await read(file, BOOT_FILE_LIMIT);
      if (!cfg.found || !cfg.bytes) continue;
      const parsed = parseGrubConfig(cfg.bytes.toString('utf8'), legacy);
      for (const entry of parsed.entries.slice(0, MAX_GRUB_ENTRIES_CHECKED)) {
        for (const which of ['kernel', 'initrd'] as const) {
          const rel = entry[which] && grubPathInFs(entry[which]);
          if (!rel) continue;
          const found = (await read(rel, 1)).found;
          if (which === 'kernel') entry.kernelFound = found;
          else entry.initrdFound = found;
        }
      }
      boot.grub = { file, ...parsed };
      break;
    }
    return boot;
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
    if (info.isFile() || info.isBlockDevice()) {
      // As root this always passes (the disk thread reads through CAP_DAC_READ_SEARCH);
      // another user gets bad input, not a library error from libparted.
      await access(realPath, fsConstants.R_OK).catch((error: unknown) => {
        throw diskError(
          ErrorCode.DISK_UNREADABLE,
          `${diskPath} is not readable by this user (${(error as NodeJS.ErrnoException).code ?? 'EACCES'}); run as root`,
          diskPath,
          error,
        );
      });
    }
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

  /** Filesystem signature at [offset, offset+size), with the superblock facts the kernel judges. */
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
    let type = blkid.values.TYPE ?? partedType ?? null;
    const info: FilesystemInfo = { type };
    FS_AREA.set(info, { offset });
    if (blkid.values.UUID) info.uuid = blkid.values.UUID;
    if (blkid.values.LABEL) info.label = blkid.values.LABEL;
    if (type === null && !blkid.partitionTable) {
      // libblkid rejects a superblock that fails its own sanity checks; the magic still tells what it was.
      const raw = await this.#rawSuperblocks(addon, diskPath, offset);
      if (raw.xfs) type = 'xfs';
      else if (raw.btrfs) type = 'btrfs';
      if (type) {
        info.type = type;
        factsOf(info).raw = raw;
        return info;
      }
    }
    if (type === 'xfs' || type === 'btrfs') {
      factsOf(info).raw = await this.#rawSuperblocks(addon, diskPath, offset);
      return info;
    }
    const looksLikeExt = type === null ? !blkid.partitionTable : EXT_TYPES.has(type);
    // A wiped ext superblock leaves no signature: only its backups tell what it was.
    if (looksLikeExt) {
      const ext = await this.#probe('ext2fs_open2', diskPath, () => addon.ext2Probe(diskPath, offset));
      // A "backup" past the end of this partition belongs to the next one's filesystem.
      if (ext.backup && size > 0 && ext.backup.block * ext.backup.blockSize >= size) ext.backup = null;
      if (ext.primaryValid || ext.backup || ext.superblock?.magic === EXT2_MAGIC) {
        info.ext = toExt2State(ext);
        factsOf(info).ext = ext;
        if (type === null && ext.superblock?.magic === EXT2_MAGIC) info.type = 'ext';
      }
    }
    return info;
  }

  async #rawSuperblocks(addon: NativeAddon, diskPath: string, offset: number): Promise<RawSuperblocks> {
    const read = (at: number, length: number) =>
      this.#probe('read', diskPath, () => addon.readArea(diskPath, at, length)).catch(() => Buffer.alloc(0));
    const head = await read(offset, 65536);
    const raw: RawSuperblocks = {};
    if (head.length >= 512 && head.readUInt32BE(0) === XFS_MAGIC) raw.xfs = head;
    const btrfs = await read(offset + BTRFS_SUPER_OFFSET, 4096);
    if (isBtrfsSuper(btrfs)) raw.btrfs = btrfs;
    return raw;
  }

  async #judge(
    addon: NativeAddon,
    inspection: DiskInspection,
    wholeDisk: NativeBlkidReport,
    kernel: KernelVersion | undefined,
  ): Promise<void> {
    const { findings, path: diskPath } = inspection;
    const sector = inspection.sectorSize;
    const q = shellQuote(diskPath);
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
        backupHeader: damaged ? 'valid' : 'not-needed',
      };
      if (damaged) {
        // block/partitions/efi.c find_valid_gpt(): without the "gpt" boot option Linux
        // reads the alternate header only when the primary is valid, so it finds no partitions.
        findings.push({
          code: 'GPT_PRIMARY_DAMAGED',
          severity: 'will-not-mount',
          message: `the primary GPT header of ${diskPath} is damaged; the backup header at the end of the disk is intact, but Linux reads it only when booted with the "gpt" option, so the guest sees no partitions`,
          remedy: `sgdisk -e ${q}  # sgdisk loads the backup header and writes both; or boot the guest once with the kernel option gpt`,
        });
      } else {
        await this.#judgeProtectiveMbr(addon, inspection);
      }
    }

    // A table libblkid can read (libparted refuses e.g. one that runs past the end) is not erased.
    if (inspection.label === 'none' && !wholeDisk.partitionTable) {
      const whole = inspection.wholeDisk;
      if (!whole || (whole.type === null && !whole.ext)) {
        const orphan = await this.#findOrphanFilesystem(addon, inspection);
        findings.push({
          code: 'NO_PARTITION_TABLE',
          severity: 'will-not-mount',
          message: orphan
            ? `${diskPath} has no partition table, but an ${orphan.type} filesystem starts at sector ${orphan.sector}: the table was erased`
            : `${diskPath} has neither a partition table nor a filesystem`,
          ...(orphan
            ? {
                remedy: `parted -s ${q} mklabel msdos mkpart primary ${shellQuote(orphan.type)} ${orphan.sector}s 100%`,
              }
            : {}),
        });
      }
    }

    this.#judgeSize(inspection);
    const truncated = findings.some((f) => f.code === 'IMAGE_TRUNCATED');

    const areas: { fs: FilesystemInfo; partition?: number; offset: number }[] = inspection.partitions
      // A partition that starts past the end was not probed: IMAGE_TRUNCATED says why.
      .filter((p) => p.kind !== 'extended' && startsOnDisk(p.startSector, inspection))
      .map((p) => ({ fs: p.filesystem, partition: p.number, offset: p.startSector * sector }));
    const whole = inspection.wholeDisk;
    if (whole && (whole.type !== null || whole.ext)) areas.push({ fs: whole, offset: 0 });

    const judgedBy = kernel ?? NEWEST_MODELLED;
    const kernelName = kernel
      ? `Linux ${formatKernel(kernel)}`
      : `the guest kernel (not known here; judged as Linux ${formatKernel(NEWEST_MODELLED)})`;
    for (const { fs, partition, offset } of areas) {
      const where =
        partition === undefined ? `the filesystem on ${diskPath}` : `partition ${partition} of ${diskPath}`;
      const device = partition === undefined ? q : partitionDevice(inspection, partition, offset);
      const ext = fs.ext;
      const at = partition === undefined ? {} : { partition };
      const areaBytes = inspection.sizeBytes - offset;
      const problems: MountProblem[] = [];
      const facts = factsOf(fs);
      if (
        ext &&
        ext.primary !== 'valid' &&
        ext.backupSuperblock &&
        facts.ext?.superblock?.magic !== EXT2_MAGIC
      ) {
        const { block, blockSize } = ext.backupSuperblock;
        findings.push({
          code: 'SUPERBLOCK_DAMAGED',
          severity: 'will-not-mount',
          ...at,
          message: `${where}: the primary ext superblock is unusable (${ext.primaryError ?? ext.primary}); a valid backup superblock is at block ${block} (block size ${blockSize})`,
          remedy: `e2fsck -b ${block} -B ${blockSize} ${device}`,
        });
        continue;
      }
      if (facts.ext) {
        const backupRemedy = ext?.backupSuperblock
          ? `e2fsck -b ${ext.backupSuperblock.block} -B ${ext.backupSuperblock.blockSize} ${device}`
          : undefined;
        problems.push(
          ...judgeExt4({
            report: facts.ext,
            areaBytes,
            kernel: judgedBy,
            kernelName,
            device,
            ...(backupRemedy ? { backupRemedy } : {}),
            ...journalChecksum(addon, facts.ext),
          }),
        );
        // libext2fs refusing a superblock the kernel's checks accept (it is stricter on some
        // fields: the oracle's clusters-per-group case) is no fault: the kernel decides.
      } else if (fs.type === 'xfs' && facts.raw?.xfs) {
        const sb = facts.raw.xfs;
        const blocks = new Map<string, Buffer>();
        for (const r of xfsMetadataReads(sb)) {
          if (r.at < 0 || !Number.isSafeInteger(offset + r.at)) continue;
          const bytes = await this.#probe('read', inspection.realPath, () =>
            addon.readArea(inspection.realPath, offset + r.at, r.length),
          ).catch(() => Buffer.alloc(0));
          blocks.set(r.what, bytes);
        }
        problems.push(
          ...judgeXfs({
            bytes: sb,
            crc: xfsCrc(addon),
            areaBytes,
            kernel: judgedBy,
            kernelName,
            device,
            metadata: () => xfsMetadataProblems(sb, blocks),
          }),
        );
      } else if (fs.type === 'btrfs' && facts.raw?.btrfs) {
        const sb = facts.raw.btrfs;
        const trees = await this.#btrfsTrees(addon, inspection.realPath, offset, sb);
        const devid = Number(sb.readBigUInt64LE(201));
        const devices = [...new Set([devid, ...trees.devices.map((d) => d.devid)])].sort((a, b) => a - b);
        fs.btrfsDevice = { devid, devices };
        problems.push(
          ...judgeBtrfs({
            bytes: sb,
            crc: finalCrc(addon),
            kernel: judgedBy,
            kernelName,
            device,
            areaBytes,
            trees: () => (trees.problem ? [trees.problem] : []),
            devices: trees.devices,
          }),
        );
      } else if (fs.type === null && partition !== undefined) {
        // An empty partition is normal beside others (an ESP, a BIOS boot or unformatted one);
        // the preflight fails a boot whose root= names it.
        const only =
          inspection.partitions.filter((p) => p.kind !== 'extended').length === 1 &&
          !inspection.wholeDisk?.type;
        findings.push({
          code: 'NO_FILESYSTEM',
          severity: only ? 'will-not-mount' : 'warning',
          ...at,
          message: `${where} holds no recognisable filesystem and no backup ext superblock`,
        });
      }
      // IMAGE_TRUNCATED already says the filesystem is bigger than what is left, with the size to restore.
      const reported = truncated
        ? problems.filter((p) => !p.kernelSays?.startsWith('bad geometry: block count'))
        : problems;
      fs.mount = worstSeverity(reported);
      for (const p of reported) {
        findings.push({
          code: p.code,
          severity: p.severity,
          ...at,
          ...(p.family === 'UVKE' ? { family: 'UVKE' as const } : {}),
          message: `${where}: ${p.message}`,
          ...(p.kernelSays ? { kernelSays: p.kernelSays } : {}),
          ...(p.remedy ? { remedy: p.remedy } : {}),
        });
      }
    }

    for (const m of inspection.libraryMessages) {
      const explained = gptCorruptMessage || (truncated && TRUNCATION_CONSEQUENCE.test(m.message));
      if ((m.type === 'error' || m.type === 'fatal' || m.type === 'bug') && !explained) {
        const backupOnly = /backup GPT table is (?:corrupt|invalid)|alternate GPT/i.test(m.message);
        findings.push({
          code: 'PARTED_ERROR',
          // libparted is stricter than Linux's partition parsers (overlapping partitions, a bad backup
          // GPT: block/partitions/efi.c uses the primary): what Linux then fails on is judged per
          // partition. A table that makes libparted fail an assertion is crafted or corrupt.
          severity: m.type === 'bug' && !backupOnly ? 'will-not-mount' : 'warning',
          message:
            m.type === 'bug'
              ? `libparted failed an internal check on the partition table of ${diskPath} (${m.message}): the table is corrupt or crafted`
              : `libparted: ${m.message}`,
        });
      }
    }
  }

  /** The tree blocks open_ctree reads, checked as the kernel checks them (btrfs-trees.ts). */
  async #btrfsTrees(
    addon: NativeAddon,
    diskPath: string,
    offset: number,
    sb: Buffer,
  ): Promise<BtrfsTreeVerdict> {
    const nodeSize = sb.readUInt32LE(148);
    if (nodeSize < 4096 || nodeSize > 65536) return { devices: [] };
    return btrfsMountTrees(sb, {
      readPhysical: (physical) =>
        this.#probe('read', diskPath, () => addon.readArea(diskPath, offset + physical, nodeSize)).catch(
          () => undefined,
        ),
      crc: finalCrc(addon),
      crc32c: (bytes, seed) => addon.crc32c(bytes, seed) >>> 0,
    });
  }

  /**
   * Linux reads a GPT only behind a valid protective (or hybrid) MBR unless booted
   * with "gpt" (block/partitions/efi.c is_pmbr_valid): a zeroed MBR hides the table.
   */
  async #judgeProtectiveMbr(addon: NativeAddon, inspection: DiskInspection): Promise<void> {
    const mbr = await this.#probe('read', inspection.realPath, () =>
      addon.readArea(inspection.realPath, 0, 512),
    ).catch(() => Buffer.alloc(0));
    if (mbr.length < 512) return;
    const signature = mbr.readUInt16LE(510) === 0xaa55;
    let protective = false;
    for (let i = 0; i < 4; i++) if (mbr[446 + i * 16 + 4] === 0xee) protective = true;
    if (signature && protective) return;
    inspection.findings.push({
      code: 'GPT_PROTECTIVE_MBR_INVALID',
      severity: 'will-not-mount',
      message: `${inspection.path} has a GPT but ${signature ? 'its MBR has no protective (type 0xEE) entry' : 'no valid MBR before it (no 0x55AA signature)'}: Linux reads the GPT only behind a protective MBR, unless booted with the "gpt" option`,
      remedy: `sgdisk -e ${shellQuote(inspection.path)}  # writes a fresh protective MBR with the table; or boot the guest with the kernel option gpt`,
    });
  }

  /** Partitions or filesystems that need more than the disk holds: a copy cut short, or a corrupt table. */
  #judgeSize(inspection: DiskInspection): void {
    const { findings, path: diskPath, sizeBytes, sectorSize } = inspection;
    const diskSectors = Math.floor(sizeBytes / sectorSize);
    const q = shellQuote(diskPath);
    const restore =
      inspection.kind === 'file'
        ? `restore the complete image ${q} from its source`
        : `restore ${q} or grow the device back to its full size`;
    // The filesystem check to run after growing the image back, named the way e2fsprogs takes it.
    const check = (fs: FilesystemInfo, partition: number | undefined, offset: number) =>
      !fs.ext
        ? 'check its filesystem'
        : `e2fsck -f ${partition === undefined ? q : partitionDevice(inspection, partition, offset)}`;
    const extend = (bytes: number, then: string) =>
      inspection.kind === 'file'
        ? `; if the lost tail held no data: truncate -s ${bytes} ${q}, then ${then}`
        : '';
    let reported = false;
    for (const p of inspection.partitions) {
      if (p.startSector < 0 || p.lengthSectors <= 0) {
        findings.push({
          code: 'PARTITION_TABLE_CORRUPT',
          severity: 'will-not-mount',
          partition: p.number,
          message: `partition ${p.number} of ${diskPath} has an impossible place on the disk (start sector ${p.startSector}, ${p.lengthSectors} sectors): the partition table is corrupt or crafted`,
          remedy: `restore the partition table of ${diskPath} from a backup (review it with: sfdisk -d ${q})`,
        });
        continue;
      }
      const end = p.startSector + p.lengthSectors;
      if (end <= diskSectors) continue;
      reported = true;
      const startsOutside = p.startSector >= diskSectors;
      findings.push({
        code: 'IMAGE_TRUNCATED',
        severity: 'will-not-mount',
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
        severity: 'will-not-mount',
        ...(partition === undefined ? {} : { partition }),
        message: `${where} needs ${needed} bytes (${ext.blocks} blocks of ${ext.blockSize}), but only ${sizeBytes - offset} remain: the image was cut short`,
        remedy: `${restore}${extend(offset + needed, check(fs, partition, offset))}`,
      });
    }
    const eof = inspection.libraryMessages.find((m) => READ_PAST_END.test(m.message));
    if (eof && !reported) {
      findings.push({
        code: 'IMAGE_TRUNCATED',
        severity: 'will-not-mount',
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

const EXT2_MAGIC = 0xef53;

export interface RawSuperblocks {
  /** The first 64 KiB, when they start with the xfs magic. */
  xfs?: Buffer;
  /** The 4 KiB at 64 KiB, when they hold the btrfs magic. */
  btrfs?: Buffer;
}

const SEVERITY_ORDER: MountSeverity[] = ['will-not-mount', 'read-only', 'warning'];
function worstSeverity(problems: MountProblem[]): FilesystemInfo['mount'] {
  for (const s of SEVERITY_ORDER) if (problems.some((p) => p.severity === s)) return s;
  return 'mounts';
}

/** jbd2_superblock_csum(): CRC32C(~0) of the 1024-byte journal superblock with s_checksum (0xFC) zeroed, stored big-endian. */
function journalChecksum(addon: NativeAddon, ext: NativeExt2Report): { journalChecksumValid?: boolean } {
  const jsb = ext.deep?.journalInode?.superblock;
  if (!jsb || jsb.length < 1024) return {};
  const copy = Buffer.from(jsb);
  const stored = copy.readUInt32BE(0xfc);
  copy.writeUInt32BE(0, 0xfc);
  return { journalChecksumValid: addon.crc32c(copy, 0xffffffff) === stored };
}

/** xfs_buf_verify_cksum(): ~CRC32C(~0) of the sector with sb_crc (offset 224) zeroed. */
function xfsCrc(addon: NativeAddon): (sector: Buffer) => number {
  return (sector) => {
    const copy = Buffer.from(sector);
    copy.writeUInt32LE(0, 224);
    return ~addon.crc32c(copy, 0xffffffff) >>> 0;
  };
}

/** btrfs_check_super_csum(): ~CRC32C(~0) of the bytes after the checksum field. */
function finalCrc(addon: NativeAddon): (bytes: Buffer) => number {
  return (bytes) => ~addon.crc32c(bytes, 0xffffffff) >>> 0;
}

function libraryOf(op: string): string {
  if (op.startsWith('ped_')) return 'parted';
  if (op.startsWith('blkid_')) return 'blkid';
  if (op.startsWith('ext2fs_')) return 'ext2fs';
  if (op === 'read') return 'vmbootfail';
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
  if (inspection.kind === 'file') return shellQuote(`${disk}?offset=${offset}`);
  return shellQuote(/\d$/.test(disk) ? `${disk}p${partition}` : `${disk}${partition}`);
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
