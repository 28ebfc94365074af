/**
 * The mount-time checks of Linux's ext4 driver (which also mounts ext2 and
 * ext3), modelled on fs/ext4/super.c (__ext4_fill_super, ext4_load_super,
 * ext4_feature_set_ok, ext4_inode_info_init, ext4_handle_clustersize,
 * ext4_check_geometry, ext4_group_desc_init, ext4_check_descriptors,
 * ext4_load_journal, ext4_setup_super) and fs/jbd2/journal.c
 * (journal_get_superblock, jbd2_journal_load) of Linux 6.1, with the
 * version each feature was first accepted in. The facts come from the disk
 * thread (native/disk.cc): the raw primary superblock, libext2fs's view of the
 * descriptors, the root and journal inodes, and the journal superblock.
 */
import type { NativeExt2Report, NativeExt2Superblock } from '../../native/native-types.js';
import {
  type FeatureBit,
  type KernelVersion,
  formatKernel,
  judgeFeatures,
  onlyNewerKernel,
} from './kernel-version.js';
import type { MountProblem } from './problem.js';

// fs/ext4/ext4.h EXT4_FEATURE_INCOMPAT_* with EXT4_FEATURE_INCOMPAT_SUPP's history.
export const EXT4_INCOMPAT: readonly FeatureBit[] = [
  { bit: 0x1, name: 'compression', since: null },
  { bit: 0x2, name: 'filetype', since: [2, 6] },
  { bit: 0x4, name: 'needs_recovery', since: [2, 6] },
  { bit: 0x8, name: 'journal_dev', since: null }, // an external journal device, not a filesystem
  { bit: 0x10, name: 'meta_bg', since: [2, 6] },
  { bit: 0x40, name: 'extent', since: [2, 6] },
  { bit: 0x80, name: '64bit', since: [2, 6] },
  { bit: 0x100, name: 'mmp', since: [3, 0] },
  { bit: 0x200, name: 'flex_bg', since: [2, 6] },
  { bit: 0x400, name: 'ea_inode', since: [4, 13] },
  { bit: 0x1000, name: 'dirdata', since: null },
  { bit: 0x2000, name: 'metadata_csum_seed', since: [4, 4] },
  { bit: 0x4000, name: 'large_dir', since: [4, 13] },
  { bit: 0x8000, name: 'inline_data', since: [3, 8] },
  { bit: 0x10000, name: 'encrypt', since: [4, 1] },
  { bit: 0x20000, name: 'casefold', since: [5, 2] },
];

// EXT4_FEATURE_RO_COMPAT_*; READONLY (0x1000) is handled apart: it forces a read-only mount.
export const EXT4_RO_COMPAT: readonly FeatureBit[] = [
  { bit: 0x1, name: 'sparse_super', since: [2, 6] },
  { bit: 0x2, name: 'large_file', since: [2, 6] },
  { bit: 0x4, name: 'btree_dir', since: [2, 6] },
  { bit: 0x8, name: 'huge_file', since: [2, 6] },
  { bit: 0x10, name: 'uninit_bg', since: [2, 6] },
  { bit: 0x20, name: 'dir_nlink', since: [2, 6] },
  { bit: 0x40, name: 'extra_isize', since: [2, 6] },
  { bit: 0x80, name: 'snapshot', since: null },
  { bit: 0x100, name: 'quota', since: [3, 6] },
  { bit: 0x200, name: 'bigalloc', since: [3, 2] },
  { bit: 0x400, name: 'metadata_csum', since: [3, 18] },
  { bit: 0x800, name: 'replica', since: null },
  { bit: 0x1000, name: 'read-only', since: [4, 5] },
  { bit: 0x2000, name: 'project', since: [4, 5] },
  { bit: 0x4000, name: 'shared_blocks', since: null },
  { bit: 0x8000, name: 'verity', since: [5, 4] },
  { bit: 0x10000, name: 'orphan_present', since: [5, 15] },
];

const RO_COMPAT_READONLY = 0x1000;
const INCOMPAT_META_BG = 0x10;
const INCOMPAT_EXTENTS = 0x40;
const INCOMPAT_64BIT = 0x80;
const INCOMPAT_MMP = 0x100;
const INCOMPAT_CASEFOLD = 0x20000;
const RO_COMPAT_BIGALLOC = 0x200;
const RO_COMPAT_METADATA_CSUM = 0x400;
const RO_COMPAT_QUOTA = 0x100;
const COMPAT_HAS_JOURNAL = 0x4;
const STATE_VALID = 0x1;
const STATE_ERROR = 0x2;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
// x86 and arm64 dom0s run guests with 4 KiB pages; Linux 6.1 ext4 cannot mount blocks larger than a page.
const PAGE_SIZE = 4096;

export interface Ext4Context {
  report: NativeExt2Report;
  /** Bytes from the filesystem's start to the end of the disk. */
  areaBytes: number;
  kernel: KernelVersion;
  /** How the kernel is named in messages: "Linux 6.1" or "the guest kernel (assumed Linux 6.12)". */
  kernelName: string;
  /** The e2fsck target, shell-quoted. */
  device: string;
  /** A remedy that names a valid backup superblock, when one was found. */
  backupRemedy?: string;
  /** The journal superblock's CRC32C (v2/v3) verified by the caller, when there is one. */
  journalChecksumValid?: boolean;
}

const has = (word: number, bit: number) => Math.floor(word / bit) % 2 === 1;
const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

/** Everything the kernel refuses or warns about, worst first. */
export function judgeExt4(ctx: Ext4Context): MountProblem[] {
  const sb = ctx.report.superblock;
  if (!sb || sb.magic !== 0xef53) return [];
  const problems: MountProblem[] = [];
  const fsck = ctx.backupRemedy ?? `e2fsck -f ${ctx.device}`;
  const invalid = (message: string, kernelSays: string): MountProblem => ({
    code: 'SUPERBLOCK_INVALID',
    severity: 'will-not-mount',
    family: 'DIDF',
    message: `the ext superblock is invalid: ${message}`,
    kernelSays,
    remedy:
      ctx.backupRemedy ??
      `e2fsck -f ${ctx.device}  # if it finds no valid superblock: mke2fs -n to list the backups, then e2fsck -b`,
  });

  // ext4_load_super: the block size.
  if (sb.logBlockSize > 6) {
    problems.push(invalid(`log block size ${sb.logBlockSize}`, `Invalid log block size: ${sb.logBlockSize}`));
    return problems;
  }
  const blockSize = 1024 * 2 ** sb.logBlockSize;

  // ext4_init_metadata_csum: checksum type, then the superblock checksum.
  if (has(sb.featureRoCompat, RO_COMPAT_METADATA_CSUM)) {
    if (sb.checksumType !== 1) {
      problems.push(
        invalid(
          `unknown checksum type ${sb.checksumType}`,
          'VFS: Found ext4 filesystem with unknown checksum algorithm.',
        ),
      );
      return problems;
    }
    if (sb.checksum !== sb.checksumComputed) {
      problems.push({
        code: 'SUPERBLOCK_CHECKSUM',
        severity: 'will-not-mount',
        family: 'DIDF',
        message: `the ext superblock checksum does not match (stored 0x${hex(sb.checksum)}, computed 0x${hex(sb.checksumComputed)})`,
        kernelSays: 'VFS: Found ext4 filesystem with invalid superblock checksum.  Run e2fsck?',
        remedy: fsck,
      });
      return problems;
    }
  }

  // ext4_inode_info_init.
  if (sb.revLevel !== 0) {
    if (sb.firstIno < 11) {
      problems.push(invalid(`first inode ${sb.firstIno}`, `invalid first ino: ${sb.firstIno}`));
      return problems;
    }
    if (sb.inodeSize < 128 || !isPow2(sb.inodeSize) || sb.inodeSize > blockSize) {
      problems.push(invalid(`inode size ${sb.inodeSize}`, `unsupported inode size: ${sb.inodeSize}`));
      return problems;
    }
    if (sb.inodeSize > 128) {
      const max = sb.inodeSize - 128;
      if (sb.wantExtraIsize > max) {
        problems.push(
          invalid(`want_extra_isize ${sb.wantExtraIsize}`, `bad s_want_extra_isize: ${sb.wantExtraIsize}`),
        );
        return problems;
      }
      if (sb.minExtraIsize > max) {
        problems.push(
          invalid(`min_extra_isize ${sb.minExtraIsize}`, `bad s_min_extra_isize: ${sb.minExtraIsize}`),
        );
        return problems;
      }
    }
  }
  const inodeSize = sb.revLevel === 0 ? 128 : sb.inodeSize;

  // ext4_feature_set_ok.
  const incompat = judgeFeatures(sb.featureIncompat, EXT4_INCOMPAT, ctx.kernel);
  if (incompat.unsupported.length > 0) {
    problems.push(featureProblem(ctx, incompat, 'will-not-mount', sb.featureIncompat, EXT4_INCOMPAT));
    return problems;
  }
  const readOnlyFeature = has(sb.featureRoCompat, RO_COMPAT_READONLY);
  const roWord = readOnlyFeature ? sb.featureRoCompat - RO_COMPAT_READONLY : sb.featureRoCompat;
  const roCompat = judgeFeatures(roWord, EXT4_RO_COMPAT, ctx.kernel);
  if (readOnlyFeature) {
    problems.push({
      code: 'FEATURE_UNSUPPORTED',
      severity: 'read-only',
      family: 'DIDF',
      message: 'the filesystem carries the read-only feature: the kernel mounts it read-only only',
      kernelSays: 'filesystem is read-only',
      remedy: `tune2fs -O ^read-only ${ctx.device}`,
    });
  } else if (roCompat.unsupported.length > 0) {
    problems.push(featureProblem(ctx, roCompat, 'read-only', sb.featureRoCompat, EXT4_RO_COMPAT));
  }
  if (has(sb.featureRoCompat, RO_COMPAT_BIGALLOC) && !has(sb.featureIncompat, INCOMPAT_EXTENTS)) {
    problems.push(
      invalid('bigalloc without extents', "Can't support bigalloc feature without extents feature"),
    );
    return problems;
  }
  if (has(sb.featureIncompat, INCOMPAT_CASEFOLD) && sb.encoding !== 1) {
    problems.push(
      invalid(
        `casefold with unknown encoding ${sb.encoding}`,
        'Filesystem with casefold feature cannot be mounted with unknown encoding',
      ),
    );
    return problems;
  }

  if (blockSize > PAGE_SIZE) {
    problems.push({
      code: 'FEATURE_UNSUPPORTED',
      severity: 'will-not-mount',
      family: 'UVKE',
      message: `the block size is ${blockSize} bytes, larger than the guest's ${PAGE_SIZE}-byte pages: ${ctx.kernelName} cannot mount it`,
      kernelSays: `bad block size ${blockSize}`,
      remedy: 'copy the files to a filesystem made with 4096-byte blocks (mkfs.ext4 -b 4096)',
    });
    return problems;
  }
  if (sb.reservedGdtBlocks > blockSize / 4) {
    problems.push(
      invalid(
        `${sb.reservedGdtBlocks} reserved GDT blocks`,
        `Number of reserved GDT blocks insanely large: ${sb.reservedGdtBlocks}`,
      ),
    );
    return problems;
  }

  // ext4_handle_clustersize.
  if (has(sb.featureRoCompat, RO_COMPAT_BIGALLOC)) {
    if (sb.logClusterSize < sb.logBlockSize) {
      problems.push(
        invalid(
          'cluster smaller than block',
          `cluster size (${1024 * 2 ** sb.logClusterSize}) smaller than block size (${blockSize})`,
        ),
      );
      return problems;
    }
    if (sb.logClusterSize > 20) {
      problems.push(
        invalid(`log cluster size ${sb.logClusterSize}`, `Invalid log cluster size: ${sb.logClusterSize}`),
      );
      return problems;
    }
    if (sb.clustersPerGroup > blockSize * 8) {
      problems.push(
        invalid(
          `${sb.clustersPerGroup} clusters per group`,
          `#clusters per group too big: ${sb.clustersPerGroup}`,
        ),
      );
      return problems;
    }
    const ratio = 2 ** (sb.logClusterSize - sb.logBlockSize);
    if (sb.blocksPerGroup !== sb.clustersPerGroup * ratio) {
      problems.push(
        invalid(
          'blocks and clusters per group disagree',
          `blocks per group (${sb.blocksPerGroup}) and clusters per group (${sb.clustersPerGroup}) inconsistent`,
        ),
      );
      return problems;
    }
  } else {
    if (sb.logClusterSize !== sb.logBlockSize) {
      problems.push(
        invalid(
          `cluster size ${1024 * 2 ** sb.logClusterSize} without bigalloc`,
          `fragment/cluster size (${1024 * 2 ** sb.logClusterSize}) != block size (${blockSize})`,
        ),
      );
      return problems;
    }
    if (sb.blocksPerGroup > blockSize * 8) {
      problems.push(
        invalid(`${sb.blocksPerGroup} blocks per group`, `#blocks per group too big: ${sb.blocksPerGroup}`),
      );
      return problems;
    }
  }
  // ext4_check_geometry: a bigalloc filesystem starts at block 0.
  if (has(sb.featureRoCompat, RO_COMPAT_BIGALLOC) && sb.firstDataBlock !== 0) {
    problems.push({
      ...invalid(
        'bigalloc with a non-zero first data block',
        'bad geometry: bigalloc file system with non-zero first_data_block',
      ),
      severity: 'read-only',
    });
  }
  const inodesPerBlock = blockSize / inodeSize;
  if (sb.inodesPerGroup === 0 || sb.blocksPerGroup === 0) {
    problems.push(
      invalid(
        `${sb.inodesPerGroup} inodes and ${sb.blocksPerGroup} blocks per group`,
        "VFS: Can't find ext4 filesystem",
      ),
    );
    return problems;
  }
  if (sb.inodesPerGroup < inodesPerBlock || sb.inodesPerGroup > blockSize * 8) {
    problems.push(
      invalid(`${sb.inodesPerGroup} inodes per group`, `invalid inodes per group: ${sb.inodesPerGroup}`),
    );
    return problems;
  }
  if (has(sb.featureIncompat, INCOMPAT_64BIT)) {
    if (sb.descSize < 64 || sb.descSize > 1024 || !isPow2(sb.descSize)) {
      problems.push(invalid(`descriptor size ${sb.descSize}`, `unsupported descriptor size ${sb.descSize}`));
      return problems;
    }
  }
  const descSize = has(sb.featureIncompat, INCOMPAT_64BIT) ? sb.descSize : 32;
  if (sb.logGroupsPerFlex >= 32) {
    problems.push(
      invalid(`log groups per flex ${sb.logGroupsPerFlex}`, 'too many log groups per flexible block group'),
    );
    return problems;
  }

  // ext4_check_geometry.
  const blocksCount =
    sb.blocksCountLo + (has(sb.featureIncompat, INCOMPAT_64BIT) ? sb.blocksCountHi * 2 ** 32 : 0);
  const deviceBlocks = Math.floor(ctx.areaBytes / blockSize);
  if (blocksCount > deviceBlocks) {
    // IMAGE_TRUNCATED says it with the size to restore; the kernel's words are the same refusal.
    problems.push({
      code: 'SUPERBLOCK_INVALID',
      severity: 'will-not-mount',
      family: 'DIDF',
      message: `the filesystem has ${blocksCount} blocks but the device only ${deviceBlocks}`,
      kernelSays: `bad geometry: block count ${blocksCount} exceeds size of device (${deviceBlocks} blocks)`,
    });
    return problems;
  }
  if (sb.firstDataBlock >= blocksCount) {
    problems.push(
      invalid(
        `first data block ${sb.firstDataBlock}`,
        `bad geometry: first data block ${sb.firstDataBlock} is beyond end of filesystem (${blocksCount})`,
      ),
    );
    return problems;
  }
  if (sb.firstDataBlock === 0 && blockSize === 1024 && sb.logClusterSize === sb.logBlockSize) {
    problems.push(
      invalid(
        'first data block 0 with 1 KiB blocks',
        'bad geometry: first data block is 0 with a 1k block and cluster size',
      ),
    );
    return problems;
  }
  const groups = Math.ceil((blocksCount - sb.firstDataBlock) / sb.blocksPerGroup);
  const descPerBlock = blockSize / descSize;
  if (groups > 2 ** 32 - descPerBlock) {
    problems.push(invalid(`${groups} groups`, `groups count too large: ${groups}`));
    return problems;
  }
  if (groups * sb.inodesPerGroup !== sb.inodesCount) {
    problems.push(
      invalid(
        `inodes count ${sb.inodesCount}, expected ${groups * sb.inodesPerGroup}`,
        `inodes count not valid: ${sb.inodesCount} vs ${groups * sb.inodesPerGroup}`,
      ),
    );
    return problems;
  }
  const descBlocks = Math.ceil(groups / descPerBlock);
  if (has(sb.featureIncompat, INCOMPAT_META_BG) && sb.firstMetaBg > descBlocks) {
    problems.push(
      invalid(
        `first_meta_bg ${sb.firstMetaBg} beyond ${descBlocks} descriptor blocks`,
        `first meta block group too large: ${sb.firstMetaBg} (group descriptor block count ${descBlocks})`,
      ),
    );
    return problems;
  }

  const deep = ctx.report.deep;
  // ext4_setup_super (read-write mounts): a newer revision forces read-only.
  if (sb.revLevel > 1) {
    problems.push({
      code: 'SUPERBLOCK_INVALID',
      severity: 'read-only',
      family: 'DIDF',
      message: `revision level ${sb.revLevel} is newer than any ext4 driver knows: the kernel forces a read-only mount`,
      kernelSays: 'revision level too high, forcing read-only mode',
      remedy: fsck,
    });
  }
  // libext2fs is stricter than the kernel on some superblock fields (clusters per group
  // without bigalloc, ...): when it cannot open the filesystem, the kernel's checks above stand.
  if (!deep?.opened) return problems;

  // ext4_check_descriptors.
  const descriptors = deep.descriptorProblems ?? [];
  const fatal = descriptors.find((p) => p.what.endsWith('-not-in-group'));
  if (fatal) {
    problems.push({
      code: 'GROUP_DESCRIPTORS_CORRUPT',
      severity: 'will-not-mount',
      family: 'DIDF',
      message: `group descriptor ${fatal.group}: the ${partName(fatal.what)} (block ${fatal.block}) lies outside its group${more(deep.descriptorProblemCount)}`,
      kernelSays: `ext4_check_descriptors: ${kernelPart(fatal.what)} for group ${fatal.group} not in group (block ${fatal.block})!`,
      remedy: fsck,
    });
    return problems;
  }
  const zone = descriptors.find((p) => p.what.endsWith('-overlaps-system-zone'));
  if (zone) {
    problems.push({
      code: 'GROUP_DESCRIPTORS_CORRUPT',
      severity: 'will-not-mount',
      family: 'DIDF',
      message: `group ${zone.group}: its ${zone.what.replace('-overlaps-system-zone', '').replace('-', ' ')} (block ${zone.block}) overlaps other filesystem metadata`,
      kernelSays: 'failed to initialize system zone (-117)',
      remedy: fsck,
    });
    return problems;
  }
  const overlap = descriptors.find(
    (p) => p.what.endsWith('-overlaps-superblock') || p.what.endsWith('-overlaps-descriptors'),
  );
  if (overlap) {
    const on = overlap.what.endsWith('superblock') ? 'superblock' : 'block group descriptors';
    problems.push({
      code: 'GROUP_DESCRIPTORS_CORRUPT',
      severity: 'read-only',
      family: 'DIDF',
      message: `group descriptor ${overlap.group}: the ${partName(overlap.what)} (block ${overlap.block}) overlaps the ${on}; the kernel refuses a read-write mount`,
      kernelSays: `ext4_check_descriptors: ${kernelPart(overlap.what)} for group ${overlap.group} overlaps ${on}`,
      remedy: fsck,
    });
  }
  const checksum = descriptors.find((p) => p.what === 'checksum');
  if (checksum && !overlap) {
    problems.push({
      code: 'GROUP_DESCRIPTOR_CHECKSUM',
      severity: 'read-only',
      family: 'DIDF',
      message: `the checksum of group descriptor ${checksum.group} does not match${more(descriptors.filter((p) => p.what === 'checksum').length)}; the kernel refuses a read-write mount`,
      kernelSays: `ext4_check_descriptors: Checksum for group ${checksum.group} failed`,
      remedy: fsck,
    });
  }

  // ext4_multi_mount_protect (fs/ext4/mmp.c), on read-write mounts only: the block must be inside
  // the filesystem, and read_mmp_block() wants its magic and (metadata_csum) its checksum; a
  // sequence of EXT4_MMP_SEQ_FSCK is e2fsck still running, or killed while it ran.
  const mmp = has(sb.featureIncompat, INCOMPAT_MMP) ? mmpProblem(ctx, sb, deep) : undefined;
  if (mmp) problems.push(mmp);

  // ext4_enable_quotas on a read-write mount: ext4_check_quota_inum() (fs/ext4/super.c, in the
  // stable kernels since 4.19) wants the user and group quota files at inodes 3 and 4 and a project
  // quota file past the reserved inodes; anything else fails the mount "Bad quota inum".
  if (has(sb.featureRoCompat, RO_COMPAT_QUOTA)) {
    const bad = (
      [
        ['user', sb.usrQuotaInum, (n: number) => n === 3],
        ['group', sb.grpQuotaInum, (n: number) => n === 4],
        ['project', sb.prjQuotaInum, (n: number) => n >= 11],
      ] as const
    ).find(([, inum, ok]) => inum !== 0 && !ok(inum));
    if (bad)
      problems.push({
        code: 'SUPERBLOCK_INVALID',
        severity: 'read-only',
        family: 'DIDF',
        message: `the superblock names inode ${bad[1]} as the ${bad[0]} quota file; the kernel refuses a read-write mount`,
        kernelSays: `Bad quota inum: ${bad[1]}, type: ${['user', 'group', 'project'].indexOf(bad[0])}`,
        remedy: fsck,
      });
  }

  // ext4_load_journal (a read-only mount loads the journal too).
  const journal = judgeJournal(ctx, sb, blockSize, fsck);
  if (journal) {
    problems.push(journal);
    return problems;
  }

  // The root inode (__ext4_fill_super after the journal).
  const root = deep.rootInode;
  if (root) {
    const broken = !root.read
      ? `cannot be read (${root.error ?? 'error'})`
      : !root.checksumValid
        ? 'has a bad checksum'
        : root.links === 0
          ? 'is unallocated'
          : (root.mode & S_IFMT) !== S_IFDIR || root.blocks === 0 || root.size === 0
            ? 'is not a directory with blocks'
            : null;
    if (broken) {
      problems.push({
        code: 'ROOT_INODE_CORRUPT',
        severity: 'will-not-mount',
        family: 'DIDF',
        message: `the root directory inode (2) ${broken}`,
        kernelSays:
          root.read && root.checksumValid && root.links > 0
            ? 'corrupt root inode, run e2fsck'
            : 'get root inode failed',
        remedy: fsck,
      });
      return problems;
    }
  }

  // Block 0 of / fails its checksum: the kernel mounts, but every lookup in / fails (fs/ext4/namei.c
  // "checksumming directory block 0"), so no init is found and the guest cannot boot from it.
  if (deep.rootDirBlock0 && !deep.rootDirBlock0.checksumValid) {
    problems.push({
      code: 'ROOT_DIRECTORY_CORRUPT',
      severity: 'will-not-mount',
      family: 'DIDF',
      message: `the root directory's first block (${deep.rootDirBlock0.block}) fails its checksum; the kernel mounts the filesystem, but no path in it resolves (EBADMSG)`,
      kernelSays: '__ext4_find_entry: inode #2: comm init: checksumming directory block 0',
      remedy: fsck,
    });
    return problems;
  }

  // ext4_setup_super: warnings on a read-write mount.
  if (!has(sb.state, STATE_VALID)) {
    problems.push(
      warning(
        ctx,
        'the filesystem was not cleanly unmounted or never checked',
        'warning: mounting unchecked fs, running e2fsck is recommended',
      ),
    );
  } else if (has(sb.state, STATE_ERROR)) {
    problems.push(
      warning(
        ctx,
        'the filesystem is marked as having errors',
        'warning: mounting fs with errors, running e2fsck is recommended',
      ),
    );
  } else if (sb.maxMntCount > 0 && sb.mntCount >= sb.maxMntCount) {
    problems.push(
      warning(
        ctx,
        'the maximal mount count is reached',
        'warning: maximal mount count reached, running e2fsck is recommended',
      ),
    );
  }
  return problems;
}

function judgeJournal(
  ctx: Ext4Context,
  sb: NativeExt2Superblock,
  blockSize: number,
  fsck: string,
): MountProblem | undefined {
  if (!has(sb.featureCompat, COMPAT_HAS_JOURNAL)) return undefined;
  const damaged = (message: string, kernelSays: string): MountProblem => ({
    code: 'JOURNAL_DAMAGED',
    severity: 'will-not-mount',
    family: 'DIDF',
    message: `the journal is unusable: ${message}; ext4 fails the mount with "error loading journal"`,
    kernelSays,
    remedy: `${fsck}  # or drop the journal and make a new one: tune2fs -f -O ^has_journal ${ctx.device} && tune2fs -j ${ctx.device}`,
  });
  if (sb.journalInum === 0) {
    if (sb.journalDev !== 0 || sb.journalUuidSet)
      return {
        code: 'JOURNAL_DAMAGED',
        severity: 'will-not-mount',
        family: 'DIDF',
        message: `the journal is on an external device (number ${sb.journalDev >> 8}:${sb.journalDev & 0xff}) that a guest does not have`,
        kernelSays: `failed to open journal device unknown-block(${sb.journalDev >> 8},${sb.journalDev & 0xff})`,
        remedy: `tune2fs -f -O ^has_journal ${ctx.device} && tune2fs -j ${ctx.device}  # an internal journal instead`,
      };
    return damaged(
      'the has_journal feature is set but no journal inode or device is named',
      'failed to open journal device unknown-block(0,0)',
    );
  }
  if (sb.journalInum > sb.inodesCount)
    return damaged(`journal inode ${sb.journalInum} does not exist`, 'no journal found');
  const inode = ctx.report.deep?.journalInode;
  if (!inode?.read)
    return damaged(
      `journal inode ${sb.journalInum} cannot be read (${inode?.error ?? 'error'})`,
      'no journal found',
    );
  if (!inode.checksumValid)
    return damaged(`journal inode ${sb.journalInum} has a bad checksum`, 'no journal found');
  if (inode.links === 0)
    return damaged(`journal inode ${sb.journalInum} is deleted`, 'journal inode is deleted');
  if ((inode.mode & S_IFMT) !== S_IFREG)
    return damaged(`journal inode ${sb.journalInum} is not a regular file`, 'invalid journal inode');
  if (inode.bmapError || inode.firstBlock === 0 || inode.readError || !inode.superblock)
    return damaged(
      `the journal's first block cannot be located (${inode.bmapError ?? inode.readError ?? 'no block mapped'})`,
      'jbd2_journal_init_inode: Cannot locate journal superblock',
    );
  const jsb = inode.superblock;
  const magic = jsb.readUInt32BE(0);
  const blockType = jsb.readUInt32BE(4);
  const jBlockSize = jsb.readUInt32BE(12);
  if (magic !== 0xc03b3998 || jBlockSize !== blockSize)
    return damaged(
      magic !== 0xc03b3998
        ? `bad journal superblock magic 0x${hex(magic)}`
        : `journal block size ${jBlockSize} differs from ${blockSize}`,
      'JBD2: no valid journal superblock found',
    );
  if (blockType !== 3 && blockType !== 4)
    return damaged(`journal superblock type ${blockType}`, 'JBD2: unrecognised superblock format ID');
  const totalLen = Math.floor(inode.size / blockSize);
  const maxLen = jsb.readUInt32BE(16);
  if (maxLen > totalLen)
    return damaged(
      `the journal says ${maxLen} blocks, its inode holds ${totalLen}`,
      'JBD2: journal file too short',
    );
  const length = Math.min(maxLen, totalLen);
  const first = jsb.readUInt32BE(20);
  if (first === 0 || first >= length)
    return damaged(`journal start block ${first}`, `JBD2: Invalid start block of journal: ${first}`);
  if (blockType === 3) return undefined; // v1: no features
  const jCompat = jsb.readUInt32BE(36);
  const jIncompat = jsb.readUInt32BE(40);
  const jRoCompat = jsb.readUInt32BE(44);
  const csumV2 = (jIncompat & 0x8) !== 0;
  const csumV3 = (jIncompat & 0x10) !== 0;
  if (csumV2 && csumV3)
    return damaged(
      'journal checksums v2 and v3 both set',
      "JBD2: Can't enable checksumming v2 and v3 at the same time!",
    );
  if ((csumV2 || csumV3) && (jCompat & 0x1) !== 0)
    return damaged(
      'journal checksums v1 and v2/v3 both set',
      "JBD2: Can't enable checksumming v1 and v2/3 at the same time!",
    );
  if (csumV2 || csumV3) {
    if (jsb.readUInt8(80) !== 4)
      return damaged(`journal checksum type ${jsb.readUInt8(80)}`, 'JBD2: Unknown checksum type');
    if (ctx.journalChecksumValid === false)
      return damaged('the journal superblock checksum does not match', 'JBD2: journal checksum error');
  }
  // JBD2_KNOWN_INCOMPAT_FEATURES: revoke, 64bit, async_commit, csum v2, csum v3, fast_commit (5.10).
  const knownIncompat = 0x1f | (ctx.kernel[0] > 5 || (ctx.kernel[0] === 5 && ctx.kernel[1] >= 10) ? 0x20 : 0);
  if ((jIncompat & ~knownIncompat) !== 0 || jRoCompat !== 0)
    return damaged(
      `journal features 0x${hex(jIncompat & ~knownIncompat)} (incompatible) / 0x${hex(jRoCompat)} (read-only) unknown to ${formatKernel(ctx.kernel)}`,
      'JBD2: Unrecognised features on journal',
    );
  return undefined;
}

function mmpProblem(
  ctx: Ext4Context,
  sb: NativeExt2Superblock,
  deep: NonNullable<Ext4Context['report']['deep']>,
): MountProblem | undefined {
  const refused = (message: string, kernelSays: string): MountProblem => ({
    code: 'SUPERBLOCK_INVALID',
    severity: 'read-only',
    family: 'DIDF',
    message: `${message}; the kernel refuses a read-write mount`,
    kernelSays,
    remedy: `tune2fs -f -O ^mmp ${ctx.device}  # then e2fsck -f ${ctx.device}`,
  });
  const blocks = sb.blocksCountLo + sb.blocksCountHi * 2 ** 32;
  if (sb.mmpBlock < sb.firstDataBlock || sb.mmpBlock >= blocks)
    return refused(
      `the multi-mount protection (mmp) block ${sb.mmpBlock} is outside the filesystem`,
      'Invalid MMP block in superblock',
    );
  const mmp = deep.mmp;
  if (!mmp || mmp.readError) return undefined;
  if (mmp.magic !== 0x004d4d50)
    return refused(
      'the multi-mount protection (mmp) block is invalid',
      'read_mmp_block: Error -117 while reading MMP block',
    );
  if (has(sb.featureRoCompat, RO_COMPAT_METADATA_CSUM) && !mmp.checksumValid)
    return refused(
      'the multi-mount protection (mmp) block fails its checksum',
      `read_mmp_block: Error -74 while reading MMP block ${sb.mmpBlock}`,
    );
  if (mmp.sequence === 0xe24d4d50)
    return refused(
      'the multi-mount protection (mmp) block says e2fsck is running on the filesystem',
      'fsck is running on the filesystem',
    );
  return undefined;
}

function featureProblem(
  ctx: Ext4Context,
  verdict: ReturnType<typeof judgeFeatures>,
  severity: 'will-not-mount' | 'read-only',
  word: number,
  table: readonly FeatureBit[],
): MountProblem {
  const kind = severity === 'will-not-mount' ? 'incompatible' : 'read-only compatible';
  const unsupportedBits = table
    .filter((f) => has(word, f.bit) && verdict.unsupported.includes(f.name))
    .reduce((a, f) => a + f.bit, 0);
  const unknownBits = verdict.unknown.filter((n) => n.startsWith('0x')).reduce((a, n) => a + Number(n), 0);
  const mask = unsupportedBits + unknownBits;
  const newer = onlyNewerKernel(verdict);
  const kernelSays =
    severity === 'will-not-mount'
      ? `Couldn't mount because of unsupported optional features (${mask.toString(16)})`
      : `couldn't mount RDWR because of unsupported optional features (${mask.toString(16)})`;
  return {
    code: 'FEATURE_UNSUPPORTED',
    severity,
    family: newer ? 'UVKE' : 'DIDF',
    message: newer
      ? `the filesystem uses ${kind} features that ${ctx.kernelName} does not know: ${verdict.newerKernel.join(', ')}${severity === 'read-only' ? '; it mounts read-only only' : ''}`
      : `the superblock sets ${kind} feature bits no Linux knows (${verdict.unsupported.join(', ')}): corrupt, or made by another system`,
    kernelSays,
    remedy: newer
      ? `boot a guest kernel of Linux ${newestSince(verdict.newerKernel)} or newer, or remove the features: tune2fs -O ${verdict.unsupported.map((n) => `^${n}`).join(',')} ${ctx.device}`
      : (ctx.backupRemedy ??
        `tune2fs -O ${verdict.unsupported.map((n) => `^${n}`).join(',')} ${ctx.device}  # if the bit is corruption; e2fsck refuses a filesystem with unknown features`),
  };
}

function newestSince(names: string[]): string {
  const versions = names
    .map((n) => /Linux (\d+)\.(\d+)/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null);
  versions.sort((a, b) => Number(b[1]) - Number(a[1]) || Number(b[2]) - Number(a[2]));
  return versions[0] ? `${versions[0][1]}.${versions[0][2]}` : '';
}

function warning(ctx: Ext4Context, message: string, kernelSays: string): MountProblem {
  return {
    code: 'FILESYSTEM_WARNING',
    severity: 'warning',
    family: 'DIDF',
    message: `${message}: it mounts, with a warning`,
    kernelSays,
    remedy: `e2fsck -f ${ctx.device}`,
  };
}

function partName(what: string): string {
  return what.startsWith('block-bitmap')
    ? 'block bitmap'
    : what.startsWith('inode-bitmap')
      ? 'inode bitmap'
      : 'inode table';
}
function kernelPart(what: string): string {
  return what.startsWith('block-bitmap')
    ? 'Block bitmap'
    : what.startsWith('inode-bitmap')
      ? 'Inode bitmap'
      : 'Inode table';
}
function more(count: number | undefined): string {
  return count && count > 1 ? ` (${count} descriptor problems in all)` : '';
}
function hex(n: number): string {
  return (n >>> 0).toString(16);
}
