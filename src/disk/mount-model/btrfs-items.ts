/**
 * The per-item checks of Linux 6.1's btrfs tree-checker (fs/btrfs/tree-checker.c check_leaf_item
 * and the check_* functions it calls), on one item of a leaf. Each returns the message the kernel
 * logs after "corrupt leaf: root=R block=B slot=S", or undefined. Offsets are those of the on-disk
 * structures in include/uapi/linux/btrfs_tree.h (little-endian, packed).
 *
 * Written here rather than taken from a library: no maintained library exposes the kernel's
 * read-time checks (btrfs-progs's own check is stricter and would call sound filesystems broken).
 */
import { checkChunk } from './btrfs.js';

export interface Key {
  objectid: bigint;
  type: number;
  offset: bigint;
}

export function readKey(b: Buffer, at: number): Key {
  return { objectid: b.readBigUInt64LE(at), type: b.readUInt8(at + 8), offset: b.readBigUInt64LE(at + 9) };
}

export function compareKeys(a: Key, b: Key): number {
  if (a.objectid !== b.objectid) return a.objectid < b.objectid ? -1 : 1;
  if (a.type !== b.type) return a.type < b.type ? -1 : 1;
  if (a.offset !== b.offset) return a.offset < b.offset ? -1 : 1;
  return 0;
}

export const showKey = (k: Key) => `(${k.objectid} ${k.type} ${k.offset})`;

export interface LeafItem {
  slot: number;
  key: Key;
  /** Data offset from the end of the header, as stored. */
  offset: number;
  size: number;
  /** Byte offset of the item's data in the leaf. */
  dataAt: number;
}

export interface TreeFacts {
  nodeSize: number;
  sectorSize: number;
  superGeneration: bigint;
  csumSize: number;
  incompat: bigint;
  /** The raw CRC32C (no inversions) with a seed: btrfs_name_hash is crc32c(~1, name). */
  crc32c?: (bytes: Buffer, seed: number) => number;
}

// Key types.
const INODE_ITEM = 1;
const INODE_REF = 12;
const XATTR_ITEM = 24;
const DIR_ITEM = 84;
const DIR_INDEX = 96;
const EXTENT_DATA = 108;
const EXTENT_CSUM = 128;
export const ROOT_ITEM = 132;
const EXTENT_ITEM = 168;
const METADATA_ITEM = 169;
const TREE_BLOCK_REF = 176;
const EXTENT_DATA_REF = 178;
const SHARED_BLOCK_REF = 182;
const SHARED_DATA_REF = 184;
const BLOCK_GROUP_ITEM = 192;
export const DEV_ITEM = 216;
export const CHUNK_ITEM = 228;

// Object ids.
export const FS_TREE = 5n;
const ROOT_TREE_DIR = 6n;
const FIRST_FREE = 256n;
const LAST_FREE = 2n ** 64n - 256n;
const FREE_INO = 2n ** 64n - 12n;
export const TREE_RELOC = 2n ** 64n - 8n;
const EXTENT_CSUM_OBJECTID = 2n ** 64n - 10n;
const FIRST_CHUNK_TREE = 256n;
const DEV_ITEMS = 1n;

export const MAX_LEVEL = 8;
const NAME_LEN = 255;
const FT_XATTR = 8;
const FT_MAX = 9;

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFBLK = 0o060000;
const S_IFSOCK = 0o140000;
const S_IFDIR = 0o040000;

const asSigned = (v: bigint) => (v >= 2n ** 63n ? v - 2n ** 64n : v);

/** is_fstree(): the top-level subvolume, or a subvolume id (not a qgroup's upper levels). */
export function isFsTree(id: bigint): boolean {
  return id === FS_TREE || (asSigned(id) >= FIRST_FREE && id >> 48n === 0n);
}

function singleBit(v: bigint): boolean {
  return v !== 0n && (v & (v - 1n)) === 0n;
}

export function checkLeafItem(
  leaf: Buffer,
  item: LeafItem,
  prevItem: LeafItem | undefined,
  facts: TreeFacts,
): string | undefined {
  const { key } = item;
  const prev = prevItem?.key;
  switch (key.type) {
    case EXTENT_DATA:
      return checkPrevIno(leaf, item, prev) ?? checkExtentData(leaf, item, prevItem, facts);
    case EXTENT_CSUM:
      return checkCsum(leaf, item, prev, facts);
    case DIR_ITEM:
    case DIR_INDEX:
    case XATTR_ITEM:
      return checkPrevIno(leaf, item, prev) ?? checkDirItem(leaf, item, facts);
    case INODE_REF:
      return checkPrevIno(leaf, item, prev) ?? checkInodeRef(leaf, item);
    case BLOCK_GROUP_ITEM:
      return checkBlockGroup(leaf, item);
    case CHUNK_ITEM:
      return checkChunkItem(leaf, item, facts);
    case DEV_ITEM:
      return checkDevItem(leaf, item);
    case INODE_ITEM:
      return checkInodeItem(leaf, item, facts);
    case ROOT_ITEM:
      return checkRootItem(leaf, item, facts);
    case EXTENT_ITEM:
    case METADATA_ITEM:
      return checkExtentItem(leaf, item, prev, facts);
    case TREE_BLOCK_REF:
    case SHARED_BLOCK_REF:
    case SHARED_DATA_REF:
      return checkKeyedRef(item, facts);
    case EXTENT_DATA_REF:
      return checkExtentDataRef(leaf, item, facts);
    default:
      return undefined;
  }
}

/** check_prev_ino(): in a subvolume tree an inode's items follow its other items. */
function checkPrevIno(leaf: Buffer, item: LeafItem, prev: Key | undefined): string | undefined {
  if (item.slot === 0 || !prev) return undefined;
  if (!isFsTree(leaf.readBigUInt64LE(88))) return undefined;
  if (prev.objectid === item.key.objectid) return undefined;
  return `invalid previous key objectid, have ${prev.objectid} expect ${item.key.objectid}`;
}

/** check_inode_key() for an INODE_ITEM key, or the location key of a dir item (inode kind). */
function checkInodeKey(k: Key, isInodeItem: boolean, isXattr: boolean): string | undefined {
  if (isXattr)
    return k.objectid !== 0n || k.type !== 0 || k.offset !== 0n
      ? 'invalid location key for xattr'
      : undefined;
  const inRange = k.objectid >= FIRST_FREE && k.objectid <= LAST_FREE;
  if (!inRange && k.objectid !== ROOT_TREE_DIR && k.objectid !== FREE_INO)
    return `invalid ${isInodeItem ? 'key' : 'location key'} objectid: has ${k.objectid} expect ${ROOT_TREE_DIR} or [${FIRST_FREE}, ${LAST_FREE}] or ${FREE_INO}`;
  if (k.offset !== 0n)
    return isInodeItem
      ? `invalid key offset: has ${k.offset} expect 0`
      : `invalid location key offset:has ${k.offset} expect 0`;
  return undefined;
}

/** check_root_key(): a ROOT_ITEM's key, or a dir item's location key that names a subvolume. */
function checkRootKey(k: Key, isRootItem: boolean): string | undefined {
  if (k.objectid === 0n) return isRootItem ? 'invalid root id 0' : 'invalid location key root id 0';
  if (!isFsTree(k.objectid) && !isRootItem)
    return `invalid location key objectid, have ${k.objectid} expect [${FIRST_FREE}, ${LAST_FREE}]`;
  if (k.objectid === TREE_RELOC) {
    if (k.offset === 0n) return 'invalid root id 0 for reloc tree';
    if (!isFsTree(k.offset))
      return `invalid reloc tree for root ${asSigned(k.offset)}, root id is not a subvolume tree`;
  }
  return undefined;
}

/** check_root_item(). struct btrfs_root_item: 160-byte inode item, then the root's fields. */
function checkRootItem(leaf: Buffer, item: LeafItem, facts: TreeFacts): string | undefined {
  const keyProblem = checkRootKey(item.key, true);
  if (keyProblem) return keyProblem;
  if (item.size !== 439 && item.size !== 239)
    return `invalid root item size, have ${item.size} expect 439 or 239`;
  const at = item.dataAt;
  const limit = facts.superGeneration + 1n;
  const generation = leaf.readBigUInt64LE(at + 160);
  if (generation > limit) return `invalid root generation, have ${generation} expect (0, ${limit}]`;
  if (item.size === 439) {
    const v2 = leaf.readBigUInt64LE(at + 239);
    if (v2 > limit) return `invalid root v2 generation, have ${v2} expect (0, ${limit}]`;
  }
  const lastSnapshot = leaf.readBigUInt64LE(at + 200);
  if (lastSnapshot > limit) return `invalid root last_snapshot, have ${lastSnapshot} expect (0, ${limit}]`;
  const bytenr = leaf.readBigUInt64LE(at + 176);
  if (bytenr % BigInt(facts.sectorSize) !== 0n)
    return `invalid root bytenr, have ${bytenr} expect to be aligned to ${facts.sectorSize}`;
  const level = leaf.readUInt8(at + 238);
  if (level >= MAX_LEVEL) return `invalid root level, have ${level} expect [0, ${MAX_LEVEL - 1}]`;
  const dropLevel = leaf.readUInt8(at + 237);
  if (dropLevel >= MAX_LEVEL) return `invalid root level, have ${dropLevel} expect [0, ${MAX_LEVEL - 1}]`;
  const dropObjectid = leaf.readBigUInt64LE(at + 220);
  if (dropLevel === 0 && dropObjectid !== 0n)
    return `invalid root drop_level 0 with non-zero drop_progress objectid ${dropObjectid}`;
  const flags = leaf.readBigUInt64LE(at + 208);
  const valid = 1n | (1n << 48n); // BTRFS_ROOT_SUBVOL_RDONLY | BTRFS_ROOT_SUBVOL_DEAD
  if ((flags & ~valid) !== 0n)
    return `invalid root flags, have 0x${flags.toString(16)} expect mask 0x${valid.toString(16)}`;
  return undefined;
}

/** check_inode_item(). struct btrfs_inode_item: generation 0, transid 8, nlink 40, mode 52, flags 64. */
function checkInodeItem(leaf: Buffer, item: LeafItem, facts: TreeFacts): string | undefined {
  const keyProblem = checkInodeKey(item.key, true, false);
  if (keyProblem) return `ino=${item.key.objectid}, ${keyProblem}`;
  if (item.size !== 160) return `ino=${item.key.objectid}, invalid item size, have ${item.size} expect 160`;
  const at = item.dataAt;
  const limit = facts.superGeneration + 1n;
  const ino = `ino=${item.key.objectid},`;
  const generation = leaf.readBigUInt64LE(at);
  if (generation > limit) return `${ino} invalid inode generation: has ${generation} expect (0, ${limit}]`;
  const transid = leaf.readBigUInt64LE(at + 8);
  if (transid > limit) return `${ino} invalid inode transid: has ${transid} expect [0, ${limit}]`;
  const mode = leaf.readUInt32LE(at + 52);
  const validMask = S_IFMT | 0o4000 | 0o2000 | 0o1000 | 0o777;
  if ((mode & ~validMask) !== 0)
    return `${ino} invalid mode: has 0${mode.toString(8)} expect valid 0${validMask.toString(8)}`;
  const fmt = mode & S_IFMT;
  if (!singleBit(BigInt(fmt)) && fmt !== S_IFLNK && fmt !== S_IFBLK && fmt !== S_IFSOCK)
    return `${ino} invalid mode: has 0${fmt.toString(8)} expect valid S_IF* bit(s)`;
  const nlink = leaf.readUInt32LE(at + 40);
  if (fmt === S_IFDIR && nlink > 1) return `${ino} invalid nlink: has ${nlink} expect no more than 1 for dir`;
  return undefined;
}

/** check_inode_ref(): (index u64, name_len u16, name) records filling the item. */
function checkInodeRef(leaf: Buffer, item: LeafItem): string | undefined {
  const ino = `ino=${item.key.objectid},`;
  if (item.size <= 10) return `${ino} invalid item size, have ${item.size} expect (10, ${leaf.length})`;
  let at = item.dataAt;
  const end = item.dataAt + item.size;
  while (at < end) {
    if (at + 10 > end) return `${ino} inode ref overflow, ptr ${at} end ${end} inode_ref_size 10`;
    const nameLen = leaf.readUInt16LE(at + 8);
    if (nameLen === 0 || nameLen > NAME_LEN)
      return `${ino} invalid inode ref name length, has ${nameLen} expect [1, ${NAME_LEN}]`;
    if (at + 10 + nameLen > end) return `${ino} inode ref overflow, ptr ${at} end ${end} namelen ${nameLen}`;
    at += 10 + nameLen;
  }
  return undefined;
}

/** check_dir_item(): struct btrfs_dir_item (location key 0, transid 17, data_len 25, name_len 27, type 29). */
function checkDirItem(leaf: Buffer, item: LeafItem, facts: TreeFacts): string | undefined {
  const ino = `ino=${item.key.objectid},`;
  const isXattr = item.key.type === XATTR_ITEM;
  const maxItem = facts.nodeSize - 101 - 25;
  let cur = 0;
  while (cur < item.size) {
    const at = item.dataAt + cur;
    if (cur + 30 > item.size)
      return `${ino} dir item header crosses item boundary, have ${cur + 30} boundary ${item.size}`;
    const location = readKey(leaf, at);
    if (location.type === ROOT_ITEM) {
      const p = checkRootKey(location, false);
      if (p) return `${ino} ${p}`;
    } else if (location.type === INODE_ITEM || location.type === 0) {
      const p = checkInodeKey(location, false, isXattr);
      if (p) return `${ino} ${p}`;
    } else {
      return `${ino} invalid location key type, have ${location.type}, expect ${INODE_ITEM} or ${ROOT_ITEM}`;
    }
    const type = leaf.readUInt8(at + 29);
    if (type >= FT_MAX) return `${ino} invalid dir item type, have ${type} expect [0, ${FT_MAX})`;
    if (isXattr && type !== FT_XATTR)
      return `${ino} invalid dir item type for XATTR key, have ${type} expect ${FT_XATTR}`;
    if (type === FT_XATTR && !isXattr) return `${ino} xattr dir type found for non-XATTR key`;
    const nameLen = leaf.readUInt16LE(at + 27);
    const dataLen = leaf.readUInt16LE(at + 25);
    if (nameLen > NAME_LEN) return `${ino} dir item name len too long, have ${nameLen} max ${NAME_LEN}`;
    if (nameLen + dataLen > maxItem - 30)
      return `${ino} dir item name and data len too long, have ${nameLen + dataLen} max ${maxItem - 30}`;
    if (dataLen !== 0 && type !== FT_XATTR)
      return `${ino} dir item with invalid data len, have ${dataLen} expect 0`;
    const total = 30 + nameLen + dataLen;
    if (cur + total > item.size)
      return `${ino} dir item data crosses item boundary, have ${cur + total} boundary ${item.size}`;
    // DIR_ITEM and XATTR keys carry the name's hash: btrfs_name_hash() = crc32c(~1, name).
    if ((item.key.type === DIR_ITEM || isXattr) && facts.crc32c) {
      const hash = BigInt(facts.crc32c(leaf.subarray(at + 30, at + 30 + nameLen), 0xfffffffe) >>> 0);
      if (item.key.offset !== hash)
        return `${ino} name hash mismatch with key, have 0x${hash.toString(16).padStart(16, '0')} expect 0x${item.key.offset.toString(16).padStart(16, '0')}`;
    }
    cur += total;
  }
  return undefined;
}

/** check_extent_data_item(). struct btrfs_file_extent_item: ram_bytes 8, compression 16, encryption 17, type 20. */
function checkExtentData(
  leaf: Buffer,
  item: LeafItem,
  prev: LeafItem | undefined,
  facts: TreeFacts,
): string | undefined {
  const where = `ino=${item.key.objectid} file_offset=${item.key.offset},`;
  const sector = BigInt(facts.sectorSize);
  if (item.key.offset % sector !== 0n)
    return `${where} unaligned file_offset for file extent, have ${item.key.offset} should be aligned to ${facts.sectorSize}`;
  if (item.size < 21) return `${where} invalid item size, have ${item.size} expect [21, ${leaf.length})`;
  const at = item.dataAt;
  const type = leaf.readUInt8(at + 20);
  if (type >= 3) return `${where} invalid type for file extent, have ${type} expect range [0, 2]`;
  const compression = leaf.readUInt8(at + 16);
  if (compression >= 4)
    return `${where} invalid compression for file extent, have ${compression} expect range [0, 3]`;
  const encryption = leaf.readUInt8(at + 17);
  if (encryption !== 0) return `${where} invalid encryption for file extent, have ${encryption} expect 0`;
  if (type === 0) {
    if (item.key.offset !== 0n)
      return `${where} invalid file_offset for inline file extent, have ${item.key.offset} expect 0`;
    if (compression !== 0) return undefined;
    const ramBytes = leaf.readBigUInt64LE(at + 8);
    if (BigInt(item.size) !== 21n + ramBytes)
      return `${where} invalid ram_bytes for uncompressed inline extent, have ${item.size} expect ${21n + ramBytes}`;
    return undefined;
  }
  if (item.size !== 53)
    return `${where} invalid item size for reg/prealloc file extent, have ${item.size} expect 53`;
  const fields: [string, number][] = [
    ['ram_bytes', 8],
    ['disk_bytenr', 21],
    ['disk_num_bytes', 29],
    ['offset', 37],
    ['num_bytes', 45],
  ];
  for (const [name, off] of fields) {
    const v = leaf.readBigUInt64LE(at + off);
    if (v % sector !== 0n)
      return `${where} invalid ${name} for file extent, have ${v}, should be aligned to ${facts.sectorSize}`;
  }
  const numBytes = leaf.readBigUInt64LE(at + 45);
  if (numBytes + item.key.offset >= 2n ** 64n)
    return `${where} extent end overflow, have file offset ${item.key.offset} extent num bytes ${numBytes}`;
  // Two file extents of one inode, one after the other in the leaf, may not overlap.
  if (prev && prev.key.objectid === item.key.objectid && prev.key.type === EXTENT_DATA && prev.size >= 21) {
    const prevEnd = fileExtentEnd(leaf, prev, sector);
    if (prevEnd > item.key.offset)
      return `${where} file extent end range (${prevEnd}) goes beyond start offset (${item.key.offset}) of the next file extent`;
  }
  return undefined;
}

/** btrfs_file_extent_end(): an inline extent ends at its sector-aligned ram_bytes. */
function fileExtentEnd(leaf: Buffer, e: LeafItem, sector: bigint): bigint {
  if (leaf.readUInt8(e.dataAt + 20) === 0) {
    const ram = leaf.readBigUInt64LE(e.dataAt + 8);
    return ((e.key.offset + ram + sector - 1n) / sector) * sector;
  }
  return e.size >= 53 ? e.key.offset + leaf.readBigUInt64LE(e.dataAt + 45) : e.key.offset;
}

/** check_csum_item(): csum items of the checksum tree, and their ranges do not overlap. */
function checkCsum(
  leaf: Buffer,
  item: LeafItem,
  prev: Key | undefined,
  facts: TreeFacts,
): string | undefined {
  const sector = BigInt(facts.sectorSize);
  if (item.key.objectid !== EXTENT_CSUM_OBJECTID)
    return `invalid key objectid for csum item, have ${item.key.objectid} expect ${EXTENT_CSUM_OBJECTID}`;
  if (item.key.offset % sector !== 0n)
    return `unaligned key offset for csum item, have ${item.key.offset} should be aligned to ${facts.sectorSize}`;
  if (item.size % facts.csumSize !== 0)
    return `unaligned item size for csum item, have ${item.size} should be aligned to ${facts.csumSize}`;
  if (item.slot > 0 && prev && prev.type === EXTENT_CSUM) {
    const prevSize = leaf.readUInt32LE(101 + (item.slot - 1) * 25 + 21);
    const prevEnd = prev.offset + BigInt(Math.floor(prevSize / facts.csumSize)) * sector;
    if (prevEnd > item.key.offset)
      return `csum end range (${prevEnd}) goes beyond the start range (${item.key.offset}) of the next csum item`;
  }
  return undefined;
}

/** check_block_group_item(). struct btrfs_block_group_item: used 0, chunk_objectid 8, flags 16. */
function checkBlockGroup(leaf: Buffer, item: LeafItem): string | undefined {
  const where = `bg_start=${item.key.objectid} bg_len=${item.key.offset},`;
  if (item.key.offset === 0n) return `${where} invalid block group size 0`;
  if (item.size !== 24) return `${where} invalid item size, have ${item.size} expect 24`;
  const at = item.dataAt;
  const chunkObjectid = leaf.readBigUInt64LE(at + 8);
  if (chunkObjectid !== FIRST_CHUNK_TREE)
    return `${where} invalid block group chunk objectid, have ${chunkObjectid} expect ${FIRST_CHUNK_TREE}`;
  const used = leaf.readBigUInt64LE(at);
  if (used > item.key.offset)
    return `${where} invalid block group used, have ${used} expect [0, ${item.key.offset})`;
  const flags = leaf.readBigUInt64LE(at + 16);
  const profile = flags & 0x7f8n;
  if (profile !== 0n && !singleBit(profile))
    return `${where} invalid profile flags, have 0x${profile.toString(16)} expect no more than 1 bit set`;
  const type = flags & 0x7n;
  if (type !== 0x1n && type !== 0x4n && type !== 0x2n && type !== 0x5n)
    return `${where} invalid type, have 0x${type.toString(16)} expect either 0x1, 0x4, 0x2 or 0x5`;
  return undefined;
}

/** check_leaf_chunk_item(): the item's size fits its stripes, then btrfs_check_chunk_valid(). */
function checkChunkItem(leaf: Buffer, item: LeafItem, facts: TreeFacts): string | undefined {
  const where = `chunk_start=${item.key.offset},`;
  if (item.size < 80)
    return `${where} invalid chunk item size: have ${item.size} expect [80, ${leaf.length})`;
  const stripes = leaf.readUInt16LE(item.dataAt + 44);
  if (stripes !== 0 && 80 + 32 * (stripes - 1) !== item.size)
    return `${where} invalid chunk item size: have ${item.size} expect ${80 + 32 * (stripes - 1)}`;
  const bad = checkChunk(
    leaf,
    item.dataAt,
    item.key.offset,
    facts.sectorSize,
    (facts.incompat & 0x4n) !== 0n,
  );
  return bad ? `${where} ${bad}` : undefined;
}

/** check_dev_item(). struct btrfs_dev_item: devid 0, total_bytes 8, bytes_used 16. */
function checkDevItem(leaf: Buffer, item: LeafItem): string | undefined {
  if (item.key.objectid !== DEV_ITEMS)
    return `invalid objectid: has=${item.key.objectid} expect=${DEV_ITEMS}`;
  if (item.size < 98) return `invalid item size, have ${item.size} expect 98`;
  const devid = leaf.readBigUInt64LE(item.dataAt);
  if (devid !== item.key.offset) return `devid mismatch: key has=${item.key.offset} item has=${devid}`;
  const total = leaf.readBigUInt64LE(item.dataAt + 8);
  const used = leaf.readBigUInt64LE(item.dataAt + 16);
  if (used > total) return `invalid bytes used: have ${used} expect [0, ${total}]`;
  return undefined;
}

/** check_extent_item(). struct btrfs_extent_item: refs 0, generation 8, flags 16; then refs inline. */
function checkExtentItem(
  leaf: Buffer,
  item: LeafItem,
  prev: Key | undefined,
  facts: TreeFacts,
): string | undefined {
  const { key } = item;
  const isMetadata = key.type === METADATA_ITEM;
  const where = `extent bytenr=${key.objectid} len=${isMetadata ? facts.nodeSize : key.offset}`;
  if (isMetadata && (facts.incompat & 0x100n) === 0n)
    return 'invalid key type, METADATA_ITEM type invalid when SKINNY_METADATA feature disabled';
  if (key.objectid % BigInt(facts.sectorSize) !== 0n)
    return `invalid key objectid, have ${key.objectid} expect to be aligned to ${facts.sectorSize}`;
  if (isMetadata && key.offset >= BigInt(MAX_LEVEL))
    return `${where} invalid tree level, have ${key.offset} expect [0, ${MAX_LEVEL - 1}]`;
  if (item.size < 24) return `${where} invalid item size, have ${item.size} expect [24, ${leaf.length})`;
  const at = item.dataAt;
  const generation = leaf.readBigUInt64LE(at + 8);
  const limit = facts.superGeneration + 1n;
  if (generation > limit) return `${where} invalid generation, have ${generation} expect (0, ${limit}]`;
  const flags = leaf.readBigUInt64LE(at + 16);
  if (!singleBit(flags & 0x3n))
    return `${where} invalid extent flag, have 0x${flags.toString(16)} expect 1 bit set in 0x3`;
  const treeBlock = (flags & 0x2n) !== 0n;
  if (treeBlock) {
    if (key.type === EXTENT_ITEM && key.offset !== BigInt(facts.nodeSize))
      return `${where} invalid extent length, have ${key.offset} expect ${facts.nodeSize}`;
  } else {
    if (key.type !== EXTENT_ITEM)
      return `${where} invalid key type, have ${key.type} expect ${EXTENT_ITEM} for data backref`;
    if (key.offset % BigInt(facts.sectorSize) !== 0n)
      return `${where} invalid extent length, have ${key.offset} expect aligned to ${facts.sectorSize}`;
    if ((flags & 0x100n) !== 0n) return `${where} invalid extent flag, data has full backref set`;
  }
  let ptr = at + 24;
  const end = at + item.size;
  if (treeBlock && !isMetadata) {
    if (ptr + 18 > end) return `${where} invalid item size, have ${item.size} expect > 42`;
    const level = leaf.readUInt8(ptr + 17);
    if (level >= MAX_LEVEL)
      return `${where} invalid tree block info level, have ${level} expect [0, ${MAX_LEVEL - 1}]`;
    ptr += 18;
  }
  // Inline references: a type byte, then a fixed-size body per type (btrfs_extent_inline_ref_size).
  const sizes: Record<number, number> = { 176: 9, 182: 9, 178: 29, 184: 13 };
  const sector = BigInt(facts.sectorSize);
  let inline = 0n;
  const refs = leaf.readBigUInt64LE(at);
  while (ptr < end) {
    if (ptr + 9 > end)
      return `${where} inline ref item overflows extent item, ptr ${ptr} iref size 9 end ${end}`;
    const type = leaf.readUInt8(ptr);
    const size = sizes[type] ?? 0;
    if (ptr + size > end)
      return `${where} inline ref item overflows extent item, ptr ${ptr} iref size ${type} end ${end}`;
    const offset = leaf.readBigUInt64LE(ptr + 1);
    if (type === 176) inline += 1n;
    else if (type === 182) {
      if (offset % sector !== 0n)
        return `${where} invalid tree parent bytenr, have ${offset} expect aligned to ${facts.sectorSize}`;
      inline += 1n;
    } else if (type === 178) {
      const dataOffset = leaf.readBigUInt64LE(ptr + 1 + 16);
      if (dataOffset % sector !== 0n)
        return `${where} invalid data ref offset, have ${dataOffset} expect aligned to ${facts.sectorSize}`;
      inline += BigInt(leaf.readUInt32LE(ptr + 1 + 24));
    } else if (type === 184) {
      if (offset % sector !== 0n)
        return `${where} invalid data parent bytenr, have ${offset} expect aligned to ${facts.sectorSize}`;
      inline += BigInt(leaf.readUInt32LE(ptr + 9));
    } else return `${where} unknown inline ref type: ${type}`;
    ptr += size;
  }
  if (inline > refs) return `${where} invalid extent refs, have ${refs} expect >= inline ${inline}`;
  // Extents may not overlap the one before them in the leaf.
  if (prev && (prev.type === EXTENT_ITEM || prev.type === METADATA_ITEM)) {
    const prevEnd = prev.objectid + (prev.type === METADATA_ITEM ? BigInt(facts.nodeSize) : prev.offset);
    if (prevEnd > key.objectid)
      return `${where} previous extent ${showKeyBrackets(prev)} overlaps current extent ${showKeyBrackets(key)}`;
  }
  return undefined;
}

const showKeyBrackets = (k: Key) => `[${k.objectid} ${k.type} ${k.offset}]`;

/** check_simple_keyed_refs(): TREE_BLOCK_REF, SHARED_BLOCK_REF and SHARED_DATA_REF items. */
function checkKeyedRef(item: LeafItem, facts: TreeFacts): string | undefined {
  const expected = item.key.type === SHARED_DATA_REF ? 4 : 0;
  if (item.size !== expected)
    return `invalid item size, have ${item.size} expect ${expected} for key type ${item.key.type}`;
  const sector = BigInt(facts.sectorSize);
  if (item.key.objectid % sector !== 0n)
    return `invalid key objectid for shared block ref, have ${item.key.objectid} expect aligned to ${facts.sectorSize}`;
  if (item.key.type !== TREE_BLOCK_REF && item.key.offset % sector !== 0n)
    return `invalid tree parent bytenr, have ${item.key.offset} expect aligned to ${facts.sectorSize}`;
  return undefined;
}

/** check_extent_data_ref(): records of (root, objectid, offset, count), 28 bytes each. */
function checkExtentDataRef(leaf: Buffer, item: LeafItem, facts: TreeFacts): string | undefined {
  if (item.size % 28 !== 0)
    return `invalid item size, have ${item.size} expect aligned to 28 for key type ${item.key.type}`;
  const sector = BigInt(facts.sectorSize);
  if (item.key.objectid % sector !== 0n)
    return `invalid key objectid for shared block ref, have ${item.key.objectid} expect aligned to ${facts.sectorSize}`;
  for (let at = item.dataAt; at < item.dataAt + item.size; at += 28) {
    const offset = leaf.readBigUInt64LE(at + 16);
    if (offset % sector !== 0n)
      return `invalid extent data backref offset, have ${offset} expect aligned to ${facts.sectorSize}`;
  }
  return undefined;
}
