/**
 * The tree blocks Linux 6.1's open_ctree() reads before a btrfs mount succeeds, checked as the
 * kernel checks every block it reads: btrfs_validate_extent_buffer() in fs/btrfs/disk-io.c (start,
 * fsid, level, checksum), verify_parent_transid() (the generation the parent or the root item
 * expects), and the tree-checker (fs/btrfs/tree-checker.c check_leaf/check_node and the per-item
 * checks in btrfs-items.ts). The first failure is what the kernel prints before "open_ctree failed".
 *
 * Which blocks: the chunk tree and the tree of tree roots whole (btrfs_read_chunk_tree, the root
 * item lookups); the extent tree (or block-group tree) and the device tree whole, since
 * btrfs_read_block_groups() and btrfs_verify_dev_extents() iterate all their items; the quota tree
 * whole (btrfs_read_qgroup_config); the log tree whole when the superblock names one (replay); the
 * paths to the first and last keys of the filesystem tree and of the data relocation tree (their
 * root directory, inode 256, is looked up, and their highest inode number); the root nodes of the
 * checksum, UUID and free-space trees.
 * A filesystem too large to read within the block budget is judged on what was read.
 */
import {
  CHUNK_ITEM,
  DEV_ITEM,
  FS_TREE,
  type Key,
  type LeafItem,
  MAX_LEVEL,
  ROOT_ITEM,
  TREE_RELOC,
  type TreeFacts,
  checkLeafItem,
  compareKeys,
  isFsTree,
  readKey,
  showKey,
} from './btrfs-items.js';
import {
  type BtrfsChunk,
  btrfsChecksum,
  btrfsMirrors,
  checkChunk,
  chunkStripeLength,
  formatUuid,
  parseChunk,
} from './btrfs.js';

const HEADER = 101;
const ITEM = 25;
const KEY_PTR = 33;

// Tree object ids (include/uapi/linux/btrfs_tree.h).
const ROOT_TREE = 1n;
const EXTENT_TREE = 2n;
const CHUNK_TREE = 3n;
const DEV_TREE = 4n;
const CSUM_TREE = 7n;
const QUOTA_TREE = 8n;
const UUID_TREE = 9n;
const FREE_SPACE_TREE = 10n;
const BLOCK_GROUP_TREE = 11n;
const DATA_TREE_RELOC = 2n ** 64n - 9n;

/**
 * How much of each tree open_ctree reads: all of it, the root node alone, or the paths to its first
 * and last keys (a subvolume root: the root directory, inode 256, and the highest inode number,
 * btrfs_init_root_free_objectid).
 */
type Reach = 'whole' | 'edges' | 'root';

export interface TreeBlockReader {
  /** nodesize bytes at a physical byte offset of the filesystem, or undefined past its end. */
  readPhysical(physical: number): Promise<Buffer | undefined>;
  /** ~CRC32C(~0) of the bytes: the crc32c tree-block checksum (csum type 0). */
  crc?: (bytes: Buffer) => number;
  /** The raw CRC32C with a seed, for btrfs_name_hash (crc32c(~1, name)). */
  crc32c?: (bytes: Buffer, seed: number) => number;
}

interface Wanted {
  tree: string;
  owner: bigint;
  logical: number;
  generation: bigint;
  level: number;
  reach: Reach;
  /** Keep the leaves read: the chunk tree's devices, the tree root's root items, the device extents. */
  keepLeaves?: boolean;
}

export interface BtrfsTreeVerdict {
  /** The first problem the kernel would meet reading the trees at mount. */
  problem?: string;
  /** The devices the chunk tree's DEV_ITEMs name (read_one_dev): each must be present at mount. */
  devices: { devid: number; uuid: string }[];
}

/** What reading the trees at mount would meet, as the kernel reads them. */
export async function btrfsMountTrees(
  sb: Buffer,
  reader: TreeBlockReader,
  maxBlocks = 2048,
): Promise<BtrfsTreeVerdict> {
  const devices: { devid: number; uuid: string }[] = [];
  const problem = await firstProblem(sb, reader, maxBlocks, devices);
  return { ...(problem ? { problem } : {}), devices };
}

async function firstProblem(
  sb: Buffer,
  reader: TreeBlockReader,
  maxBlocks: number,
  devices: { devid: number; uuid: string }[],
): Promise<string | undefined> {
  const nodeSize = sb.readUInt32LE(148);
  const sectorSize = sb.readUInt32LE(144);
  const incompat = sb.readBigUInt64LE(188);
  const compatRo = sb.readBigUInt64LE(180);
  const facts: TreeFacts = {
    nodeSize,
    sectorSize,
    superGeneration: sb.readBigUInt64LE(72),
    csumSize: sb.readUInt16LE(196) === 0 ? 4 : sb.readUInt16LE(196) === 1 ? 8 : 32,
    incompat,
    ...(reader.crc32c ? { crc32c: reader.crc32c } : {}),
  };
  const fsid = (incompat & 0x400n) !== 0n ? sb.subarray(571, 587) : sb.subarray(32, 48);
  const system = systemChunks(sb, facts);
  if (system.problem) return system.problem;
  let chunks = system.chunks;
  let budget = maxBlocks;

  const devid = sb.readBigUInt64LE(201);
  /** One copy of a block as btrfs_validate_extent_buffer and the tree-checker see it. */
  const checkBlock = (
    block: Buffer,
    want: { logical: number; generation: bigint; level: number },
    tree: string,
    owner: bigint,
  ): string | undefined => {
    const bad = validateBlock(block, want, fsid, reader.crc, sb.readUInt16LE(196));
    if (bad) return `${tree}: ${bad}`;
    const ownerBad = checkOwner(block, owner);
    if (ownerBad) return `${tree}: ${ownerBad}`;
    const level = block.readUInt8(100);
    const corrupt = level === 0 ? checkLeaf(block, facts) : checkNode(block, nodeSize, sectorSize);
    return corrupt
      ? `${tree}: corrupt ${level === 0 ? 'leaf' : 'node'}: block=${want.logical} ${corrupt}`
      : undefined;
  };

  /** Reads one tree as open_ctree does; the chunk tree also collects the chunks that map the rest. */
  const walk = async (w: Wanted): Promise<{ problem?: string; leaves: Buffer[] }> => {
    const leaves: Buffer[] = [];
    const queue = [{ logical: w.logical, generation: w.generation, level: w.level }];
    while (queue.length > 0) {
      if (budget-- <= 0) return { leaves };
      const want = queue.shift() as (typeof queue)[number];
      // read_extent_buffer tries each copy in turn: the block fails only when every copy does.
      const mirrors = btrfsMirrors(chunks, want.logical);
      let block: Buffer | undefined;
      let problem: string | undefined;
      let elsewhere = false;
      for (const m of mirrors) {
        if (m.devid !== devid) {
          elsewhere = true;
          continue;
        }
        const copy = await reader.readPhysical(m.physical);
        const bad =
          !copy || copy.length < nodeSize
            ? `the ${w.tree} block at logical ${want.logical} lies past the end of the device`
            : checkBlock(copy, want, w.tree, w.owner);
        if (!bad) {
          block = copy;
          break;
        }
        problem ??= bad;
      }
      if (!block) {
        // A copy on another device of a multi-device filesystem may be sound: not judged.
        if (elsewhere) continue;
        return {
          problem: problem ?? `the ${w.tree} block at logical ${want.logical} is in no chunk`,
          leaves,
        };
      }
      const level = block.readUInt8(100);
      if (level === 0) {
        if (w.keepLeaves) leaves.push(block);
        if (w.owner === CHUNK_TREE) chunks = [...chunks, ...leafChunks(block)];
        continue;
      }
      if (w.reach === 'root') continue;
      const n = block.readUInt32LE(96);
      const slots = w.reach === 'whole' ? [...Array(n).keys()] : [...new Set([0, n - 1])];
      for (const i of slots) {
        // A crafted tree cannot make the queue outgrow what may still be read.
        if (queue.length >= budget) break;
        const p = HEADER + i * KEY_PTR;
        queue.push({
          logical: Number(block.readBigUInt64LE(p + 17)),
          generation: block.readBigUInt64LE(p + 25),
          level: level - 1,
        });
      }
    }
    return { leaves };
  };

  const chunk = await walk({
    tree: 'chunk tree',
    owner: CHUNK_TREE,
    logical: Number(sb.readBigUInt64LE(88)),
    generation: sb.readBigUInt64LE(164),
    level: sb.readUInt8(199),
    reach: 'whole',
    keepLeaves: true,
  });
  if (chunk.problem) return chunk.problem;
  for (const leaf of chunk.leaves)
    for (const item of leafItems(leaf))
      if (item.key.type === DEV_ITEM && item.key.objectid === 1n && item.size >= 98)
        devices.push({
          devid: Number(item.key.offset),
          uuid: formatUuid(leaf.subarray(item.dataAt + 66, item.dataAt + 82)),
        });
  const root = await walk({
    tree: 'tree root',
    owner: ROOT_TREE,
    logical: Number(sb.readBigUInt64LE(80)),
    generation: sb.readBigUInt64LE(72),
    level: sb.readUInt8(198),
    reach: 'whole',
    keepLeaves: true,
  });
  if (root.problem) return root.problem;

  // The root items of the trees open_ctree opens, from the tree root's leaves (key (id, 132, *)).
  const roots = new Map<bigint, { logical: number; generation: bigint; level: number }>();
  for (const leaf of root.leaves)
    for (const item of leafItems(leaf)) {
      if (item.key.type !== ROOT_ITEM || roots.has(item.key.objectid) || item.size < 239) continue;
      roots.set(item.key.objectid, {
        generation: leaf.readBigUInt64LE(item.dataAt + 160),
        logical: Number(leaf.readBigUInt64LE(item.dataAt + 176)),
        level: leaf.readUInt8(item.dataAt + 238),
      });
    }
  const blockGroupTree = (compatRo & 0x8n) !== 0n;
  const order: [bigint, string, Reach][] = [
    [EXTENT_TREE, 'extent tree', blockGroupTree ? 'root' : 'whole'],
    [BLOCK_GROUP_TREE, 'block group tree', 'whole'],
    [DEV_TREE, 'device tree', 'whole'],
    [CSUM_TREE, 'checksum tree', 'root'],
    [QUOTA_TREE, 'quota tree', 'whole'],
    [UUID_TREE, 'UUID tree', 'root'],
    [FREE_SPACE_TREE, 'free space tree', 'root'],
    [FS_TREE, 'filesystem tree', 'edges'],
    [DATA_TREE_RELOC, 'data relocation tree', 'edges'],
  ];
  for (const [id, tree, reach] of order) {
    const r = roots.get(id);
    if (!r) continue;
    const got = await walk({ tree, owner: id, ...r, reach, keepLeaves: id === DEV_TREE });
    if (got.problem) return got.problem;
    if (id === DEV_TREE && sb.readBigUInt64LE(136) === 1n && budget > 0) {
      const bad = verifyDevExtents(got.leaves, chunks, sb);
      if (bad) return bad;
    }
  }
  const logRoot = Number(sb.readBigUInt64LE(96));
  if (logRoot !== 0) {
    const log = await walk({
      tree: 'log tree',
      owner: LOG_TREE,
      logical: logRoot,
      generation: facts.superGeneration + 1n,
      level: sb.readUInt8(200),
      reach: 'whole',
    });
    if (log.problem) return log.problem;
  }
  return undefined;
}

/** btrfs_validate_extent_buffer() and verify_parent_transid(), in the kernel's order. */
function validateBlock(
  b: Buffer,
  want: { logical: number; generation: bigint; level: number },
  fsid: Buffer,
  crc: ((bytes: Buffer) => number) | undefined,
  csumType: number,
): string | undefined {
  const start = b.readBigUInt64LE(48);
  if (start !== BigInt(want.logical)) return `bad tree block start, want ${want.logical} have ${start}`;
  if (!b.subarray(32, 48).equals(fsid)) return `bad fsid on logical ${want.logical}`;
  const level = b.readUInt8(100);
  if (level >= MAX_LEVEL) return `bad tree block level, level ${level} on logical ${want.logical}`;
  const sum = btrfsChecksum(csumType, b, crc);
  if (sum && sum.stored !== sum.computed)
    return `checksum verify failed on logical ${want.logical} wanted 0x${sum.computed} found 0x${sum.stored} level ${level}`;
  if (level !== want.level)
    return `level verify failed on logical ${want.logical} wanted ${want.level} found ${level}`;
  const generation = b.readBigUInt64LE(80);
  if (generation !== want.generation)
    return `parent transid verify failed on logical ${want.logical} wanted ${want.generation} found ${generation}`;
  return undefined;
}

/** The items of a leaf whose headers lie inside it (callers check the rest with checkLeaf). */
export function leafItems(leaf: Buffer): LeafItem[] {
  const n = Math.min(leaf.readUInt32LE(96), Math.floor((leaf.length - HEADER) / ITEM));
  const items: LeafItem[] = [];
  for (let slot = 0; slot < n; slot++) {
    const at = HEADER + slot * ITEM;
    const offset = leaf.readUInt32LE(at + 17);
    const size = leaf.readUInt32LE(at + 21);
    items.push({ slot, key: readKey(leaf, at), offset, size, dataAt: HEADER + offset });
  }
  return items;
}

/** tree-checker.c check_leaf() with its per-item checks. */
function checkLeaf(leaf: Buffer, facts: TreeFacts): string | undefined {
  const nritems = leaf.readUInt32LE(96);
  const dataSize = facts.nodeSize - HEADER;
  if (nritems === 0) {
    // BTRFS_HEADER_FLAG_RELOC leaves may be empty.
    if ((leaf.readBigUInt64LE(56) & 0x2n) !== 0n) return undefined;
    const headerOwner = leaf.readBigUInt64LE(88);
    if ([ROOT_TREE, CHUNK_TREE, DEV_TREE, FS_TREE, DATA_TREE_RELOC].includes(headerOwner))
      return `invalid root, root ${headerOwner} must never be empty`;
    if (headerOwner === 0n) return 'invalid owner, root 0 is not defined';
    if (headerOwner === EXTENT_TREE && (facts.incompat & 0x2000n) === 0n)
      return `invalid root, root ${headerOwner} must never be empty`;
    return undefined;
  }
  if (nritems > Math.floor(dataSize / ITEM)) return `invalid nritems ${nritems}`;
  let prev: Key | undefined;
  const items = leafItems(leaf);
  for (const item of items) {
    const { slot, key } = item;
    if (prev && compareKeys(prev, key) >= 0)
      return `slot=${slot}, bad key order, prev ${showKey(prev)} current ${showKey(key)}`;
    // Item data grows from the leaf's end towards its headers, each item right below the one before.
    const expectedEnd = slot === 0 ? dataSize : (items[slot - 1]?.offset ?? 0);
    const end = item.offset + item.size;
    if (end !== expectedEnd) return `slot=${slot}, unexpected item end, have ${end} expect ${expectedEnd}`;
    if (end > dataSize)
      return `slot=${slot}, slot end outside of leaf, have ${end} expect range [0, ${dataSize}]`;
    if (item.dataAt < HEADER + (slot + 1) * ITEM)
      return `slot=${slot}, slot overlaps with its data, item end ${HEADER + (slot + 1) * ITEM} data start ${item.dataAt}`;
    const itemProblem = checkLeafItem(leaf, item, items[slot - 1], facts);
    if (itemProblem) return `slot=${slot} ${itemProblem}`;
    prev = key;
  }
  return undefined;
}

/** tree-checker.c check_node(): the last pointer is not checked, as in the kernel's loop. */
function checkNode(node: Buffer, nodeSize: number, sectorSize: number): string | undefined {
  const level = node.readUInt8(100);
  const nr = node.readUInt32LE(96);
  const maxPtrs = Math.floor((nodeSize - HEADER) / KEY_PTR);
  if (level <= 0 || level >= MAX_LEVEL)
    return `invalid level for node, have ${level} expect [1, ${MAX_LEVEL - 1}]`;
  if (nr === 0 || nr > maxPtrs) return `invalid nritems, have ${nr} should be in range [1, ${maxPtrs}]`;
  for (let slot = 0; slot < nr - 1; slot++) {
    const at = HEADER + slot * KEY_PTR;
    const bytenr = node.readBigUInt64LE(at + 17);
    const key = readKey(node, at);
    const next = readKey(node, at + KEY_PTR);
    if (bytenr === 0n) return `slot=${slot}, invalid NULL node pointer`;
    if (bytenr % BigInt(sectorSize) !== 0n)
      return `slot=${slot}, unaligned pointer, have ${bytenr} should be aligned to ${sectorSize}`;
    if (compareKeys(key, next) >= 0)
      return `slot=${slot}, bad key order, current ${showKey(key)} next ${showKey(next)}`;
  }
  return undefined;
}

/** The superblock's system chunk array (btrfs_read_sys_array), each chunk checked as it is read. */
function systemChunks(sb: Buffer, facts: TreeFacts): { chunks: BtrfsChunk[]; problem?: string } {
  const size = Math.min(sb.readUInt32LE(160), 2048);
  const area = sb.subarray(0x32b, 0x32b + size);
  const chunks: BtrfsChunk[] = [];
  for (let at = 0; at + 17 <= area.length; ) {
    const logical = area.readBigUInt64LE(at + 9);
    if (area.readUInt8(at + 8) !== CHUNK_ITEM)
      return {
        chunks,
        problem: `unexpected item type ${area.readUInt8(at + 8)} in sys_array at offset ${at}`,
      };
    const bad = checkChunk(area, at + 17, logical, facts.sectorSize, (facts.incompat & 0x4n) !== 0n);
    if (bad) return { chunks, problem: `corrupt superblock syschunk array: chunk_start=${logical}, ${bad}` };
    const c = parseChunk(area, at + 17, Number(logical));
    if (!c) return { chunks, problem: `sys_array too short to read a chunk at offset ${at}` };
    chunks.push(c.chunk);
    at += 17 + c.bytes;
  }
  return { chunks };
}

function leafChunks(leaf: Buffer): BtrfsChunk[] {
  const chunks: BtrfsChunk[] = [];
  for (const item of leafItems(leaf)) {
    if (item.key.type !== CHUNK_ITEM) continue;
    const c = parseChunk(leaf, item.dataAt, Number(item.key.offset));
    if (c) chunks.push(c.chunk);
  }
  return chunks;
}

const DEV_EXTENT_KEY = 204;

/**
 * btrfs_verify_dev_extents() (fs/btrfs/volumes.c) on a single-device filesystem: every device
 * extent belongs to a chunk stripe of its length, lies on the device, and every chunk stripe has one.
 */
function verifyDevExtents(leaves: Buffer[], chunks: BtrfsChunk[], sb: Buffer): string | undefined {
  const devid = sb.readBigUInt64LE(201);
  const devTotal = Number(sb.readBigUInt64LE(201 + 8));
  const verified = new Map<BtrfsChunk, number>();
  // The superblock's system chunks appear again as chunk-tree items: one entry per logical start.
  const byStart = new Map<number, BtrfsChunk>();
  for (const c of chunks) byStart.set(c.logical, c);
  const all = [...byStart.values()];
  for (const leaf of leaves)
    for (const item of leafItems(leaf)) {
      if (item.key.type !== DEV_EXTENT_KEY || item.size < 32) continue;
      const physical = Number(item.key.offset);
      const chunkOffset = Number(leaf.readBigUInt64LE(item.dataAt + 16));
      const length = Number(leaf.readBigUInt64LE(item.dataAt + 24));
      const owner = item.key.objectid;
      const chunk = all.find((c) => chunkOffset >= c.logical && chunkOffset < c.logical + c.length);
      if (!chunk)
        return `dev extent physical offset ${physical} on devid ${owner} doesn't have corresponding chunk`;
      const stripeLength = chunkStripeLength(chunk);
      if (length !== stripeLength)
        return `dev extent physical offset ${physical} on devid ${owner} length doesn't match chunk ${chunk.logical}, have ${length} expect ${stripeLength}`;
      if (!chunk.stripes.some((st) => st.devid === owner && st.physical === physical))
        return `dev extent physical offset ${physical} devid ${owner} has no corresponding chunk`;
      verified.set(chunk, (verified.get(chunk) ?? 0) + 1);
      if (owner === devid && physical + length > devTotal)
        return `dev extent devid ${owner} physical offset ${physical} len ${length} is beyond device boundary ${devTotal}`;
    }
  for (const c of all) {
    const have = verified.get(c) ?? 0;
    if (have !== c.stripes.length)
      return `chunk ${c.logical} has missing dev extent, have ${have} expect ${c.stripes.length}`;
  }
  return undefined;
}

const LOG_TREE = 2n ** 64n - 6n;

/** btrfs_check_eb_owner() (6.1): a block of a tree that is not a subvolume carries that tree's id. */
function checkOwner(block: Buffer, rootOwner: bigint): string | undefined {
  if (rootOwner === 0n || rootOwner === LOG_TREE || rootOwner === TREE_RELOC) return undefined;
  const owner = block.readBigUInt64LE(88);
  const kind = block.readUInt8(100) === 0 ? 'leaf' : 'node';
  const at = block.readBigUInt64LE(48);
  if (!isFsTree(rootOwner)) {
    if (owner !== rootOwner)
      return `corrupted ${kind}, root=${rootOwner} block=${at} owner mismatch, have ${owner} expect ${rootOwner}`;
  } else if (!isFsTree(owner))
    return `corrupted ${kind}, root=${rootOwner} block=${at} owner mismatch, have ${owner} expect [256, ${2n ** 64n - 256n}]`;
  return undefined;
}
