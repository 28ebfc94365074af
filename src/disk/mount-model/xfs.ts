/**
 * The mount-time checks of Linux's xfs driver, modelled on fs/xfs/libxfs/xfs_sb.c
 * (xfs_validate_sb_read, xfs_validate_sb_common, xfs_sb_read_verify) and
 * fs/xfs/xfs_super.c (xfs_fs_fill_super) of Linux 6.1. Parsed here from the
 * raw superblock because no library on a Debian dom0 exposes xfs's verifier;
 * the layout is struct xfs_dsb (big-endian, the CRC little-endian).
 */
import { type FeatureBit, type KernelVersion, judgeFeatures, onlyNewerKernel } from './kernel-version.js';
import type { MountProblem } from './problem.js';

export const XFS_MAGIC = 0x58465342; // "XFSB"

// XFS_SB_FEAT_INCOMPAT_* (v5) and the release that first mounts each.
export const XFS_INCOMPAT: readonly FeatureBit[] = [
  { bit: 0x1, name: 'ftype', since: [3, 10] },
  { bit: 0x2, name: 'sparse inodes', since: [4, 2] },
  { bit: 0x4, name: 'meta_uuid', since: [4, 3] },
  { bit: 0x8, name: 'bigtime', since: [5, 10] },
  { bit: 0x10, name: 'needsrepair', since: [5, 13] },
  { bit: 0x20, name: 'nrext64', since: [5, 19] },
  { bit: 0x40, name: 'exchange', since: [6, 10] },
  { bit: 0x80, name: 'parent', since: [6, 12] },
];
export const XFS_RO_COMPAT: readonly FeatureBit[] = [
  { bit: 0x1, name: 'finobt', since: [3, 16] },
  { bit: 0x2, name: 'rmapbt', since: [4, 8] },
  { bit: 0x4, name: 'reflink', since: [4, 9] },
  { bit: 0x8, name: 'inobtcount', since: [5, 10] },
];
export const XFS_LOG_INCOMPAT: readonly FeatureBit[] = [{ bit: 0x1, name: 'log xattrs', since: [5, 19] }];

export interface XfsContext {
  /** The first sector(s) of the filesystem: at least 512 bytes. */
  bytes: Buffer;
  /** CRC32C of bytes[0, sectsize) with the CRC field zeroed, finalised (~crc), from the caller. */
  crc?: (sectorBytes: Buffer) => number;
  areaBytes: number;
  kernel: KernelVersion;
  kernelName: string;
  device: string;
  /** Problems in the AG headers, root inode and log head (see xfsMetadataProblems), read by the caller. */
  metadata?: () => string[];
}

/** Where the caller must read for xfsMetadataProblems: byte ranges relative to the filesystem start. */
export function xfsMetadataReads(sb: Buffer): { what: string; at: number; length: number }[] {
  const blockSize = sb.readUInt32BE(4);
  const agblocks = sb.readUInt32BE(84);
  const agcount = Math.min(sb.readUInt32BE(88), 16);
  const sectSize = sb.readUInt16BE(102);
  const inodeSize = sb.readUInt16BE(104);
  const agblkLog = sb.readUInt8(124);
  const inopbLog = sb.readUInt8(123);
  const reads: { what: string; at: number; length: number }[] = [];
  for (let ag = 0; ag < agcount; ag++)
    reads.push({ what: `ag${ag}`, at: ag * agblocks * blockSize, length: 4 * sectSize });
  const fsblockToByte = (fsb: bigint) => {
    const agno = Number(fsb >> BigInt(agblkLog));
    const agbno = Number(fsb & ((1n << BigInt(agblkLog)) - 1n));
    return (agno * agblocks + agbno) * blockSize;
  };
  const rootino = sb.readBigUInt64BE(56);
  const inoBlock = rootino >> BigInt(inopbLog);
  const inoIndex = Number(rootino & ((1n << BigInt(inopbLog)) - 1n));
  reads.push({ what: 'rootino', at: fsblockToByte(inoBlock) + inoIndex * inodeSize, length: 176 });
  reads.push({ what: 'log', at: fsblockToByte(sb.readBigUInt64BE(48)), length: 512 });
  return reads;
}

/** The magics and UUIDs xfs's read verifiers check on what those reads return. */
export function xfsMetadataProblems(sb: Buffer, blocks: Map<string, Buffer>): string[] {
  const problems: string[] = [];
  const v5 = (sb.readUInt16BE(100) & 0xf) === 5;
  const metaUuid = v5 && (sb.readUInt32BE(216) & 0x4) !== 0 ? sb.subarray(248, 264) : sb.subarray(32, 48);
  const sectSize = sb.readUInt16BE(102);
  for (const [what, bytes] of blocks) {
    if (what.startsWith('ag')) {
      const ag = Number(what.slice(2));
      if (bytes.length < 4 * sectSize) {
        problems.push(`AG ${ag} lies past the end of the device`);
        continue;
      }
      // Secondary superblocks and the AGFs are not read to mount (the oracle: a broken AGF 0
      // mounts with a warning); each AGI is (xfs_initialize_perag, unlinked-inode lists).
      const agi = bytes.subarray(2 * sectSize, 3 * sectSize);
      if (agi.readUInt32BE(0) !== 0x58414749) problems.push(`the AGI of AG ${ag} has a bad magic`);
      else if (v5 && !agi.subarray(296, 312).equals(metaUuid))
        problems.push(`the AGI of AG ${ag} belongs to another filesystem (UUID)`);
    } else if (what === 'rootino') {
      // xfs_inode_from_disk / xfs_mountfs: an inode (magic "IN"), a directory, and (v3 inodes) itself.
      if (bytes.length < 176 || bytes.readUInt16BE(0) !== 0x494e)
        problems.push('the root inode has no inode magic');
      else if ((bytes.readUInt16BE(2) & 0o170000) !== 0o040000)
        problems.push('the root inode is not a directory');
      else if (bytes.readUInt8(4) >= 3 && bytes.readBigUInt64BE(152) !== sb.readBigUInt64BE(56))
        problems.push(
          `the root inode number ${sb.readBigUInt64BE(56)} names inode ${bytes.readBigUInt64BE(152)}`,
        );
    } else if (what === 'log') {
      // Every 512-byte block of the log starts with a record header (XLOG_HEADER_MAGIC_NUM) or, inside a
      // record that wrapped past the log's end, with its cycle number (xlog_pack_data); a fresh log may be
      // all zero ("totally zeroed log"). Anything else at the log's first block is not a log.
      const zero = bytes.every((x) => x === 0);
      const first = bytes.length >= 4 ? bytes.readUInt32BE(0) : 0;
      const cycle = first > 0 && first < 2 ** 24;
      if (!zero && first !== 0xfeedbabe && !cycle)
        problems.push('the log does not start with a log record header');
    }
  }
  return problems;
}

const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

export function judgeXfs(ctx: XfsContext): MountProblem[] {
  const b = ctx.bytes;
  if (b.length < 512 || b.readUInt32BE(0) !== XFS_MAGIC) return [];
  const repair = `xfs_repair ${ctx.device}`;
  const invalid = (message: string, kernelSays: string): MountProblem[] => [
    {
      code: 'SUPERBLOCK_INVALID',
      severity: 'will-not-mount',
      family: 'DIDF',
      message: `the xfs superblock is invalid: ${message}`,
      kernelSays,
      remedy: `${repair}  # it finds a secondary superblock itself when the primary is bad`,
    },
  ];
  const blockSize = b.readUInt32BE(4);
  const dblocks = Number(b.readBigUInt64BE(8));
  const logstart = Number(b.readBigUInt64BE(48));
  const agblocks = b.readUInt32BE(84);
  const agcount = b.readUInt32BE(88);
  const version = b.readUInt16BE(100) & 0xf;
  const sectSize = b.readUInt16BE(102);
  const inodeSize = b.readUInt16BE(104);
  const inopblock = b.readUInt16BE(106);
  const blockLog = b.readUInt8(120);
  const sectLog = b.readUInt8(121);
  const inodeLog = b.readUInt8(122);
  const agblkLog = b.readUInt8(124);
  const inProgress = b.readUInt8(126);
  const imaxPct = b.readUInt8(127);
  const dirblkLog = b.readUInt8(192);

  if (version !== 4 && version !== 5) return invalid(`version ${version}`, 'bad version');
  const v5 = version === 5;
  if (v5 && ctx.crc && sectSize >= 512 && sectSize <= b.length) {
    const stored = b.readUInt32LE(224);
    const computed = ctx.crc(b.subarray(0, sectSize));
    if (stored !== computed)
      return [
        {
          code: 'SUPERBLOCK_CHECKSUM',
          severity: 'will-not-mount',
          family: 'DIDF',
          message: `the xfs superblock CRC does not match (stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)})`,
          kernelSays: 'SB validate failed with error -74.',
          remedy: repair,
        },
      ];
  }
  if (v5) {
    const incompat = judgeFeatures(b.readUInt32BE(216), XFS_INCOMPAT, ctx.kernel);
    if (incompat.unsupported.length > 0)
      return [
        featureProblem(ctx, incompat, 'will-not-mount', 'Superblock has unknown incompatible features'),
      ];
  }
  // xfs_validate_sb_common's geometry.
  const geometryBad =
    agcount === 0 ||
    sectSize < 512 ||
    sectSize > 32768 ||
    sectSize !== 2 ** sectLog ||
    blockSize < 512 ||
    blockSize > 65536 ||
    blockSize !== 2 ** blockLog ||
    dirblkLog + blockLog > 16 ||
    inodeSize < 256 ||
    inodeSize > 2048 ||
    inodeSize !== 2 ** inodeLog ||
    inopblock !== Math.floor(blockSize / inodeSize) ||
    agblocks * blockSize < 16 * 2 ** 20 ||
    agblocks * blockSize > 2 ** 40 ||
    agblkLog !== Math.ceil(Math.log2(agblocks)) ||
    dblocks > agcount * agblocks ||
    dblocks < (agcount - 1) * agblocks + 64 ||
    inProgress !== 0 ||
    imaxPct > 100;
  if (geometryBad) return invalid('its geometry fields disagree', 'SB sanity check failed');
  if (!isPow2(blockSize)) return invalid(`block size ${blockSize}`, 'SB sanity check failed');
  if (dblocks * blockSize > ctx.areaBytes)
    return invalid(
      `the filesystem has ${dblocks} blocks of ${blockSize} bytes, more than the device holds`,
      'last sector read failed',
    );
  if (logstart === 0)
    return [
      {
        code: 'JOURNAL_DAMAGED',
        severity: 'will-not-mount',
        family: 'DIDF',
        message: 'the xfs log is on an external device, which the kernel needs named with logdev=',
        kernelSays: 'Filesystem has external log device; specify logdev on the mount command line.',
        remedy:
          'add logdev=<device> to the root mount options (rootflags=logdev=...) and give the guest that disk',
      },
    ];
  if (blockSize > 4096)
    return [
      {
        code: 'FEATURE_UNSUPPORTED',
        severity: 'will-not-mount',
        family: 'UVKE',
        message: `the xfs block size is ${blockSize} bytes, larger than the guest's 4096-byte pages`,
        kernelSays: `File system with blocksize ${blockSize} bytes. Only pagesize (4096) or less will currently work.`,
        remedy: 'copy the files to an xfs made with 4096-byte blocks (mkfs.xfs -b size=4096)',
      },
    ];
  const rblocks = Number(b.readBigUInt64BE(16));
  if (rblocks !== 0)
    return [
      {
        code: 'SUPERBLOCK_INVALID',
        severity: 'will-not-mount',
        family: 'DIDF',
        message: 'the xfs filesystem has a realtime volume, which the kernel needs named with rtdev=',
        kernelSays: 'Filesystem has a realtime volume, use rtdev=device option',
        remedy: 'add rtdev=<device> to the root mount options and give the guest that disk',
      },
    ];
  const logBlocks = b.readUInt32BE(96);
  if (logBlocks < 512)
    return [
      {
        code: 'JOURNAL_DAMAGED',
        severity: 'will-not-mount',
        family: 'DIDF',
        message: `the xfs log has ${logBlocks} blocks, fewer than the 512 the kernel requires`,
        kernelSays: `Log size ${logBlocks} blocks too small, minimum size is 512 blocks`,
        remedy: repair,
      },
    ];
  const problems: MountProblem[] = [];
  // What xfs_mountfs reads next: each AG's headers, the root inode, the log's head.
  const deeper = ctx.metadata?.();
  if (deeper)
    problems.push(
      ...deeper.map((message) => ({
        code: 'SUPERBLOCK_INVALID' as const,
        severity: 'will-not-mount' as const,
        family: 'DIDF' as const,
        message: `xfs metadata the kernel reads at mount is damaged: ${message}`,
        kernelSays:
          'Metadata corruption detected / Metadata CRC error detected (xfs_agf_read_verify, xfs_agi_read_verify, xfs_inode_buf_verify)',
        remedy: repair,
      })),
    );
  if (problems.length > 0) return problems;
  if (v5) {
    const log = judgeFeatures(b.readUInt32BE(220), XFS_LOG_INCOMPAT, ctx.kernel);
    // Only recovery needs the log features (xlog_recover); a clean log mounts with a warning.
    if (log.unsupported.length > 0)
      problems.push({
        ...featureProblem(ctx, log, 'read-only', 'Superblock has unknown incompatible log features'),
        severity: 'warning',
      });
    const ro = judgeFeatures(b.readUInt32BE(212), XFS_RO_COMPAT, ctx.kernel);
    if (ro.unsupported.length > 0)
      problems.push(
        featureProblem(ctx, ro, 'read-only', 'Superblock has unknown read-only compatible features'),
      );
  }
  return problems;
}

// The mkfs.xfs(8) option that turns each feature off; the rest (meta_uuid, log xattrs) are not
// mkfs choices, and a clean unmount on a kernel that knows them is the way back.
const MKFS_XFS_OPTION: Record<string, string> = {
  ftype: '-n ftype=0',
  'sparse inodes': '-i sparse=0',
  bigtime: '-m bigtime=0',
  nrext64: '-i nrext64=0',
  exchange: '-i exchange=0',
  parent: '-n parent=0',
  finobt: '-m finobt=0',
  rmapbt: '-m rmapbt=0',
  reflink: '-m reflink=0',
  inobtcount: '-m inobtcount=0',
};

// xfsprogs (5.15+) ships the feature set each LTS kernel mounts, under this name.
const XFS_LTS_CONFIGS = ['4.19', '5.4', '5.10', '5.15', '6.1'];

function newerKernelRemedy(features: readonly string[], kernel: KernelVersion): string {
  const options = features.map((f) => MKFS_XFS_OPTION[f]);
  if (options.some((o) => o === undefined))
    return 'boot a newer guest kernel (or mount the filesystem once on one and unmount it cleanly)';
  const lts = `${kernel[0]}.${kernel[1]}`;
  const mkfs = XFS_LTS_CONFIGS.includes(lts)
    ? `mkfs.xfs -c options=/usr/share/xfsprogs/mkfs/lts_${lts}.conf`
    : `mkfs.xfs ${options.join(' ')}`;
  return `boot a newer guest kernel, or make the filesystem again with ${mkfs} and copy the files`;
}

function featureProblem(
  ctx: XfsContext,
  verdict: ReturnType<typeof judgeFeatures>,
  severity: 'will-not-mount' | 'read-only',
  kernelSays: string,
): MountProblem {
  const newer = onlyNewerKernel(verdict);
  const needsRepair = verdict.unsupported.includes('needsrepair') && newer === false;
  return {
    code: 'FEATURE_UNSUPPORTED',
    severity,
    family: newer ? 'UVKE' : 'DIDF',
    message: newer
      ? `the xfs filesystem uses features that ${ctx.kernelName} does not know: ${verdict.newerKernel.join(', ')}${severity === 'read-only' ? '; it mounts read-only only' : ''}`
      : `the xfs superblock sets feature bits no Linux knows (${verdict.unsupported.join(', ')}): corrupt, or made by a newer xfsprogs`,
    kernelSays: `${kernelSays} (0x${verdict.mask.toString(16)}) enabled.`,
    remedy: newer
      ? newerKernelRemedy(verdict.unsupported, ctx.kernel)
      : needsRepair
        ? `xfs_repair ${ctx.device}`
        : `xfs_repair -n ${ctx.device}  # to see what is wrong first`,
  };
}
