/**
 * The mount-time checks of Linux's btrfs driver, modelled on fs/btrfs/disk-io.c
 * (btrfs_check_super_csum, btrfs_validate_super, open_ctree) of Linux 6.1, on
 * the raw primary superblock at 64 KiB (struct btrfs_super_block, little-endian).
 * Linux mounts from the primary copy only; the mirrors at 64 MiB and 256 GiB are
 * what `btrfs rescue super-recover` restores it from.
 */
import { createHash } from 'node:crypto';
import { xxhash64 } from '../../util/xxhash64.js';
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
  /** The first problem of the tree blocks read at mount (btrfs-trees.ts), read by the caller. */
  trees?: () => string[];
  /** The devices the chunk tree names, this disk's included. */
  devices?: { devid: number; uuid: string }[];
}

const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

/**
 * The checksum a btrfs superblock or tree block carries in its first bytes and the one its other
 * bytes give, as hex, for csum types crc32c (0), xxhash64 (1) and sha256 (2); undefined for
 * blake2b (3), which Node's crypto lacks in its 256-bit form, or without a crc32c.
 */
export function btrfsChecksum(
  csumType: number,
  block: Buffer,
  crc?: (bytes: Buffer) => number,
): { stored: string; computed: string } | undefined {
  const data = block.subarray(32);
  if (csumType === 0 && crc)
    return {
      stored: block.readUInt32LE(0).toString(16).padStart(8, '0'),
      computed: crc(data).toString(16).padStart(8, '0'),
    };
  if (csumType === 1)
    return {
      stored: block.readBigUInt64LE(0).toString(16).padStart(16, '0'),
      computed: xxhash64(data).toString(16).padStart(16, '0'),
    };
  if (csumType === 2)
    return {
      stored: block.subarray(0, 32).toString('hex'),
      computed: createHash('sha256').update(data).digest('hex'),
    };
  return undefined;
}

// BTRFS_SUPER_FLAG_SUPP (6.1): WRITTEN, RELOC, ERROR, SEEDING, METADUMP, METADUMP_V2, and the
// CHANGING_FSID bits btrfstune leaves while it rewrites the fsid (Linux 6.1 read past flag 1 << 36 on
// btrfs-progs's misc-034 images to fail on their missing second device, not on the flag).
const SUPER_FLAG_SUPP =
  0x1n | 0x2n | 0x4n | (1n << 32n) | (1n << 33n) | (1n << 34n) | (1n << 35n) | (1n << 36n);

export const formatUuid = (b: Buffer): string => {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

/** The stripes of the superblock's system chunks: (devid, device UUID) each. */
function systemStripes(sb: Buffer): { devid: bigint; uuid: Buffer }[] {
  const area = sb.subarray(0x32b, 0x32b + Math.min(sb.readUInt32LE(160), 2048));
  const out: { devid: bigint; uuid: Buffer }[] = [];
  for (let at = 0; at + 17 + 48 <= area.length; ) {
    const c = at + 17;
    const n = area.readUInt16LE(c + 44);
    if (n === 0 || c + 48 + 32 * n > area.length) break;
    for (let i = 0; i < n; i++) {
      const st = c + 48 + 32 * i;
      out.push({ devid: area.readBigUInt64LE(st), uuid: area.subarray(st + 16, st + 32) });
    }
    at = c + 48 + 32 * n;
  }
  return out;
}

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
  const sum = btrfsChecksum(csumType, b.subarray(0, 4096), ctx.crc);
  if (sum && sum.stored !== sum.computed)
    return [
      {
        code: 'SUPERBLOCK_CHECKSUM',
        severity: 'will-not-mount',
        family: 'DIDF',
        message: `the btrfs primary superblock checksum does not match (stored 0x${sum.stored}, computed 0x${sum.computed})`,
        kernelSays: 'superblock checksum mismatch',
        remedy: `${recover}  # restores the primary from a mirror copy, where the device is large enough to hold one (64 MiB)`,
      },
    ];
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
  // btrfs_validate_super(): flags outside BTRFS_SUPER_FLAG_SUPP.
  const flags = b.readBigUInt64LE(56);
  if ((flags & ~SUPER_FLAG_SUPP) !== 0n)
    return invalid(
      `superblock flags 0x${flags.toString(16)} the kernel does not know`,
      `unrecognized or unsupported super flag: ${flags & ~SUPER_FLAG_SUPP}`,
    );
  const metadataUuid =
    (Number(b.readBigUInt64LE(188) & 0xffffffffn) & 0x400) !== 0 ? b.subarray(571, 587) : b.subarray(32, 48);
  if (!b.subarray(201 + 82, 201 + 98).equals(metadataUuid))
    return invalid(
      'its device item belongs to another filesystem',
      `dev_item UUID does not match metadata fsid: ${formatUuid(b.subarray(201 + 82, 201 + 98))} != ${formatUuid(metadataUuid)}`,
    );
  // read_one_chunk(): every stripe of a system chunk must be on a device the kernel has; a
  // single-device filesystem has only this one (its devid and device UUID in the superblock).
  if (numDevices === 1) {
    const devid = b.readBigUInt64LE(201);
    const devUuid = b.subarray(201 + 66, 201 + 82);
    for (const s of systemStripes(b))
      if (s.devid !== devid || !s.uuid.equals(devUuid))
        return invalid(
          `a system chunk lies on device ${s.devid} (${formatUuid(s.uuid)}), not on this one`,
          `devid ${s.devid} uuid ${formatUuid(s.uuid)} is missing`,
        );
    // btrfs_read_chunk_tree(): the devices' sizes may not add up to more than the filesystem's.
    const total = b.readBigUInt64LE(112);
    const devTotal = b.readBigUInt64LE(201 + 8);
    if (total < devTotal)
      return invalid(
        `the filesystem is ${total} bytes but its device ${devTotal}`,
        `super_total_bytes ${total} mismatch with fs_devices total_rw_bytes ${devTotal}`,
      );
  }
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
  // read_one_dev() / read_one_chunk(): a device the chunk tree names that the kernel has not
  // scanned fails the mount ("devid N uuid U is missing") unless -o degraded. The superblock's
  // num_devices is not what counts: the kernel repairs it from the chunk tree's DEV_ITEMs. This disk
  // is one of several; the preflight drops the problem when the VM's other disks hold the rest
  // (pairBtrfsDevices).
  const devid = Number(b.readBigUInt64LE(201));
  const others = (ctx.devices ?? []).filter((d) => d.devid !== devid);
  if (others.length > 0) {
    const fsid = formatUuid(b.subarray(32, 48));
    return [
      {
        code: 'DEVICES_MISSING',
        severity: 'will-not-mount',
        family: 'VMCE',
        message: `the btrfs filesystem ${fsid} spans ${others.length + 1} devices and this disk is device ${devid}: the kernel mounts it only with device${others.length > 1 ? 's' : ''} ${others.map((d) => d.devid).join(', ')} too`,
        kernelSays: `devid ${others[0]?.devid} uuid ${others[0]?.uuid} is missing`,
        remedy: `give the VM every device of btrfs ${fsid} (blkid -t UUID=${fsid} lists them in dom0), or add rootflags=degraded if its profile keeps a copy here`,
      },
    ];
  }
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
  type: bigint;
  subStripes: number;
  stripes: { devid: bigint; physical: number }[];
}

/** One struct btrfs_chunk at `at` (48 bytes, then 32 per stripe), mapped by its first stripe. */
export function parseChunk(
  buf: Buffer,
  at: number,
  logical: number,
): { chunk: BtrfsChunk; bytes: number } | undefined {
  if (at + 80 > buf.length) return undefined;
  const n = buf.readUInt16LE(at + 44);
  if (n === 0 || at + 48 + 32 * n > buf.length) return undefined;
  const stripes = Array.from({ length: n }, (_, i) => ({
    devid: buf.readBigUInt64LE(at + 48 + 32 * i),
    physical: Number(buf.readBigUInt64LE(at + 48 + 32 * i + 8)),
  }));
  return {
    chunk: {
      logical,
      length: Number(buf.readBigUInt64LE(at)),
      physical: stripes[0]?.physical ?? 0,
      type: buf.readBigUInt64LE(at + 24),
      subStripes: buf.readUInt16LE(at + 46),
      stripes,
    },
    bytes: 48 + 32 * n,
  };
}

/** btrfs_calc_stripe_length(): how much of each device one chunk takes. */
export function chunkStripeLength(c: BtrfsChunk): number {
  const n = c.stripes.length;
  if ((c.type & 0x8n) !== 0n) return c.length / n; // RAID0
  if ((c.type & 0x40n) !== 0n) return c.length / (n / Math.max(1, c.subStripes)); // RAID10
  if ((c.type & 0x80n) !== 0n) return c.length / (n - 1); // RAID5
  if ((c.type & 0x100n) !== 0n) return c.length / (n - 2); // RAID6
  return c.length;
}

// BTRFS_BLOCK_GROUP_* (include/uapi/linux/btrfs_tree.h): the type bits and the profile bits, with
// each profile's btrfs_raid_array ncopies / nparity / sub_stripes / devs_min (fs/btrfs/volumes.c).
const BG_DATA = 0x1n;
const BG_SYSTEM = 0x2n;
const BG_METADATA = 0x4n;
const BG_TYPE_MASK = BG_DATA | BG_SYSTEM | BG_METADATA;
const PROFILES: { bit: bigint; ncopies: number; nparity: number; subStripes: number; devsMin: number }[] = [
  { bit: 0x8n, ncopies: 1, nparity: 0, subStripes: 1, devsMin: 1 }, // RAID0
  { bit: 0x10n, ncopies: 2, nparity: 0, subStripes: 1, devsMin: 2 }, // RAID1
  { bit: 0x20n, ncopies: 2, nparity: 0, subStripes: 1, devsMin: 1 }, // DUP
  { bit: 0x40n, ncopies: 2, nparity: 0, subStripes: 2, devsMin: 2 }, // RAID10
  { bit: 0x80n, ncopies: 1, nparity: 1, subStripes: 1, devsMin: 2 }, // RAID5
  { bit: 0x100n, ncopies: 1, nparity: 2, subStripes: 1, devsMin: 3 }, // RAID6
  { bit: 0x200n, ncopies: 3, nparity: 0, subStripes: 1, devsMin: 3 }, // RAID1C3
  { bit: 0x400n, ncopies: 4, nparity: 0, subStripes: 1, devsMin: 4 }, // RAID1C4
];
const PROFILE_MASK = PROFILES.reduce((m, p) => m | p.bit, 0n);
const STRIPE_LEN = 65536n;

/**
 * btrfs_check_chunk_valid() (fs/btrfs/tree-checker.c, Linux 6.1), run on every chunk of the
 * superblock's system array and of the chunk tree: the message it logs, or undefined.
 */
export function checkChunk(
  buf: Buffer,
  at: number,
  logical: bigint,
  sectorSize: number,
  mixedGroups: boolean,
): string | undefined {
  if (at + 48 > buf.length) return 'chunk item truncated';
  const length = buf.readBigUInt64LE(at);
  const stripeLen = buf.readBigUInt64LE(at + 16);
  const type = buf.readBigUInt64LE(at + 24);
  const chunkSectorSize = buf.readUInt32LE(at + 40);
  const numStripes = buf.readUInt16LE(at + 44);
  const subStripes = buf.readUInt16LE(at + 46);
  const profile = PROFILES.find((p) => (type & PROFILE_MASK) === p.bit);
  const ncopies = profile?.ncopies ?? 1;
  const nparity = profile?.nparity ?? 0;
  const sector = BigInt(sectorSize);
  if (numStripes === 0) return `invalid chunk num_stripes, have ${numStripes}`;
  if (numStripes < ncopies) return `invalid chunk num_stripes < ncopies, have ${numStripes} < ${ncopies}`;
  if (nparity && numStripes === nparity)
    return `invalid chunk num_stripes == nparity, have ${numStripes} == ${nparity}`;
  if (logical % sector !== 0n)
    return `invalid chunk logical, have ${logical} should aligned to ${sectorSize}`;
  if (chunkSectorSize !== sectorSize)
    return `invalid chunk sectorsize, have ${chunkSectorSize} expect ${sectorSize}`;
  if (length === 0n || length % sector !== 0n) return `invalid chunk length, have ${length}`;
  if (logical + length >= 2n ** 64n)
    return `invalid chunk logical start and length, have logical start ${logical} length ${length}`;
  if (stripeLen !== STRIPE_LEN) return `invalid chunk stripe length: ${stripeLen}`;
  if ((type & ~(BG_TYPE_MASK | PROFILE_MASK)) !== 0n)
    return `unrecognized chunk type: 0x${(type & ~(BG_TYPE_MASK | PROFILE_MASK)).toString(16)}`;
  if ((type & PROFILE_MASK) !== 0n && !profile)
    return `invalid chunk profile flag: 0x${(type & PROFILE_MASK).toString(16)}, expect 0 or 1 bit set`;
  if ((type & BG_TYPE_MASK) === 0n)
    return `missing chunk type flag, have 0x${type.toString(16)} one bit must be set in type mask 0x${BG_TYPE_MASK.toString(16)}`;
  if ((type & BG_SYSTEM) !== 0n && (type & (BG_METADATA | BG_DATA)) !== 0n)
    return `system chunk with data or metadata type: 0x${type.toString(16)}`;
  if (!mixedGroups && (type & BG_METADATA) !== 0n && (type & BG_DATA) !== 0n)
    return `mixed chunk type in non-mixed mode: 0x${type.toString(16)}`;
  const raid10 = (type & 0x40n) !== 0n;
  const bad =
    (raid10 && (subStripes !== 2 || numStripes % subStripes !== 0)) ||
    ((type & 0x10n) !== 0n && numStripes < 2) ||
    ((type & 0x200n) !== 0n && numStripes < 3) ||
    ((type & 0x400n) !== 0n && numStripes < 4) ||
    ((type & 0x80n) !== 0n && numStripes < 2) ||
    ((type & 0x100n) !== 0n && numStripes < 3) ||
    ((type & 0x20n) !== 0n && numStripes !== 2) ||
    ((type & PROFILE_MASK) === 0n && numStripes !== 1);
  if (bad)
    return `invalid num_stripes:sub_stripes ${numStripes}:${subStripes} for profile ${type & PROFILE_MASK}`;
  return undefined;
}

/**
 * Every copy of a logical address the kernel may read (btrfs_map_block for a read: DUP and the
 * RAID1 profiles keep one per stripe, the others one), each with the device that holds it.
 */
export function btrfsMirrors(chunks: BtrfsChunk[], logical: number): { devid: bigint; physical: number }[] {
  const c = chunks.find((k) => logical >= k.logical && logical < k.logical + k.length);
  if (!c) return [];
  const within = logical - c.logical;
  const copies = (c.type & (0x20n | 0x10n | 0x200n | 0x400n)) !== 0n ? c.stripes : c.stripes.slice(0, 1);
  return copies.map((st) => ({ devid: st.devid, physical: st.physical + within }));
}

export function btrfsMap(chunks: BtrfsChunk[], logical: number): number | undefined {
  const c = chunks.find((k) => logical >= k.logical && logical < k.logical + k.length);
  return c ? c.physical + (logical - c.logical) : undefined;
}
