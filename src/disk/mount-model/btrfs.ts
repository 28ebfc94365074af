/**
 * The mount-time checks of Linux's btrfs driver, modelled on fs/btrfs/disk-io.c
 * (btrfs_check_super_csum, btrfs_validate_super, open_ctree) of Linux 6.1, on
 * the raw primary superblock at 64 KiB (struct btrfs_super_block, little-endian).
 * Linux mounts from the primary copy only; the mirrors at 64 MiB and 256 GiB are
 * what `btrfs rescue super-recover` restores it from.
 */
import { type FeatureBit, type KernelVersion, judgeFeatures, onlyNewerKernel } from './kernel-version.js';
import type { MountProblem } from './problem.js';

export const BTRFS_SUPER_OFFSET = 65536;
const MAGIC = Buffer.from('_BHRfS_M', 'latin1');

// BTRFS_FEATURE_INCOMPAT_* and the release that first mounts each.
export const BTRFS_INCOMPAT: readonly FeatureBit[] = [
  { bit: 0x1, name: 'mixed_backref', since: [2, 6] },
  { bit: 0x2, name: 'default_subvol', since: [2, 6] },
  { bit: 0x4, name: 'mixed_groups', since: [2, 6] },
  { bit: 0x8, name: 'compress_lzo', since: [2, 6] },
  { bit: 0x10, name: 'compress_zstd', since: [4, 14] },
  { bit: 0x20, name: 'big_metadata', since: [3, 4] },
  { bit: 0x40, name: 'extended_iref', since: [3, 7] },
  { bit: 0x80, name: 'raid56', since: [3, 9] },
  { bit: 0x100, name: 'skinny_metadata', since: [3, 10] },
  { bit: 0x200, name: 'no_holes', since: [3, 14] },
  { bit: 0x400, name: 'metadata_uuid', since: [5, 0] },
  { bit: 0x800, name: 'raid1c34', since: [5, 5] },
  { bit: 0x1000, name: 'zoned', since: [5, 12] },
  { bit: 0x2000, name: 'extent_tree_v2', since: null },
  { bit: 0x4000, name: 'raid_stripe_tree', since: [6, 7] },
  { bit: 0x10000, name: 'simple_quota', since: [6, 7] },
];
export const BTRFS_COMPAT_RO: readonly FeatureBit[] = [
  { bit: 0x1, name: 'free_space_tree', since: [4, 5] },
  { bit: 0x2, name: 'free_space_tree_valid', since: [4, 5] },
  { bit: 0x4, name: 'verity', since: [5, 15] },
  { bit: 0x8, name: 'block_group_tree', since: [6, 1] },
];

export interface BtrfsContext {
  /** 4096 bytes from offset 64 KiB of the filesystem. */
  bytes: Buffer;
  /** ~CRC32C of the bytes, from the caller. */
  crc?: (bytes: Buffer) => number;
  kernel: KernelVersion;
  kernelName: string;
  device: string;
  /** Bytes from the filesystem's start to the end of the disk. */
  areaBytes?: number;
  /** Problems with the chunk and tree roots (btrfsTreeProblems), read by the caller. */
  trees?: () => string[];
}

const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

export function isBtrfsSuper(bytes: Buffer): boolean {
  return bytes.length >= 4096 && bytes.subarray(64, 72).equals(MAGIC);
}

export function judgeBtrfs(ctx: BtrfsContext): MountProblem[] {
  const b = ctx.bytes;
  const recover = `btrfs rescue super-recover -v ${ctx.device}`;
  if (!isBtrfsSuper(b)) return [];
  const invalid = (message: string, kernelSays: string): MountProblem[] => [
    {
      code: 'SUPERBLOCK_INVALID',
      severity: 'will-not-mount',
      family: 'DIDF',
      message: `the btrfs superblock is invalid: ${message}`,
      kernelSays,
      remedy: recover,
    },
  ];
  const csumType = b.readUInt16LE(196);
  if (csumType > 3)
    return invalid(`checksum type ${csumType}`, `unsupported checksum algorithm: ${csumType}`);
  if (csumType === 0 && ctx.crc) {
    const stored = b.readUInt32LE(0);
    const computed = ctx.crc(b.subarray(32, 4096));
    if (stored !== computed)
      return [
        {
          code: 'SUPERBLOCK_CHECKSUM',
          severity: 'will-not-mount',
          family: 'DIDF',
          message: `the btrfs primary superblock checksum does not match (stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)})`,
          kernelSays: 'superblock checksum mismatch',
          remedy: `${recover}  # restores the primary from a mirror copy, where the device is large enough to hold one (64 MiB)`,
        },
      ];
  }
  const sectorSize = b.readUInt32LE(144);
  const nodeSize = b.readUInt32LE(148);
  const leafSize = b.readUInt32LE(152);
  const stripeSize = b.readUInt32LE(156);
  const sysArraySize = b.readUInt32LE(160);
  const numDevices = Number(b.readBigUInt64LE(136));
  const bytenr = Number(b.readBigUInt64LE(48));
  const rootLevel = b.readUInt8(198);
  const chunkLevel = b.readUInt8(199);
  const logLevel = b.readUInt8(200);
  const root = Number(b.readBigUInt64LE(80));
  const chunkRoot = Number(b.readBigUInt64LE(88));
  if (root === 0 || chunkRoot === 0 || root % 4096 !== 0 || chunkRoot % 4096 !== 0)
    return invalid(`tree root at ${root}, chunk root at ${chunkRoot}`, 'tree_root block unaligned');
  if (bytenr !== BTRFS_SUPER_OFFSET)
    return invalid(`the superblock says it is at byte ${bytenr}`, `super offset mismatch ${bytenr} != 65536`);
  if (rootLevel >= 8 || chunkLevel >= 8 || logLevel >= 8)
    return invalid('a tree level of 8 or more', 'tree_root level too big');
  if (!isPow2(sectorSize) || sectorSize < 4096 || sectorSize > 65536)
    return invalid(`sector size ${sectorSize}`, `invalid sectorsize ${sectorSize}`);
  if (!isPow2(nodeSize) || nodeSize < sectorSize || nodeSize > 65536)
    return invalid(`node size ${nodeSize}`, `invalid nodesize ${nodeSize}`);
  if (leafSize !== nodeSize)
    return invalid(`leaf size ${leafSize}`, `invalid leafsize ${leafSize}, should be ${nodeSize}`);
  if (stripeSize !== 0 && !isPow2(stripeSize))
    return invalid(`stripe size ${stripeSize}`, `invalid stripesize ${stripeSize}`);
  if (numDevices === 0) return invalid('0 devices', 'number of devices is 0');
  if (sysArraySize > 2048)
    return invalid(`system chunk array of ${sysArraySize} bytes`, 'system chunk array too big');
  // btrfs_verify_dev_extents / read_one_dev: the device must be as large as the superblock says.
  const devTotal = Number(b.readBigUInt64LE(201 + 8));
  if (ctx.areaBytes !== undefined && devTotal > ctx.areaBytes)
    return [
      {
        code: 'SUPERBLOCK_INVALID',
        severity: 'will-not-mount',
        family: 'DIDF',
        message: `the btrfs device should hold ${devTotal} bytes, but only ${ctx.areaBytes} remain: the image was cut short`,
        kernelSays: `device total_bytes should be at most ${ctx.areaBytes} but found ${devTotal}`,
        remedy: `restore the complete image; if the lost tail held no data, grow it back to ${devTotal} bytes (truncate -s) and run btrfs check --readonly ${ctx.device}`,
      },
    ];
  const incompat = judgeFeatures(Number(b.readBigUInt64LE(188) & 0xffffffffn), BTRFS_INCOMPAT, ctx.kernel);
  if (incompat.unsupported.length > 0)
    return [
      featureProblem(ctx, incompat, 'will-not-mount', 'cannot mount because of unknown incompat features'),
    ];
  if (sectorSize !== 4096)
    return [
      {
        code: 'FEATURE_UNSUPPORTED',
        severity: 'will-not-mount',
        family: 'UVKE',
        message: `the btrfs sector size is ${sectorSize} bytes; a guest with 4096-byte pages mounts only 4096`,
        kernelSays: `sectorsize ${sectorSize} not yet supported for page size 4096`,
        remedy: 'copy the files to a btrfs made with mkfs.btrfs -s 4096',
      },
    ];
  const trees = ctx.trees?.() ?? [];
  if (trees.length > 0)
    return [
      {
        code: 'SUPERBLOCK_INVALID',
        severity: 'will-not-mount',
        family: 'DIDF',
        message: `the btrfs trees the kernel reads first are not what the superblock says: ${trees.join('; ')}`,
        kernelSays: 'open_ctree failed',
        remedy: `btrfs check --readonly ${ctx.device}  # then, if the superblock is the stale part: ${recover}`,
      },
    ];
  const ro = judgeFeatures(Number(b.readBigUInt64LE(180) & 0xffffffffn), BTRFS_COMPAT_RO, ctx.kernel);
  if (ro.unsupported.length > 0)
    return [
      featureProblem(ctx, ro, 'read-only', 'cannot mount read-write because of unknown compat_ro features'),
    ];
  return [];
}

function featureProblem(
  ctx: BtrfsContext,
  verdict: ReturnType<typeof judgeFeatures>,
  severity: 'will-not-mount' | 'read-only',
  kernelSays: string,
): MountProblem {
  const newer = onlyNewerKernel(verdict);
  return {
    code: 'FEATURE_UNSUPPORTED',
    severity,
    family: newer ? 'UVKE' : 'DIDF',
    message: newer
      ? `the btrfs filesystem uses features that ${ctx.kernelName} does not know: ${verdict.newerKernel.join(', ')}`
      : `the btrfs superblock sets feature bits no Linux knows (${verdict.unsupported.join(', ')}): corrupt, or made by a newer btrfs-progs`,
    kernelSays,
    remedy: newer ? 'boot a newer guest kernel' : `btrfs check --readonly ${ctx.device}`,
  };
}

/** A logical → physical map for a single-device btrfs, from chunk items. */
export interface BtrfsChunk {
  logical: number;
  length: number;
  physical: number;
}

/** The SYSTEM chunks the superblock carries (sys_chunk_array at 0x32b): enough to read the chunk tree. */
export function btrfsSystemChunks(sb: Buffer): BtrfsChunk[] {
  const size = Math.min(sb.readUInt32LE(160), 2048);
  return parseChunkItems(sb.subarray(0x32b, 0x32b + size), (at) => at + 17, 17);
}

function parseChunkItems(area: Buffer, chunkAt: (keyAt: number) => number, keyLen: number): BtrfsChunk[] {
  const chunks: BtrfsChunk[] = [];
  let at = 0;
  while (at + keyLen + 48 <= area.length) {
    const logical = Number(area.readBigUInt64LE(at + 9));
    const c = chunkAt(at);
    const stripes = area.readUInt16LE(c + 44);
    if (stripes === 0 || c + 48 + 32 * stripes > area.length) break;
    chunks.push({
      logical,
      length: Number(area.readBigUInt64LE(c)),
      physical: Number(area.readBigUInt64LE(c + 48 + 8)),
    });
    at = c + 48 + 32 * stripes;
  }
  return chunks;
}

/** The chunk items of a chunk-tree leaf (item type 228, BTRFS_CHUNK_ITEM_KEY). */
export function btrfsLeafChunks(node: Buffer): BtrfsChunk[] {
  if (node.length < 101 || node.readUInt8(100) !== 0) return [];
  const items = Math.min(node.readUInt32LE(96), Math.floor((node.length - 101) / 25));
  const chunks: BtrfsChunk[] = [];
  for (let i = 0; i < items; i++) {
    const item = 101 + i * 25;
    if (node.readUInt8(item + 8) !== 228) continue;
    const offset = 101 + node.readUInt32LE(item + 17);
    const size = node.readUInt32LE(item + 21);
    if (offset + size > node.length || size < 80) continue;
    chunks.push({
      logical: Number(node.readBigUInt64LE(item + 9)),
      length: Number(node.readBigUInt64LE(offset)),
      physical: Number(node.readBigUInt64LE(offset + 48 + 8)),
    });
  }
  return chunks;
}

export function btrfsMap(chunks: BtrfsChunk[], logical: number): number | undefined {
  const c = chunks.find((k) => logical >= k.logical && logical < k.logical + k.length);
  return c ? c.physical + (logical - c.logical) : undefined;
}

/**
 * What read_tree_block() checks on the chunk root and the tree root at mount
 * (fs/btrfs/disk-io.c btrfs_validate_extent_buffer, verify_parent_transid): the
 * block is where the superblock says, of this filesystem, of the generation the
 * superblock names, with a good checksum.
 */
export function btrfsTreeProblems(
  sb: Buffer,
  trees: { name: string; logical: number; generation: number; node?: Buffer }[],
  crc?: (bytes: Buffer) => number,
): string[] {
  const incompat = Number(sb.readBigUInt64LE(188) & 0xffffffffn);
  const fsid = (incompat & 0x400) !== 0 ? sb.subarray(571, 587) : sb.subarray(32, 48);
  const problems: string[] = [];
  if (!sb.subarray(283, 299).equals(fsid)) problems.push('dev_item UUID does not match the filesystem id');
  for (const t of trees) {
    const n = t.node;
    if (!n || n.length < 101) {
      problems.push(
        `the ${t.name} (logical ${t.logical}) is not in any chunk, or past the end of the device`,
      );
      continue;
    }
    if (sb.readUInt16LE(196) === 0 && crc && n.readUInt32LE(0) !== crc(n.subarray(32))) {
      problems.push(`the ${t.name} block fails its checksum`);
      continue;
    }
    if (!n.subarray(32, 48).equals(fsid))
      problems.push(`the ${t.name} block belongs to another filesystem (fsid)`);
    else if (Number(n.readBigUInt64LE(48)) !== t.logical)
      problems.push(`the ${t.name} block says it is at ${n.readBigUInt64LE(48)}`);
    else if (Number(n.readBigUInt64LE(80)) !== t.generation)
      problems.push(
        `parent transid verify failed on the ${t.name}: wanted ${t.generation}, found ${n.readBigUInt64LE(80)}`,
      );
  }
  return problems;
}
