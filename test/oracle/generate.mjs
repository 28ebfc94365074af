#!/usr/bin/env node
// "Kernel is the oracle" corpus generator (issue 8).
//
//   node test/oracle/generate.mjs --out DIR [--seed N] [--only CLASS] [--list]
//
// Builds small, mostly sparse disk images with the real tools (e2fsprogs,
// xfsprogs, btrfs-progs, dosfstools, gdisk, util-linux, coreutils dd/truncate)
// and writes DIR/manifest.json. Deterministic for a given seed on Debian 12:
// the mutation list always is; images are byte-identical where the tools allow
// it (fixed UUIDs, E2FSPROGS_FAKE_TIME, faketime for xfsprogs; mkfs.btrfs draws
// its chunk-tree and device UUIDs from getrandom(), so btrfs images are not).
// Only Node 20 builtins; every tool runs via execFileSync with an argument array.
// Nothing here mounts anything: the kernel judges inside QEMU (kernel-verdicts.mjs).

import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const MiB = 1024 * 1024;
const FAKE_EPOCH = 1700000000; // 2023-11-14 22:13:20 UTC
const FAKE_DATE = '2023-11-14 22:13:20';

// ---------------------------------------------------------------- arguments
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const OUT = opt('out');
const SEED = Number(opt('seed', '8')) >>> 0;
const ONLY = opt('only', null);
const LIST_ONLY = argv.includes('--list');
if (!OUT && !LIST_ONLY) {
  console.error('usage: node test/oracle/generate.mjs --out DIR [--seed N] [--only CLASS] [--list]');
  process.exit(2);
}

// ---------------------------------------------------------------- tools
const ENV = {
  ...process.env,
  E2FSPROGS_FAKE_TIME: String(FAKE_EPOCH),
  TZ: 'UTC',
  LC_ALL: 'C',
  FAKETIME_DONT_RESET: '1',
};
const log = [];
function run(cmd, args, { input, fake = true, allowFail = false } = {}) {
  const [c, a] = fake ? ['faketime', ['-f', FAKE_DATE, cmd, ...args]] : [cmd, args];
  log.push([cmd, ...args].join(' '));
  try {
    return execFileSync(c, a, {
      env: ENV,
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 64 * MiB,
    }).toString();
  } catch (e) {
    if (allowFail) return `${e.stdout ?? ''}${e.stderr ?? ''}`;
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr?.toString() || e.message}`);
  }
}
const toolVersion = (cmd, args) => {
  try {
    return (
      execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
        .toString()
        .split('\n')[0]
        .trim() || execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString()
    );
  } catch (e) {
    return `${e.stdout ?? ''}${e.stderr ?? ''}`.split('\n').find((l) => l.trim()) ?? 'unknown';
  }
};

// ---------------------------------------------------------------- PRNG
function mulberry32(a) {
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function makeRng(seed) {
  const r = mulberry32(seed);
  const rng = {
    f: r,
    int: (lo, hi) => lo + Math.floor(r() * (hi - lo + 1)),
    pick: (arr) => arr[Math.floor(r() * arr.length)],
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256))),
    uuid: () => {
      const b = rng.bytes(16);
      b[6] = (b[6] & 0x0f) | 0x40;
      b[8] = (b[8] & 0x3f) | 0x80;
      const h = b.toString('hex');
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    },
  };
  return rng;
}
const hash32 = (s) => crypto.createHash('sha256').update(s).digest().readUInt32LE(0);

// ---------------------------------------------------------------- crc32c
const CRC32C = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();
// raw crc32c state update (no final inversion): ext4/jbd2 style when seeded with ~0
function crc32cRaw(seed, buf) {
  let c = seed >>> 0;
  for (const b of buf) c = (CRC32C[(c ^ b) & 0xff] ^ (c >>> 8)) >>> 0;
  return c >>> 0;
}

const CRC32T = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = (CRC32T[(c ^ b) & 0xff] ^ (c >>> 8)) >>> 0;
  return (c ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------- raw I/O
function readAt(file, off, len) {
  const fd = fs.openSync(file, 'r');
  const b = Buffer.alloc(len);
  fs.readSync(fd, b, 0, len, off);
  fs.closeSync(fd);
  return b;
}
// dd conv=notrunc at a computed byte offset
function ddWrite(file, off, buf) {
  run(
    'dd',
    [
      `of=${file}`,
      `bs=${buf.length}`,
      'count=1',
      `seek=${off}`,
      'oflag=seek_bytes',
      'iflag=fullblock',
      'conv=notrunc',
      'status=none',
    ],
    { input: buf, fake: false },
  );
}
function ddZero(file, off, len) {
  ddWrite(file, off, Buffer.alloc(len));
}
function sparseFile(file, bytes) {
  fs.rmSync(file, { force: true });
  run('truncate', ['-s', String(bytes), file], { fake: false });
}
// copy a filesystem image into a disk image at an offset, keeping holes
function ddInto(src, dst, offBytes) {
  run(
    'dd',
    [
      `if=${src}`,
      `of=${dst}`,
      'bs=1M',
      `seek=${offBytes}`,
      'oflag=seek_bytes',
      'conv=sparse,notrunc',
      'status=none',
    ],
    { fake: false },
  );
}

// ---------------------------------------------------------------- ext helpers
const EXT_PROFILES = {
  'ext2-1k': { type: 'ext2', b: 1024 },
  'ext2-2k': { type: 'ext2', b: 2048 },
  'ext2-4k': { type: 'ext2', b: 4096 },
  'ext3-1k': { type: 'ext3', b: 1024 },
  'ext3-2k': { type: 'ext3', b: 2048 },
  'ext3-4k': { type: 'ext3', b: 4096 },
  'ext4-1k': { type: 'ext4', b: 1024 },
  'ext4-2k': { type: 'ext4', b: 2048 },
  'ext4-4k': { type: 'ext4', b: 4096 },
  'ext4-4k-nocsum': { type: 'ext4', b: 4096, O: ['^metadata_csum', 'uninit_bg'] },
  'ext4-1k-nocsum': { type: 'ext4', b: 1024, O: ['^metadata_csum', 'uninit_bg'] },
  'ext4-4k-no64bit': { type: 'ext4', b: 4096, O: ['^64bit'] },
  'ext4-4k-noflex': { type: 'ext4', b: 4096, O: ['^flex_bg'] },
  'ext4-1k-noflex': { type: 'ext4', b: 1024, O: ['^flex_bg'] },
  'ext4-4k-metabg': { type: 'ext4', b: 4096, O: ['meta_bg', '^resize_inode'] },
  'ext4-1k-metabg': { type: 'ext4', b: 1024, O: ['meta_bg', '^resize_inode'] },
  'ext4-4k-bigalloc': { type: 'ext4', b: 4096, O: ['bigalloc'], extra: ['-C', '16384'] },
  'ext4-4k-inline': { type: 'ext4', b: 4096, O: ['inline_data'] },
  'ext4-4k-nojournal': { type: 'ext4', b: 4096, O: ['^has_journal'] },
  'ext4-4k-128inode': { type: 'ext4', b: 4096, I: 128 },
  'ext4-2k-nocsum-noflex': { type: 'ext4', b: 2048, O: ['^metadata_csum', '^flex_bg'] },
  'ext4-old-style': {
    type: 'ext4',
    b: 4096,
    O: ['^metadata_csum', '^64bit', '^flex_bg', '^huge_file', '^dir_nlink', '^extra_isize'],
  },
};
const JOURNALED = (p) => p.type !== 'ext2' && !(p.O || []).includes('^has_journal');
const HAS_CSUM = (p) => p.type === 'ext4' && !(p.O || []).includes('^metadata_csum');

function mkext(file, prof, rng, { sizeMiB, multiGroup = false, O = [], E = [], extra = [] } = {}) {
  sparseFile(file, sizeMiB * MiB);
  const uuid = rng.uuid();
  const hashSeed = rng.uuid();
  const args = [
    '-q',
    '-F',
    '-t',
    prof.type,
    '-b',
    String(prof.b),
    '-U',
    uuid,
    '-E',
    [`hash_seed=${hashSeed}`, 'root_owner=0:0', ...E].join(','),
  ];
  const feats = [...(prof.O || []), ...O];
  if (feats.length) args.push('-O', feats.join(','));
  if (prof.I) args.push('-I', String(prof.I));
  if (multiGroup) {
    // force several block groups even on small images (default 4k groups are 128 MiB)
    const bpg = Math.min(
      prof.b * 8,
      Math.max(2048, Math.floor((sizeMiB * MiB) / prof.b / rng.pick([3, 4, 6]) / 8) * 8),
    );
    args.push('-g', String(bpg));
  }
  args.push(...(prof.extra || []), ...extra, file);
  run('mke2fs', args);
  return `mke2fs ${args.slice(0, -1).join(' ')} IMG (size ${sizeMiB} MiB)`;
}
function dumpHeader(file) {
  const out = run('dumpe2fs', ['-h', file], { allowFail: true });
  const h = {};
  for (const line of out.split('\n')) {
    const m = line.match(/^([^:]+):\s+(.*)$/);
    if (m) h[m[1].trim()] = m[2].trim();
  }
  return h;
}
function extGeometry(file) {
  const h = dumpHeader(file);
  const out = run('dumpe2fs', [file], { allowFail: true });
  const groups = [];
  let g = null;
  for (const line of out.split('\n')) {
    let m;
    if ((m = line.match(/^Group (\d+): \(Blocks (\d+)-(\d+)\)/))) {
      g = { n: +m[1], start: +m[2], end: +m[3] };
      groups.push(g);
    } else if (g && (m = line.match(/Block bitmap at (\d+)/))) g.bb = +m[1];
    else if (g && (m = line.match(/Inode bitmap at (\d+)/))) g.ib = +m[1];
    else if (g && (m = line.match(/Inode table at (\d+)-(\d+)/))) {
      g.it = +m[1];
      g.itEnd = +m[2];
    } else if (g && (m = line.match(/Group descriptors at (\d+)/))) g.gdt = +m[1];
    else if (g && (m = line.match(/superblock at (\d+)/))) g.sb = +m[1];
  }
  return {
    h,
    groups,
    bs: +h['Block size'],
    blocks: +h['Block count'],
    inodes: +h['Inode count'],
    bpg: +h['Blocks per group'],
    ipg: +h['Inodes per group'],
    isz: +h['Inode size'],
    first: +h['First block'],
    features: (h['Filesystem features'] || '').split(/\s+/),
    csum: (h['Filesystem features'] || '').includes('metadata_csum'),
  };
}
function debugfsW(file, cmds, { noCsum = false } = {}) {
  const tmp = path.join(os.tmpdir(), `oracle-dbg-${process.pid}.txt`);
  fs.writeFileSync(tmp, `${cmds.join('\n')}\n`);
  const args = ['-w', ...(noCsum ? ['-n'] : []), '-f', tmp, file];
  const out = run('debugfs', args, { allowFail: true });
  fs.rmSync(tmp, { force: true });
  const bad = out
    .split('\n')
    .filter(
      (l) =>
        /not open|Couldn't|invalid|Invalid|Usage|bad|Bad|unknown|while /.test(l) && !/^debugfs \d/.test(l),
    );
  if (bad.length) throw new Error(`debugfs ${cmds.join('; ')}: ${bad.join(' | ')}`);
  return cmds.map((c) => `debugfs -w${noCsum ? ' -n' : ''} -R '${c}'`).join('; ');
}
function debugfsR(file, cmd) {
  return run('debugfs', ['-R', cmd, file], { allowFail: true });
}
function journalBlock(file) {
  const out = debugfsR(file, 'bmap <8> 0');
  const n = Number(out.trim().split('\n').pop());
  if (!Number.isFinite(n) || n <= 0) throw new Error(`bmap <8> 0: ${out}`);
  return n;
}

// superblock fields at byte 1024 (offset, size) for the raw dd variants
const SB = {
  inodes_count: [0x00, 4],
  blocks_count: [0x04, 4],
  first_data_block: [0x14, 4],
  log_block_size: [0x18, 4],
  log_cluster_size: [0x1c, 4],
  blocks_per_group: [0x20, 4],
  clusters_per_group: [0x24, 4],
  inodes_per_group: [0x28, 4],
  mnt_count: [0x34, 2],
  max_mnt_count: [0x36, 2],
  magic: [0x38, 2],
  state: [0x3a, 2],
  errors: [0x3c, 2],
  lastcheck: [0x40, 4],
  checkinterval: [0x44, 4],
  rev_level: [0x4c, 4],
  first_ino: [0x54, 4],
  inode_size: [0x58, 2],
  feature_compat: [0x5c, 4],
  feature_incompat: [0x60, 4],
  feature_ro_compat: [0x64, 4],
  reserved_gdt_blocks: [0xce, 2],
  journal_inum: [0xe0, 4],
  journal_dev: [0xe4, 4],
  desc_size: [0xfe, 2],
  first_meta_bg: [0x104, 4],
  min_extra_isize: [0x15c, 2],
  want_extra_isize: [0x15e, 2],
  log_groups_per_flex: [0x174, 1],
  checksum_type: [0x175, 1],
  checksum: [0x3fc, 4],
};
function sbRead(file) {
  return readAt(file, 1024, 1024);
}
function sbGet(sb, f) {
  const [o, s] = SB[f];
  return s === 4 ? sb.readUInt32LE(o) : s === 2 ? sb.readUInt16LE(o) : sb[o];
}
function sbSet(sb, f, v) {
  const [o, s] = SB[f];
  if (s === 4) sb.writeUInt32LE(v >>> 0, o);
  else if (s === 2) sb.writeUInt16LE(v & 0xffff, o);
  else sb[o] = v & 0xff;
}
function sbCsum(sb) {
  return crc32cRaw(0xffffffff, sb.subarray(0, 0x3fc));
}
// raw edit of the primary superblock only; checksum stale unless recsum
function sbRaw(file, edits, { recsum = false } = {}) {
  const sb = sbRead(file);
  for (const [f, v] of Object.entries(edits)) sbSet(sb, f, typeof v === 'function' ? v(sbGet(sb, f)) : v);
  if (recsum) sb.writeUInt32LE(sbCsum(sb), 0x3fc);
  ddWrite(file, 1024, sb);
  return `dd conv=notrunc over the primary superblock (byte 1024): ${Object.entries(edits)
    .map(([f]) => `${f}=${sbGet(sb, f)}`)
    .join(
      ', ',
    )}; backups untouched; ${recsum ? 's_checksum recomputed' : 's_checksum NOT recomputed (stale)'}`;
}
// journal superblock (big endian)
const JSB = {
  magic: 0x0,
  blocktype: 0x4,
  blocksize: 0xc,
  maxlen: 0x10,
  first: 0x14,
  sequence: 0x18,
  start: 0x1c,
  errno: 0x20,
  compat: 0x24,
  incompat: 0x28,
  ro_compat: 0x2c,
  nr_users: 0x40,
  checksum: 0xfc,
};
function jsbEdit(file, bs, edits, { csum = 'keep' } = {}) {
  const blk = journalBlock(file);
  const off = blk * bs;
  const j = readAt(file, off, 1024);
  for (const [f, v] of Object.entries(edits)) {
    if (f === 'checksum_type') j[0x50] = v;
    else j.writeUInt32BE((typeof v === 'function' ? v(j.readUInt32BE(JSB[f])) : v) >>> 0, JSB[f]);
  }
  if (csum === 'recompute') {
    j.writeUInt32BE(0, 0xfc);
    j.writeUInt32BE(crc32cRaw(0xffffffff, j), 0xfc);
  } else if (csum === 'wrong') {
    j.writeUInt32BE(0, 0xfc);
    j.writeUInt32BE((crc32cRaw(0xffffffff, j) ^ 0x00a5a500) >>> 0, 0xfc);
  }
  ddWrite(file, off, j);
  return { blk, off };
}

// ---------------------------------------------------------------- xfs / btrfs helpers
function mkxfs(file, rng, { sizeMiB = 320, args = [] } = {}) {
  sparseFile(file, sizeMiB * MiB);
  const a = ['-q', '-f', '-m', `uuid=${rng.uuid()}`, ...args, file];
  run('mkfs.xfs', a);
  return `mkfs.xfs ${a.slice(0, -1).join(' ')} IMG (size ${sizeMiB} MiB)`;
}
function xfsdb(file, cmds) {
  const a = ['-x'];
  for (const c of cmds) a.push('-c', c);
  a.push(file);
  const out = run('xfs_db', a, { allowFail: true });
  return { out, desc: `xfs_db -x ${cmds.map((c) => `-c '${c}'`).join(' ')}` };
}
function xfsGet(file, field) {
  const { out } = xfsdb(file, ['sb 0', `p ${field}`]);
  const m = out.match(new RegExp(`${field} = (\\S+)`));
  return m ? m[1] : null;
}
function mkbtrfs(file, rng, { sizeMiB = 128, args = [] } = {}) {
  sparseFile(file, sizeMiB * MiB);
  const a = ['-q', '-f', '-U', rng.uuid(), ...args, file];
  run('mkfs.btrfs', a);
  return `mkfs.btrfs ${a.slice(0, -1).join(' ')} IMG (size ${sizeMiB} MiB)`;
}
const BTRFS_SB = [64 * 1024, 64 * MiB, 256 * 1024 * MiB];
function btrfsSbEdit(file, copyOff, fn, { recsum = true } = {}) {
  const sb = readAt(file, copyOff, 4096);
  fn(sb);
  if (recsum) {
    const c = (crc32cRaw(0xffffffff, sb.subarray(0x20)) ^ 0xffffffff) >>> 0;
    sb.fill(0, 0, 32);
    sb.writeUInt32LE(c, 0);
  }
  ddWrite(file, copyOff, sb);
}

// ---------------------------------------------------------------- partitioning
function gptDisk(file, diskMiB, parts, rng) {
  sparseFile(file, diskMiB * MiB);
  const a = ['-o', '-U', rng.uuid()];
  parts.forEach((p, i) => {
    a.push(`-n${i + 1}:${p.startMiB * 2048}:${p.endSector ?? p.startMiB * 2048 + p.sizeMiB * 2048 - 1}`);
    a.push(`-t${i + 1}:${p.code ?? '8300'}`, `-u${i + 1}:${rng.uuid()}`, `-c${i + 1}:part${i + 1}`);
  });
  run('sgdisk', [...a, file]);
  return `sgdisk ${a.join(' ')} IMG (disk ${diskMiB} MiB)`;
}
function msdosDisk(file, diskMiB, lines, rng) {
  sparseFile(file, diskMiB * MiB);
  const id = `0x${rng.bytes(4).toString('hex')}`;
  const script = `label: dos\nlabel-id: ${id}\nunit: sectors\n${lines.join('\n')}\n`;
  run('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', file], { input: script });
  return `sfdisk IMG <<< ${JSON.stringify(script)} (disk ${diskMiB} MiB)`;
}
// make a filesystem of partMiB in a scratch file and copy it into the disk
function fsIntoDisk(disk, offMiB, partMiB, fsType, rng, extArgs = {}) {
  const tmp = `${disk}.part`;
  let cmd;
  if (fsType.startsWith('ext'))
    cmd = mkext(tmp, EXT_PROFILES[extArgs.profile ?? 'ext4-4k'], rng, { sizeMiB: partMiB });
  else if (fsType === 'xfs') cmd = mkxfs(tmp, rng, { sizeMiB: partMiB });
  else if (fsType === 'btrfs') cmd = mkbtrfs(tmp, rng, { sizeMiB: partMiB });
  else if (fsType === 'vfat') {
    sparseFile(tmp, partMiB * MiB);
    const a = ['-i', rng.bytes(4).toString('hex'), '-n', 'ORACLE', tmp];
    run('mkfs.vfat', a);
    cmd = `mkfs.vfat ${a.slice(0, -1).join(' ')}`;
  }
  ddInto(tmp, disk, offMiB * MiB);
  fs.rmSync(tmp, { force: true });
  return `${cmd}; dd conv=sparse,notrunc into the disk at ${offMiB} MiB`;
}

// ================================================================= the corpus
// Every entry: { cls, slug, fs, partitioned?, table?, part?, build(file, rng) -> { mkfs, mutation, extra? } }
const plan = [];
const add = (cls, slug, fsType, build, o = {}) =>
  plan.push({ cls, slug, fs: fsType, build, partitioned: false, ...o });

// ---------- healthy controls
const PROFILE_NAMES = Object.keys(EXT_PROFILES);
for (const pn of PROFILE_NAMES) {
  for (const v of [0, 1]) {
    const prof = EXT_PROFILES[pn];
    add('healthy', `${pn}-${v}`, prof.type, (file, rng) => {
      const sizeMiB = rng.pick(pn.includes('bigalloc') ? [32, 64] : [8, 16, 24, 32, 48, 64]);
      const extra = [];
      const E = [];
      if (v === 1) {
        const x = rng.pick(['label', 'reserved0', 'lazy', 'stride', 'inodes', 'journal-size', 'multigroup']);
        if (x === 'label') extra.push('-L', `oracle${rng.int(0, 999)}`);
        if (x === 'reserved0') extra.push('-m', '0');
        if (x === 'lazy') E.push('lazy_itable_init=0', 'lazy_journal_init=0');
        if (x === 'stride') E.push('stride=16', 'stripe_width=64');
        if (x === 'inodes') extra.push('-N', String(rng.pick([128, 512, 4096])));
        if (x === 'journal-size' && JOURNALED(prof)) extra.push('-J', `size=${rng.pick([4, 5])}`);
        if (x === 'multigroup')
          return {
            mkfs: mkext(file, prof, rng, { sizeMiB, multiGroup: true }),
            mutation: 'none (healthy control, forced several block groups with -g)',
          };
      }
      return { mkfs: mkext(file, prof, rng, { sizeMiB, E, extra }), mutation: 'none (healthy control)' };
    });
  }
}
for (const [slug, args, sizeMiB] of [
  ['xfs-v5-default', [], 320],
  ['xfs-v5-b1k', ['-b', 'size=1024'], 320],
  ['xfs-v5-b2k', ['-b', 'size=2048'], 320],
  ['xfs-v5-noreflink', ['-m', 'reflink=0'], 320],
  ['xfs-v5-nofinobt', ['-m', 'finobt=0'], 320],
  ['xfs-v5-i1k', ['-i', 'size=1024'], 320],
  ['xfs-v5-s4k', ['-s', 'size=4096'], 320],
  ['xfs-v5-rmapbt', ['-m', 'rmapbt=1'], 320],
  ['xfs-v5-nobigtime', ['-m', 'bigtime=0,inobtcount=0'], 320],
  ['xfs-v5-ag2', ['-d', 'agcount=2'], 320],
  ['xfs-v4', ['-m', 'crc=0'], 320],
  ['xfs-v4-b1k', ['-m', 'crc=0', '-b', 'size=1024'], 320],
  ['xfs-v5-n8k', ['-n', 'size=8192'], 320],
])
  add('healthy', slug, 'xfs', (file, rng) => ({
    mkfs: mkxfs(file, rng, { sizeMiB, args }),
    mutation: 'none (healthy control)',
  }));
for (const [slug, args, sizeMiB] of [
  ['btrfs-default-128m', [], 128],
  ['btrfs-160m', [], 160],
  ['btrfs-mixed-32m', ['-M'], 32],
  ['btrfs-mixed-16m', ['-M'], 16],
  ['btrfs-single', ['-m', 'single', '-d', 'single'], 128],
  ['btrfs-xxhash', ['--csum', 'xxhash'], 128],
  ['btrfs-sha256', ['--csum', 'sha256'], 128],
  ['btrfs-blake2', ['--csum', 'blake2'], 128],
  ['btrfs-nodesize64k', ['-n', '65536'], 128],
  ['btrfs-noholes-off', ['-O', '^no-holes', '-R', '^free-space-tree'], 128],
])
  add('healthy', slug, 'btrfs', (file, rng) => ({
    mkfs: mkbtrfs(file, rng, { sizeMiB, args }),
    mutation: 'none (healthy control)',
  }));
add(
  'healthy',
  'msdos-p1-ext4',
  'ext4',
  (file, rng) => ({
    mkfs: `${msdosDisk(file, 40, ['start=2048, size=65536, type=83'], rng)}; ${fsIntoDisk(file, 1, 32, 'ext4', rng)}`,
    mutation: 'none (healthy control: msdos table, ext4 in p1)',
  }),
  { partitioned: true, table: 'msdos', part: 1 },
);
add(
  'healthy',
  'gpt-p1-ext4',
  'ext4',
  (file, rng) => ({
    mkfs: `${gptDisk(file, 40, [{ startMiB: 1, sizeMiB: 32 }], rng)}; ${fsIntoDisk(file, 1, 32, 'ext4', rng)}`,
    mutation: 'none (healthy control: GPT, ext4 in p1)',
  }),
  { partitioned: true, table: 'gpt', part: 1 },
);
add(
  'healthy',
  'gpt-p1-xfs',
  'xfs',
  (file, rng) => ({
    mkfs: `${gptDisk(file, 340, [{ startMiB: 1, sizeMiB: 320 }], rng)}; ${fsIntoDisk(file, 1, 320, 'xfs', rng)}`,
    mutation: 'none (healthy control: GPT, xfs in p1)',
  }),
  { partitioned: true, table: 'gpt', part: 1 },
);
add(
  'healthy',
  'gpt-p2-ext4',
  'ext4',
  (file, rng) => ({
    mkfs: `${gptDisk(
      file,
      48,
      [
        { startMiB: 1, sizeMiB: 8, code: 'ef00' },
        { startMiB: 9, sizeMiB: 32 },
      ],
      rng,
    )}; ${fsIntoDisk(file, 9, 32, 'ext4', rng, { profile: 'ext4-1k' })}`,
    mutation: 'none (healthy control: GPT with an empty ESP-typed p1, ext4 in p2)',
  }),
  { partitioned: true, table: 'gpt', part: 2 },
);
add(
  'healthy',
  'msdos-logical-p5-ext3',
  'ext3',
  (file, rng) => ({
    mkfs: `${msdosDisk(file, 48, ['start=2048, size=16384, type=83', 'start=20480, size=69632, type=5', 'start=22528, size=65536, type=83'], rng)}; ${fsIntoDisk(file, 11, 32, 'ext3', rng, { profile: 'ext3-1k' })}`,
    mutation: 'none (healthy control: msdos with extended partition, ext3 in logical p5)',
  }),
  { partitioned: true, table: 'msdos', part: 5 },
);
add(
  'healthy',
  'msdos-p1-btrfs',
  'btrfs',
  (file, rng) => ({
    mkfs: `${msdosDisk(file, 140, ['start=2048, size=262144, type=83'], rng)}; ${fsIntoDisk(file, 1, 128, 'btrfs', rng)}`,
    mutation: 'none (healthy control: msdos table, btrfs in p1)',
  }),
  { partitioned: true, table: 'msdos', part: 1 },
);

// ---------- ext superblock (ssv = debugfs, checksum recomputed; raw = dd, checksum stale on metadata_csum)
const SB_PROFILES = [
  'ext2-1k',
  'ext2-4k',
  'ext3-1k',
  'ext3-4k',
  'ext4-1k',
  'ext4-2k',
  'ext4-4k',
  'ext4-4k-nocsum',
  'ext4-4k-no64bit',
  'ext4-4k-noflex',
  'ext4-4k-metabg',
  'ext4-4k-bigalloc',
];
function sbCase(
  slug,
  desc,
  profiles,
  valueFn,
  { raw = 'both', multiGroup = false, sizes = [8, 16, 32, 64] } = {},
) {
  // valueFn(geo, rng) -> { field: value, ... } (debugfs ssv field names)
  const variants = raw === 'only' ? ['raw'] : raw === 'none' ? ['ssv'] : ['ssv', 'raw'];
  for (const v of variants) {
    add('ext-superblock', `${slug}-${v}`, 'ext4', (file, rng) => {
      let pn = rng.pick(profiles);
      if (v === 'raw' && raw === 'both') {
        // the dd variant matters where a checksum would have to be recomputed
        const withCsum = profiles.filter((p) => HAS_CSUM(EXT_PROFILES[p]));
        if (withCsum.length) pn = rng.pick(withCsum);
      }
      const prof = EXT_PROFILES[pn];
      const mkfs = mkext(file, prof, rng, { sizeMiB: rng.pick(sizes), multiGroup });
      const geo = extGeometry(file);
      const edits = valueFn(geo, rng);
      let how;
      if (v === 'ssv')
        how = debugfsW(
          file,
          Object.entries(edits).map(([f, val]) => `ssv ${f} ${val}`),
        );
      else how = sbRaw(file, edits, { recsum: false });
      return {
        mkfs,
        fsOverride: prof.type,
        mutation: `${desc}: ${Object.entries(edits)
          .map(([f, val]) => `s_${f} ${sbFieldOld(geo, f)} -> ${val}`)
          .join(
            ', ',
          )} [${v === 'ssv' ? 'debugfs ssv: primary and backup superblocks rewritten, checksum recomputed' : how}]; profile ${pn}, ${geo.groups.length} block group(s)${geo.groups.length === 1 ? ' (no backup superblock exists)' : ''}`,
        extGroups: geo.groups.length,
      };
    });
  }
}
function sbFieldOld(geo, f) {
  const map = {
    log_block_size: Math.log2(geo.bs / 1024),
    blocks_per_group: geo.bpg,
    inodes_per_group: geo.ipg,
    first_data_block: geo.first,
    inode_size: geo.isz,
    blocks_count: geo.blocks,
    inodes_count: geo.inodes,
  };
  if (f in map) return map[f];
  const k = {
    desc_size: 'Group descriptor size',
    rev_level: 'Filesystem revision #',
    first_ino: 'First inode',
    reserved_gdt_blocks: 'Reserved GDT blocks',
    log_groups_per_flex: 'Flex block group size',
    state: 'Filesystem state',
    errors: 'Errors behavior',
    magic: 'Filesystem magic number',
    first_meta_bg: 'First meta block group',
    journal_inum: 'Journal inode',
    mnt_count: 'Mount count',
    max_mnt_count: 'Maximum mount count',
  }[f];
  return k && geo.h[k] !== undefined ? `(${geo.h[k]})` : '(old)';
}
const pow2 = (n) => 2 ** Math.floor(Math.log2(n));
sbCase('log-block-size-huge', 's_log_block_size too large', SB_PROFILES, (g, r) => ({
  log_block_size: r.pick([7, 16, 31]),
}));
sbCase(
  'log-block-size-64k',
  's_log_block_size = 6 (64 KiB blocks, > page size)',
  SB_PROFILES,
  () => ({ log_block_size: 6 }),
  { raw: 'none' },
);
sbCase(
  'log-block-size-off-by-one',
  's_log_block_size one step wrong (plausible value)',
  SB_PROFILES,
  (g) => ({ log_block_size: g.bs === 1024 ? 2 : Math.log2(g.bs / 1024) - 1 }),
);
sbCase('blocks-per-group-zero', 's_blocks_per_group 0', SB_PROFILES, () => ({ blocks_per_group: 0 }));
sbCase('blocks-per-group-big', 's_blocks_per_group > 8*blocksize', SB_PROFILES, (g, r) => ({
  blocks_per_group: g.bs * 8 + r.pick([8, g.bs * 8]),
}));
sbCase('inodes-per-group-zero', 's_inodes_per_group 0', SB_PROFILES, () => ({ inodes_per_group: 0 }));
sbCase(
  'inodes-per-group-big',
  's_inodes_per_group > 8*blocksize',
  SB_PROFILES,
  (g) => ({ inodes_per_group: g.bs * 8 + g.bs / g.isz }),
  { raw: 'none' },
);
sbCase(
  'inodes-per-group-unaligned',
  's_inodes_per_group not a multiple of inodes per block',
  SB_PROFILES,
  (g) => ({ inodes_per_group: g.ipg - 1 }),
);
sbCase('first-data-block-wrong', 's_first_data_block wrong', SB_PROFILES, (g, r) => ({
  first_data_block: g.first === 1 ? 0 : r.pick([1, 7]),
}));
sbCase(
  'first-data-block-huge',
  's_first_data_block beyond the filesystem',
  SB_PROFILES,
  (g) => ({ first_data_block: g.blocks + 5 }),
  { raw: 'none' },
);
sbCase('inode-size-not-pow2', 's_inode_size not a power of 2', SB_PROFILES, (g, r) => ({
  inode_size: r.pick([129, 200, 384]),
}));
sbCase('inode-size-small', 's_inode_size < 128', SB_PROFILES, (g, r) => ({ inode_size: r.pick([64, 0]) }), {
  raw: 'none',
});
sbCase('inode-size-gt-block', 's_inode_size > block size', SB_PROFILES, (g) => ({ inode_size: g.bs * 2 }), {
  raw: 'none',
});
sbCase('inode-size-plausible-wrong', 's_inode_size a wrong but valid power of 2', SB_PROFILES, (g) => ({
  inode_size: g.isz === 256 ? 512 : 256,
}));
sbCase(
  'desc-size-bad-64bit',
  's_desc_size 0/odd/too small with 64bit',
  ['ext4-1k', 'ext4-4k', 'ext4-2k'],
  (g, r) => ({ desc_size: r.pick([0, 33, 65, 48]) }),
);
sbCase(
  'desc-size-pow2-wrong',
  's_desc_size 128 (valid size, not the one written)',
  ['ext4-1k', 'ext4-4k'],
  () => ({ desc_size: 128 }),
  { raw: 'none' },
);
sbCase(
  'first-meta-bg-beyond',
  's_first_meta_bg beyond the group count',
  ['ext4-4k-metabg', 'ext4-1k-metabg'],
  (g, r) => ({ first_meta_bg: g.groups.length + r.pick([1, 50, 60000]) }),
  { multiGroup: true },
);
sbCase('rev-level-high', 's_rev_level above EXT4_MAX_SUPP_REV', SB_PROFILES, (g, r) => ({
  rev_level: r.pick([2, 5, 0xffff]),
}));
sbCase(
  'rev-level-zero',
  's_rev_level 0 (GOOD_OLD_REV) on a dynamic-rev filesystem',
  SB_PROFILES,
  () => ({ rev_level: 0 }),
  { raw: 'none' },
);
sbCase('blocks-count-beyond-device', 's_blocks_count larger than the device', SB_PROFILES, (g, r) => ({
  blocks_count: g.blocks + r.pick([1, 1000, g.blocks]),
}));
sbCase('inodes-count-mismatch', 's_inodes_count != groups*inodes_per_group', SB_PROFILES, (g, r) => ({
  inodes_count: g.inodes + r.pick([1, -8, g.ipg]),
}));
sbCase('first-ino-bad', 's_first_ino bad', SB_PROFILES, (g, r) => ({
  first_ino: r.pick([0, 5, g.inodes + 10]),
}));
sbCase('reserved-gdt-huge', 's_reserved_gdt_blocks huge', SB_PROFILES, (g, r) => ({
  reserved_gdt_blocks: r.pick([0xffff, g.bs / 4 + 1]),
}));
sbCase(
  'log-groups-per-flex-huge',
  's_log_groups_per_flex huge',
  ['ext4-1k', 'ext4-4k', 'ext4-2k'],
  (g, r) => ({ log_groups_per_flex: r.pick([31, 40, 255]) }),
);
sbCase(
  'log-groups-per-flex-zero',
  's_log_groups_per_flex 0 with flex_bg',
  ['ext4-1k', 'ext4-4k'],
  () => ({ log_groups_per_flex: 0 }),
  { raw: 'none' },
);
sbCase('state-error', 's_state with the error flag (EXT2_ERROR_FS)', SB_PROFILES, (g, r) => ({
  state: r.pick([2, 3]),
}));
sbCase('state-not-clean', 's_state 0 (not cleanly unmounted)', SB_PROFILES, () => ({ state: 0 }));
sbCase('errors-policy', 's_errors policy changed', SB_PROFILES, (g, r) => ({ errors: r.pick([2, 3]) }), {
  raw: 'none',
});
sbCase(
  'errors-invalid',
  's_errors invalid value',
  SB_PROFILES,
  (g, r) => ({ errors: r.pick([0, 7, 0xffff]) }),
  { raw: 'none' },
);
sbCase('magic-broken', 's_magic broken', SB_PROFILES, (g, r) => ({ magic: r.pick([0, 0xef52, 0x53ef]) }), {
  raw: 'only',
});
sbCase(
  'magic-broken-single-group',
  's_magic broken on a small single-group filesystem',
  ['ext4-4k', 'ext3-4k', 'ext2-4k'],
  () => ({ magic: 0 }),
  { raw: 'only', sizes: [8, 16] },
);
sbCase(
  'mount-count-exceeded',
  's_mnt_count beyond s_max_mnt_count',
  SB_PROFILES,
  () => ({ max_mnt_count: 20, mnt_count: 50 }),
  { raw: 'none' },
);
sbCase(
  'checktime-passed',
  's_lastcheck long ago with a check interval',
  SB_PROFILES,
  () => ({ lastcheck: 1000000000, checkinterval: 86400 }),
  { raw: 'none' },
);
sbCase(
  'extra-isize-bogus',
  's_min_extra_isize / s_want_extra_isize too large',
  ['ext4-4k', 'ext4-1k'],
  () => ({ min_extra_isize: 200, want_extra_isize: 300 }),
  { raw: 'none' },
);
sbCase(
  'checksum-type-unknown',
  's_checksum_type not crc32c on metadata_csum',
  ['ext4-4k', 'ext4-1k'],
  (g, r) => ({ checksum_type: r.pick([0, 2, 255]) }),
);
sbCase(
  'clusters-per-group-mismatch',
  's_clusters_per_group != blocks_per_group without bigalloc',
  ['ext4-4k', 'ext4-1k', 'ext2-4k', 'ext3-1k'],
  (g) => ({ clusters_per_group: g.bpg / 2 }),
);
add('ext-superblock', 'checksum-only-corrupt', 'ext4', (file, rng) => {
  const pn = rng.pick(['ext4-1k', 'ext4-4k', 'ext4-2k', 'ext4-4k-metabg']);
  const mkfs = mkext(file, EXT_PROFILES[pn], rng, { sizeMiB: rng.pick([16, 32]) });
  const sb = sbRead(file);
  sb.writeUInt32LE((sb.readUInt32LE(0x3fc) ^ 0x1) >>> 0, 0x3fc);
  ddWrite(file, 1024, sb);
  return { mkfs, mutation: `s_checksum flipped (lowest bit) with dd, nothing else changed; profile ${pn}` };
});
add('ext-superblock', 'uuid-ssv-no-csum-seed', 'ext4', (file, rng) => {
  const mkfs = mkext(file, EXT_PROFILES[rng.pick(['ext4-1k', 'ext4-4k'])], rng, {
    sizeMiB: 32,
    multiGroup: true,
  });
  const u = rng.uuid();
  return {
    mkfs,
    mutation: `s_uuid changed with debugfs 'ssv uuid ${u}' on metadata_csum without metadata_csum_seed: group descriptor/inode/bitmap checksums (seeded by the UUID) are now all stale [${debugfsW(file, [`ssv uuid ${u}`])}]`,
  };
});
add('ext-superblock', 'uuid-tune2fs-control', 'ext4', (file, rng) => {
  const mkfs = mkext(file, EXT_PROFILES[rng.pick(['ext4-1k', 'ext4-4k'])], rng, {
    sizeMiB: 32,
    multiGroup: true,
  });
  const u = rng.uuid();
  run('tune2fs', ['-U', u, file]);
  return {
    mkfs,
    mutation: `control: UUID changed properly with 'tune2fs -U ${u}' (rewrites every checksum)`,
  };
});
add('ext-superblock', 'label-and-last-mounted', 'ext4', (file, rng) => {
  const mkfs = mkext(file, EXT_PROFILES[rng.pick(['ext4-1k', 'ext4-4k', 'ext3-1k'])], rng, { sizeMiB: 16 });
  return {
    mkfs,
    mutation: `harmless: volume name and last-mounted path set [${debugfsW(file, ['ssv volume_name ORACLE-LBL', 'ssv last_mounted /srv/oracle'])}]`,
  };
});

// ---------- ext group descriptors
const GD_PROFILES = [
  'ext4-1k',
  'ext4-4k',
  'ext4-1k-noflex',
  'ext4-4k-noflex',
  'ext4-4k-nocsum',
  'ext3-1k',
  'ext2-1k',
  'ext4-2k-nocsum-noflex',
  'ext4-old-style',
  'ext4-4k-no64bit',
];
function gdDesc(file, geo, n) {
  // raw descriptor bytes of group n (classic layout: GDT follows the superblock)
  const ds = geo.features.includes('64bit') ? +(geo.h['Group descriptor size'] || 64) : 32;
  const off = (geo.first + 1) * geo.bs + n * ds;
  return { off, ds, buf: readAt(file, off, ds) };
}
const GD_FIELD = {
  block_bitmap: [0x0, 4],
  inode_bitmap: [0x4, 4],
  inode_table: [0x8, 4],
  free_blocks_count: [0xc, 2],
  free_inodes_count: [0xe, 2],
  used_dirs_count: [0x10, 2],
  flags: [0x12, 2],
  itable_unused: [0x1c, 2],
  checksum: [0x1e, 2],
};
function gdCase(
  slug,
  desc,
  pick,
  { variants = ['setbg', 'setbg-calc', 'raw'], profiles = GD_PROFILES } = {},
) {
  for (const v of variants) {
    add('ext-group-desc', `${slug}-${v}`, 'ext4', (file, rng) => {
      const pn = rng.pick(profiles);
      const prof = EXT_PROFILES[pn];
      const mkfs = mkext(file, prof, rng, { sizeMiB: rng.pick([16, 32, 48, 64]), multiGroup: true });
      const geo = extGeometry(file);
      const picked = pick(geo, rng); // { group, field, value, why }
      const { group, field, value, why } = picked;
      let how;
      if (v === 'setbg')
        how = `${debugfsW(file, [`set_bg ${group} ${field} ${value}`])} (debugfs set_bg leaves bg_checksum stale; it also rewrites the backup GDTs)`;
      else if (v === 'setbg-calc')
        how = `${debugfsW(file, [`set_bg ${group} ${field} ${value}`, `set_bg ${group} checksum calc`])} (bg_checksum recomputed)`;
      else {
        const d = gdDesc(file, geo, group);
        const [o, s] = GD_FIELD[field];
        if (s === 4) {
          d.buf.writeUInt32LE(value >>> 0, o);
          if (d.ds >= 64 && o <= 8) d.buf.writeUInt32LE(Math.floor(value / 2 ** 32), 0x20 + o);
        } else d.buf.writeUInt16LE(value & 0xffff, o);
        ddWrite(file, d.off, d.buf);
        how = `dd conv=notrunc over descriptor ${group} at byte ${d.off}; bg_checksum NOT recomputed; backup GDTs untouched`;
      }
      return {
        mkfs,
        fsOverride: prof.type,
        extGroups: geo.groups.length,
        mutation: `${desc}: group ${group} ${field} -> ${value}${why ? ` (${why})` : ''} [${how}]; profile ${pn}, ${geo.groups.length} groups, ${geo.features.includes('flex_bg') ? 'flex_bg (bitmaps packed in group 0)' : 'no flex_bg'}${geo.csum ? ', metadata_csum' : geo.features.includes('uninit_bg') ? ', uninit_bg' : ''}`,
      };
    });
  }
}
const gN = (g, r) => r.int(1, g.groups.length - 1);
gdCase('block-bitmap-other-group', "bg_block_bitmap points into another group's data blocks", (g, r) => {
  const n = gN(g, r);
  const o = g.groups[(n + 1) % g.groups.length];
  return { group: n, field: 'block_bitmap', value: o.end - r.int(1, 50), why: `inside group ${o.n}` };
});
gdCase('block-bitmap-beyond-fs', 'bg_block_bitmap beyond the filesystem', (g, r) => ({
  group: r.int(0, g.groups.length - 1),
  field: 'block_bitmap',
  value: g.blocks + r.int(1, 5000),
}));
gdCase('block-bitmap-on-superblock', 'bg_block_bitmap = the superblock block', (g) => ({
  group: 0,
  field: 'block_bitmap',
  value: g.first,
}));
gdCase('block-bitmap-on-gdt', 'bg_block_bitmap = the group descriptor table block', (g) => ({
  group: 0,
  field: 'block_bitmap',
  value: g.first + 1,
}));
gdCase('block-bitmap-eq-inode-bitmap', 'bg_block_bitmap overlaps bg_inode_bitmap', (g, r) => {
  const n = r.int(0, g.groups.length - 1);
  return { group: n, field: 'block_bitmap', value: g.groups[n].ib };
});
gdCase('inode-bitmap-beyond-fs', 'bg_inode_bitmap beyond the filesystem', (g, r) => ({
  group: r.int(0, g.groups.length - 1),
  field: 'inode_bitmap',
  value: g.blocks + r.int(1, 5000),
}));
gdCase('inode-bitmap-in-inode-table', 'bg_inode_bitmap inside the inode table', (g, r) => {
  const n = r.int(0, g.groups.length - 1);
  return { group: n, field: 'inode_bitmap', value: g.groups[n].it + 1 };
});
gdCase('inode-table-beyond-fs', 'bg_inode_table beyond the filesystem', (g, r) => ({
  group: r.int(0, g.groups.length - 1),
  field: 'inode_table',
  value: g.blocks - r.int(0, 3),
}));
gdCase('inode-table-on-gdt', 'bg_inode_table overlaps superblock/GDT', (g) => ({
  group: 0,
  field: 'inode_table',
  value: g.first,
}));
gdCase(
  'inode-table-zero',
  'bg_inode_table 0',
  (g, r) => ({ group: gN(g, r), field: 'inode_table', value: 0 }),
  { variants: ['setbg', 'setbg-calc'] },
);
gdCase(
  'checksum-wrong',
  'bg_checksum wrong',
  (g, r) => ({ group: r.int(0, g.groups.length - 1), field: 'checksum', value: 0x1234 }),
  {
    variants: ['setbg', 'raw'],
    profiles: ['ext4-1k', 'ext4-4k', 'ext4-4k-nocsum', 'ext4-1k-noflex', 'ext4-old-style'],
  },
);
gdCase(
  'flags-inode-uninit-group0',
  'bg_flags INODE_UNINIT|BLOCK_UNINIT on group 0 (holds the root directory)',
  () => ({ group: 0, field: 'flags', value: 7 }),
  { profiles: ['ext4-1k', 'ext4-4k', 'ext4-4k-nocsum'] },
);
gdCase('flags-garbage', 'bg_flags garbage', (g, r) => ({
  group: r.int(0, g.groups.length - 1),
  field: 'flags',
  value: r.pick([0xfff8, 0xffff]),
}));
gdCase('free-blocks-nonsense', 'bg_free_blocks_count larger than the group', (g, r) => ({
  group: r.int(0, g.groups.length - 1),
  field: 'free_blocks_count',
  value: 0xfff0,
}));
gdCase('free-inodes-nonsense', 'bg_free_inodes_count larger than inodes per group', (g, r) => ({
  group: r.int(0, g.groups.length - 1),
  field: 'free_inodes_count',
  value: g.ipg + r.int(1, 1000),
}));
gdCase(
  'itable-unused-nonsense',
  'bg_itable_unused larger than inodes per group',
  (g, r) => ({ group: r.int(0, g.groups.length - 1), field: 'itable_unused', value: 0xfff0 }),
  { profiles: ['ext4-1k', 'ext4-4k', 'ext4-4k-nocsum'] },
);
gdCase(
  'used-dirs-nonsense',
  'bg_used_dirs_count huge',
  (g, r) => ({ group: r.int(0, g.groups.length - 1), field: 'used_dirs_count', value: 0xffff }),
  { variants: ['setbg', 'setbg-calc'] },
);

// ---------- ext journal
const J_PROFILES = ['ext3-1k', 'ext3-4k', 'ext4-1k', 'ext4-4k', 'ext4-4k-nocsum', 'ext4-2k'];
function jCase(slug, desc, fn, { profiles = J_PROFILES } = {}) {
  add('ext-journal', slug, 'ext4', (file, rng) => {
    const pn = rng.pick(profiles);
    const prof = EXT_PROFILES[pn];
    const mkfs = mkext(file, prof, rng, { sizeMiB: rng.pick([16, 32, 64]) });
    const geo = extGeometry(file);
    const detail = fn(file, geo, rng);
    return { mkfs, fsOverride: prof.type, mutation: `${desc}: ${detail}; profile ${pn}` };
  });
}
const jloc = (file, geo) =>
  `journal superblock = block ${journalBlock(file)} (debugfs 'bmap <8> 0'), byte ${journalBlock(file) * geo.bs}`;
jCase('jsb-magic-zeroed', 'journal superblock magic zeroed', (f, g) => {
  const l = jloc(f, g);
  jsbEdit(f, g.bs, { magic: 0 });
  return `${l}, h_magic -> 0 with dd`;
});
jCase('jsb-block-zeroed', 'whole journal superblock block zeroed', (f, g) => {
  const b = journalBlock(f);
  ddZero(f, b * g.bs, g.bs);
  return `block ${b} zeroed with dd`;
});
jCase('jsb-blocktype-bad', 'journal superblock h_blocktype bad', (f, g, r) => {
  const v = r.pick([1, 2, 5, 7]);
  const l = jloc(f, g);
  jsbEdit(f, g.bs, { blocktype: v });
  return `${l}, h_blocktype 4 -> ${v}`;
});
jCase('jsb-blocktype-v1', 'journal superblock h_blocktype = 3 (v1 superblock)', (f, g) => {
  jsbEdit(f, g.bs, { blocktype: 3 });
  return 'h_blocktype 4 -> 3';
});
jCase('jsb-blocksize-mismatch', 'journal s_blocksize != filesystem block size', (f, g) => {
  const v = g.bs === 1024 ? 4096 : 1024;
  jsbEdit(f, g.bs, { blocksize: v });
  return `s_blocksize ${g.bs} -> ${v}`;
});
jCase('jsb-maxlen-zero', 'journal s_maxlen 0', (f, g) => {
  jsbEdit(f, g.bs, { maxlen: 0 });
  return 's_maxlen -> 0';
});
jCase('jsb-maxlen-beyond-inode', 'journal s_maxlen larger than the journal inode', (f, g) => {
  jsbEdit(f, g.bs, { maxlen: (v) => v * 4 });
  return 's_maxlen x4';
});
jCase('jsb-first-zero', 'journal s_first 0', (f, g) => {
  jsbEdit(f, g.bs, { first: 0 });
  return 's_first 1 -> 0';
});
jCase(
  'jsb-start-garbage-no-recovery',
  'journal s_start nonzero (log claims content) but needs_recovery clear',
  (f, g) => {
    jsbEdit(f, g.bs, { start: 5 });
    return 's_start 0 -> 5';
  },
);
jCase(
  'needs-recovery-clean-journal',
  'needs_recovery (incompat 0x4) set on a clean journal',
  (f) =>
    `[${debugfsW(f, [`ssv feature_incompat 0x${(Number.parseInt(dumpFeat(f, 'incompat'), 16) | 0x4).toString(16)}`])}]`,
);
jCase(
  'needs-recovery-garbage-log',
  'needs_recovery set, journal s_start points at a garbage block',
  (f, g, r) => {
    const b = journalBlock(f);
    ddWrite(f, (b + 5) * g.bs, r.bytes(g.bs));
    jsbEdit(f, g.bs, { start: 5, sequence: 2 });
    return `random bytes in journal block 5, s_start -> 5, then [${debugfsW(f, [`ssv feature_incompat 0x${(Number.parseInt(dumpFeat(f, 'incompat'), 16) | 0x4).toString(16)}`])}]`;
  },
);
jCase(
  'needs-recovery-valid-descriptor-garbage',
  'needs_recovery set, journal block 5 has a valid descriptor header then garbage',
  (f, g, r) => {
    const b = journalBlock(f);
    const blk = r.bytes(g.bs);
    blk.writeUInt32BE(0xc03b3998, 0);
    blk.writeUInt32BE(1, 4);
    blk.writeUInt32BE(2, 8);
    ddWrite(f, (b + 5) * g.bs, blk);
    jsbEdit(f, g.bs, { start: 5, sequence: 2 });
    return `descriptor block (magic, type 1, sequence 2) followed by random tags in journal block 5, s_start -> 5, [${debugfsW(f, [`ssv feature_incompat 0x${(Number.parseInt(dumpFeat(f, 'incompat'), 16) | 0x4).toString(16)}`])}]`;
  },
);
jCase(
  'jsb-csum-v3-valid',
  'journal csum v3 enabled with a correct superblock checksum (control)',
  (f, g) => {
    jsbEdit(f, g.bs, { incompat: (v) => v | 0x10, checksum_type: 4 }, { csum: 'recompute' });
    return 'JBD2 incompat CSUM_V3 set, s_checksum_type 4, s_checksum recomputed';
  },
  { profiles: ['ext4-1k', 'ext4-4k'] },
);
jCase(
  'jsb-csum-v3-wrong',
  'journal csum v3 with a wrong superblock checksum',
  (f, g) => {
    jsbEdit(f, g.bs, { incompat: (v) => v | 0x10, checksum_type: 4 }, { csum: 'wrong' });
    return 'JBD2 incompat CSUM_V3 set, s_checksum_type 4, s_checksum wrong';
  },
  { profiles: ['ext4-1k', 'ext4-4k', 'ext4-2k'] },
);
jCase(
  'jsb-csum-v2-and-v3',
  'journal csum v2 and v3 both set',
  (f, g) => {
    jsbEdit(f, g.bs, { incompat: (v) => v | 0x18, checksum_type: 4 }, { csum: 'recompute' });
    return 'JBD2 incompat 0x18, checksum recomputed';
  },
  { profiles: ['ext4-1k', 'ext4-4k'] },
);
jCase('jsb-unknown-incompat', 'unknown journal incompat feature bit', (f, g, r) => {
  const bit = r.pick([0x40, 0x80, 0x100, 0x80000000]);
  jsbEdit(f, g.bs, { incompat: (v) => v | bit });
  return `JBD2 s_feature_incompat |= 0x${bit.toString(16)}`;
});
jCase(
  'jsb-unknown-incompat-csum',
  'unknown journal incompat bit on a csum v3 journal, checksum recomputed',
  (f, g) => {
    jsbEdit(f, g.bs, { incompat: (v) => v | 0x10 | 0x200, checksum_type: 4 }, { csum: 'recompute' });
    return 'JBD2 incompat CSUM_V3|0x200, checksum recomputed';
  },
  { profiles: ['ext4-1k', 'ext4-4k'] },
);
jCase('jsb-unknown-rocompat', 'unknown journal ro_compat bit', (f, g) => {
  jsbEdit(f, g.bs, { ro_compat: (v) => v | 0x8 });
  return 'JBD2 s_feature_ro_compat |= 0x8';
});
jCase('jsb-unknown-compat', 'unknown journal compat bit (harmless)', (f, g) => {
  jsbEdit(f, g.bs, { compat: (v) => v | 0x80 });
  return 'JBD2 s_feature_compat |= 0x80';
});
jCase('jsb-nr-users-bad', 'journal s_nr_users > 48', (f, g) => {
  jsbEdit(f, g.bs, { nr_users: 49 });
  return 's_nr_users -> 49';
});
jCase(
  'journal-inode-block0-zero',
  'journal inode i_block[0] zeroed',
  (f) =>
    `[${debugfsW(f, ['sif <8> block[0] 0'])}] (extent header magic on extent-mapped journals, first block pointer on ext3)`,
);
jCase('journal-inode-size-zero', 'journal inode i_size 0', (f) => `[${debugfsW(f, ['sif <8> size 0'])}]`);
jCase('journal-inode-mode-zero', 'journal inode cleared (clri <8>)', (f) => `[${debugfsW(f, ['clri <8>'])}]`);
jCase('journal-inum-wrong', 's_journal_inum points to a wrong inode', (f, g, r) => {
  const v = r.pick([2, 11, 12, 7]);
  return `s_journal_inum 8 -> ${v} [${debugfsW(f, [`ssv journal_inum ${v}`])}]`;
});
jCase(
  'journal-inum-beyond',
  's_journal_inum beyond s_inodes_count',
  (f, g) => `[${debugfsW(f, [`ssv journal_inum ${g.inodes + 100}`])}]`,
);
jCase(
  'has-journal-no-journal',
  'has_journal set but no journal (s_journal_inum 0, s_journal_dev 0)',
  (f) => `[${debugfsW(f, ['ssv journal_inum 0'])}]`,
);
jCase(
  'journal-feature-cleared',
  'has_journal cleared while the journal inode still exists',
  (f) =>
    `[${debugfsW(f, [`ssv feature_compat 0x${(Number.parseInt(dumpFeat(f, 'compat'), 16) & ~0x4).toString(16)}`])}]`,
);
jCase(
  'jnl-backup-blocks-wrong',
  's_jnl_blocks backup of the journal inode garbage (harmless?)',
  (f) => `[${debugfsW(f, ['ssv jnl_blocks[0] 0x12345', 'ssv jnl_blocks[5] 0x777'])}]`,
);
// ---------- what ext4 checks after the superblock, descriptors and journal: the MMP block and the
// quota inodes on a read-write mount, and the root directory on the first lookup (e2fsprogs'
// m_mmp_bad_csum, f_quota_invalid_inum, f_corrupt_dirent_tail showed each)
for (const pn of ['ext4-1k', 'ext4-4k']) {
  const bs = EXT_PROFILES[pn].b;
  add('ext-mount-time', `root-dir-tail-csum-${pn}`, 'ext4', (file, rng) => {
    const mkfs = mkext(file, EXT_PROFILES[pn], rng, { sizeMiB: 16 });
    const b = Number(debugfsR(file, 'bmap <2> 0').trim());
    const at = b * bs + bs - 1;
    const byte = readAt(file, at, 1);
    byte[0] ^= 0xff;
    ddWrite(file, at, byte);
    return { mkfs, mutation: `root directory block 0 (block ${b}): its last byte (the dirent tail checksum) flipped with dd; ${pn}` };
  });
  add('ext-mount-time', `root-dir-entry-byte-${pn}`, 'ext4', (file, rng) => {
    const mkfs = mkext(file, EXT_PROFILES[pn], rng, { sizeMiB: 16 });
    const b = Number(debugfsR(file, 'bmap <2> 0').trim());
    const at = b * bs + 12 + 8 + 1; // the second '.' of the ".." entry's name
    const byte = readAt(file, at, 1);
    byte[0] ^= 0x01;
    ddWrite(file, at, byte);
    return { mkfs, mutation: `root directory block 0 (block ${b}): a byte of the ".." name changed with dd, checksum stale; ${pn}` };
  });
  add('ext-mount-time', `mmp-csum-${pn}`, 'ext4', (file, rng) => {
    const mkfs = mkext(file, EXT_PROFILES[pn], rng, { sizeMiB: 16, O: ['mmp'] });
    const mmp = Number(sbRead(file).readBigUInt64LE(0x168));
    const at = mmp * bs + 1020;
    const byte = readAt(file, at, 1);
    byte[0] ^= 0xff;
    ddWrite(file, at, byte);
    return { mkfs, mutation: `MMP block ${mmp}: a byte of mmp_checksum flipped with dd; ${pn}` };
  });
  add('ext-mount-time', `mmp-control-${pn}`, 'ext4', (file, rng) => ({
    mkfs: mkext(file, EXT_PROFILES[pn], rng, { sizeMiB: 16, O: ['mmp'] }),
    mutation: `control: a healthy filesystem with multi-mount protection; ${pn}`,
  }));
  add('ext-mount-time', `quota-usr-inum-${pn}`, 'ext4', (file, rng) => {
    const mkfs = mkext(file, EXT_PROFILES[pn], rng, { sizeMiB: 16, O: ['quota'] });
    const inum = rng.pick([5, 12, 808464432]);
    return { mkfs, mutation: `s_usr_quota_inum set to ${inum} [${debugfsW(file, [`ssv usr_quota_inum ${inum}`])}]; ${pn}` };
  });
  add('ext-mount-time', `quota-control-${pn}`, 'ext4', (file, rng) => ({
    mkfs: mkext(file, EXT_PROFILES[pn], rng, { sizeMiB: 16, O: ['quota'] }),
    mutation: `control: a healthy filesystem with the quota feature (user and group quota inodes 3 and 4); ${pn}`,
  }));
}
add('ext-journal', 'external-journal-missing', 'ext4', (file, rng) => {
  const mkfs = mkext(file, EXT_PROFILES[rng.pick(['ext4-4k-nojournal', 'ext4-1k'])], rng, {
    sizeMiB: 32,
    O: ['^has_journal'],
  });
  const ju = rng.uuid();
  const how = debugfsW(file, [
    `ssv feature_compat 0x${(Number.parseInt(dumpFeat(file, 'compat'), 16) | 0x4).toString(16)}`,
    'ssv journal_inum 0',
    'ssv journal_dev 0x0811',
    `ssv journal_uuid ${ju}`,
  ]);
  return {
    mkfs,
    mutation: `external journal that is not there: has_journal set, s_journal_inum 0, s_journal_dev 0x0811 (sdb1), s_journal_uuid ${ju} [${how}] (mke2fs -J device= refuses regular files, so the reference is written directly)`,
  };
});
add('ext-journal', 'journal-dev-itself', 'ext4', (file, rng) => {
  sparseFile(file, 16 * MiB);
  const a = ['-q', '-F', '-O', 'journal_dev', '-b', '4096', '-U', rng.uuid(), file];
  run('mke2fs', a);
  return {
    mkfs: `mke2fs ${a.slice(0, -1).join(' ')} IMG`,
    mutation: 'an external journal device (mke2fs -O journal_dev), not a mountable filesystem',
  };
});

function dumpFeat(file, kind) {
  const sb = sbRead(file);
  return sb.readUInt32LE(kind === 'compat' ? 0x5c : kind === 'incompat' ? 0x60 : 0x64).toString(16);
}

// ---------- ext features
for (const [slug, prof, O, E, extra, note] of [
  ['orphan-file', 'ext4-4k', ['orphan_file'], [], [], ''],
  ['metadata-csum-seed', 'ext4-4k', ['metadata_csum_seed'], [], [], ''],
  ['large-dir', 'ext4-4k', ['large_dir'], [], [], ''],
  ['casefold', 'ext4-4k', ['casefold'], ['encoding=utf8'], [], ''],
  ['stable-inodes', 'ext4-4k', ['stable_inodes'], [], [], ''],
  ['verity', 'ext4-4k', ['verity'], [], [], ''],
  ['encrypt', 'ext4-4k', ['encrypt'], [], [], ''],
  ['ea-inode', 'ext4-4k', ['ea_inode'], [], [], ''],
  ['inline-data-1k', 'ext4-1k', ['inline_data'], [], [], ''],
  ['quota', 'ext4-4k', ['quota'], [], [], ''],
  ['project', 'ext4-4k', ['project', 'quota'], [], [], ''],
  ['mmp', 'ext4-4k', ['mmp'], [], [], ''],
  ['sparse-super2', 'ext4-4k', ['sparse_super2'], [], [], ''],
  ['fast-commit', 'ext4-4k', ['fast_commit'], [], [], ''],
  ['64bit-1k', 'ext4-1k', ['64bit'], [], [], ''],
  ['bigalloc-64k', 'ext4-4k', ['bigalloc'], [], ['-C', '65536'], ''],
  ['huge-file-off', 'ext4-4k', ['^huge_file'], [], [], ''],
  ['ext2-with-dir-index-off', 'ext2-4k', ['^dir_index'], [], [], ''],
  ['ext3-with-extents', 'ext3-4k', ['extent'], [], [], ''],
  ['no-resize-inode', 'ext4-4k', ['^resize_inode'], [], [], ''],
  [
    'inline-plus-csum-seed-orphan',
    'ext4-4k',
    ['inline_data', 'metadata_csum_seed', 'orphan_file', 'large_dir'],
    [],
    [],
    '',
  ],
]) {
  add('ext-features', slug, EXT_PROFILES[prof].type, (file, rng) => ({
    mkfs: mkext(file, EXT_PROFILES[prof], rng, { sizeMiB: rng.pick([16, 32, 64]), O, E, extra }),
    mutation: `made by mke2fs with -O ${O.join(',')}${E.length ? ` -E ${E.join(',')}` : ''}${extra.length ? ` ${extra.join(' ')}` : ''}${note}`,
  }));
}
// every single feature bit not already set, ORed into a healthy filesystem (debugfs ssv)
const INCOMPAT_NAMES = {
  1: 'compression',
  2: 'filetype',
  4: 'needs_recovery',
  8: 'journal_dev',
  16: 'meta_bg',
  64: 'extent',
  128: '64bit',
  256: 'mmp',
  512: 'flex_bg',
  1024: 'ea_inode',
  4096: 'dirdata',
  8192: 'metadata_csum_seed',
  16384: 'large_dir',
  32768: 'inline_data',
  65536: 'encrypt',
  131072: 'casefold',
};
const RO_NAMES = {
  1: 'sparse_super',
  2: 'large_file',
  4: 'btree_dir',
  8: 'huge_file',
  16: 'gdt_csum',
  32: 'dir_nlink',
  64: 'extra_isize',
  128: 'has_snapshot',
  256: 'quota',
  512: 'bigalloc',
  1024: 'metadata_csum',
  2048: 'replica',
  4096: 'read-only',
  8192: 'project',
  16384: 'shared_blocks',
  32768: 'verity',
  65536: 'orphan_present',
};
const COMPAT_NAMES = {
  1: 'dir_prealloc',
  2: 'imagic_inodes',
  4: 'has_journal',
  8: 'ext_attr',
  16: 'resize_inode',
  32: 'dir_index',
  64: 'lazy_bg',
  128: 'exclude_inode',
  256: 'exclude_bitmap',
  512: 'sparse_super2',
  1024: 'fast_commit',
  2048: 'stable_inodes',
  4096: 'orphan_file',
};
for (const [kind, names, bits] of [
  ['incompat', INCOMPAT_NAMES, Array.from({ length: 32 }, (_, i) => 2 ** i)],
  ['ro_compat', RO_NAMES, Array.from({ length: 32 }, (_, i) => 2 ** i)],
  ['compat', COMPAT_NAMES, [0x1, 0x2, 0x40, 0x80, 0x100, 0x2000, 0x4000, 0x8000, 0x80000000]],
]) {
  for (const bit of bits) {
    if (kind === 'incompat' && [0x2, 0x40, 0x80, 0x200].includes(bit)) continue; // already set on the base
    if (kind === 'ro_compat' && [0x1, 0x2, 0x8, 0x20, 0x40, 0x400].includes(bit)) continue;
    const nm = names[bit] ?? 'unknown';
    add('ext-features', `${kind}-bit-0x${bit.toString(16)}-${nm}`, 'ext4', (file, rng) => {
      const pn = rng.pick(['ext4-4k', 'ext4-1k']);
      const mkfs = mkext(file, EXT_PROFILES[pn], rng, { sizeMiB: rng.pick([16, 32]) });
      const cur = Number.parseInt(dumpFeat(file, kind), 16);
      const nv = (cur | bit) >>> 0;
      const how = debugfsW(file, [`ssv feature_${kind} 0x${nv.toString(16)}`]);
      return {
        mkfs,
        mutation: `s_feature_${kind} 0x${cur.toString(16)} -> 0x${nv.toString(16)}: bit 0x${bit.toString(16)} (${nm}) set with nothing behind it [${how}]; profile ${pn}`,
      };
    });
  }
}

// ---------- xfs
const XFS_BASES = [
  ['v5', []],
  ['v5-b1k', ['-b', 'size=1024']],
  ['v4', ['-m', 'crc=0']],
];
function xfsCase(slug, desc, bases, fn) {
  add('xfs', slug, 'xfs', (file, rng) => {
    const [bn, args] = rng.pick(XFS_BASES.filter(([n]) => bases.includes(n)));
    const mkfs = mkxfs(file, rng, { sizeMiB: 320, args });
    const d = fn(file, rng, bn);
    return { mkfs, mutation: `${desc}: ${d}; base ${bn}` };
  });
}
const xw = (file, flag, kv) => {
  const { out, desc } = xfsdb(file, [
    'sb 0',
    ...kv.map(([k, v]) => `write ${flag} ${k} ${v}`.replace(/\s+/g, ' ')),
  ]);
  return `${desc}${/error|fail|invalid/i.test(out) ? ` (xfs_db said: ${out.trim().split('\n').slice(-1)[0]})` : ''}`;
};
xfsCase('magic-zero', 'sb 0 magicnum broken', ['v5', 'v4'], (f) => xw(f, '-d', [['magicnum', '0']]));
xfsCase('magic-off-by-one', 'sb 0 magicnum XFSC', ['v5'], (f) => xw(f, '-d', [['magicnum', '0x58465343']]));
xfsCase(
  'crc-broken-fname',
  'one byte of sb 0 (sb_fname[0] at 0x6c) changed with dd, CRC not recomputed',
  ['v5', 'v5-b1k'],
  (f) => {
    ddWrite(f, 0x6c, Buffer.from('X'));
    return 'dd 1 byte at offset 0x6c';
  },
);
xfsCase(
  'v4-fname-byte-control',
  'one byte of sb 0 (sb_fname[0]) changed with dd on a v4 (no CRC) filesystem',
  ['v4'],
  (f) => {
    ddWrite(f, 0x6c, Buffer.from('X'));
    return 'dd 1 byte at offset 0x6c';
  },
);
xfsCase('crc-field-corrupt', 'sb_crc field itself corrupted', ['v5'], (f) => {
  const b = readAt(f, 0xe0, 4);
  b[0] ^= 0xff;
  ddWrite(f, 0xe0, b);
  return 'dd over sb_crc (offset 0xe0)';
});
for (const [nm, field, val] of [
  ['incompat', 'features_incompat', '0x80000000'],
  ['incompat-low', 'features_incompat', '0x100000'],
  ['ro-compat', 'features_ro_compat', '0x80000000'],
  ['log-incompat', 'features_log_incompat', '0x80000000'],
  ['compat', 'features_compat', '0x80000000'],
]) {
  for (const [flag, fl] of [
    ['-d', 'crc recomputed'],
    ['-c', 'crc stale'],
  ]) {
    xfsCase(
      `unknown-${nm}-${flag === '-d' ? 'recrc' : 'stalecrc'}`,
      `unknown ${field} bit (${fl})`,
      ['v5'],
      (f) => {
        const cur = Number(xfsGet(f, field));
        return xw(f, flag, [[field, `0x${((cur | Number(val)) >>> 0).toString(16)}`]]);
      },
    );
  }
}
xfsCase('agcount-zero', 'sb_agcount 0', ['v5', 'v4'], (f) => xw(f, '-d', [['agcount', '0']]));
xfsCase('agcount-plus-one', 'sb_agcount +1 (inconsistent with dblocks)', ['v5', 'v4'], (f) =>
  xw(f, '-d', [['agcount', String(Number(xfsGet(f, 'agcount')) + 1)]]),
);
xfsCase('agcount-plus-one-stale', 'sb_agcount +1, CRC stale', ['v5'], (f) =>
  xw(f, '-c', [['agcount', String(Number(xfsGet(f, 'agcount')) + 1)]]),
);
xfsCase('agblocks-tiny', 'sb_agblocks tiny', ['v5', 'v4'], (f, r) =>
  xw(f, '-d', [['agblocks', String(r.pick([0, 16, 63]))]]),
);
xfsCase('agblocks-plus-one', 'sb_agblocks +1', ['v5'], (f) =>
  xw(f, '-d', [['agblocks', String(Number(xfsGet(f, 'agblocks')) + 1)]]),
);
xfsCase('blocksize-mismatch', 'sb_blocksize changed, blocklog not', ['v5', 'v4'], (f) =>
  xw(f, '-d', [['blocksize', '8192']]),
);
xfsCase('blocksize-64k-consistent', 'sb_blocksize 65536 with blocklog 16 (> page size)', ['v5'], (f) =>
  xw(f, '-d', [
    ['blocksize', '65536'],
    ['blocklog', '16'],
  ]),
);
xfsCase('sectsize-bad', 'sb_sectsize not a power of two', ['v5', 'v4'], (f) =>
  xw(f, '-d', [['sectsize', '1000']]),
);
xfsCase(
  'sectsize-4k-consistent',
  'sb_sectsize 4096 with sectlog 12 on a 512-sector filesystem',
  ['v5'],
  (f) =>
    xw(f, '-d', [
      ['sectsize', '4096'],
      ['sectlog', '12'],
    ]),
);
xfsCase('inodesize-128-v5', 'sb_inodesize 256 with inodelog 8 on v5 (written with 512)', ['v5'], (f) =>
  xw(f, '-d', [
    ['inodesize', '256'],
    ['inodelog', '8'],
  ]),
);
xfsCase('dblocks-beyond-device', 'sb_dblocks larger than the device', ['v5', 'v4'], (f) =>
  xw(f, '-d', [['dblocks', String(Number(xfsGet(f, 'dblocks')) * 2)]]),
);
xfsCase('dblocks-smaller', 'sb_dblocks smaller than agcount*agblocks', ['v5'], (f) =>
  xw(f, '-d', [['dblocks', String(Number(xfsGet(f, 'dblocks')) - 1000)]]),
);
xfsCase('rootino-wrong', 'sb_rootino points to the realtime bitmap inode', ['v5', 'v4'], (f) =>
  xw(f, '-d', [['rootino', String(xfsGet(f, 'rbmino'))]]),
);
xfsCase('versionnum-bad', 'sb_versionnum bad', ['v5', 'v4'], (f) => xw(f, '-d', [['versionnum', '0x0001']]));
xfsCase('realtime-missing', 'sb_rblocks/rextents set: realtime volume that is not there', ['v5'], (f) =>
  xw(f, '-d', [
    ['rblocks', '1024'],
    ['rextents', '1024'],
  ]),
);
xfsCase('external-log-missing', 'sb_logstart 0: external log that is not there', ['v5'], (f) =>
  xw(f, '-d', [['logstart', '0']]),
);
xfsCase(
  'uuid-changed',
  'sb_uuid changed with xfs_db write (no meta_uuid), metadata still stamped with the old UUID',
  ['v5'],
  (f, r) => xw(f, '-d', [['uuid', r.uuid()]]),
);
xfsCase(
  'uuid-xfs-admin-control',
  'control: uuid changed with xfs_db -c "uuid" (sets meta_uuid properly)',
  ['v5'],
  (f, r) => {
    const u = r.uuid();
    const { desc } = xfsdb(f, [`uuid ${u}`]);
    return desc;
  },
);
xfsCase('secondary-sb-broken', 'sb 1 (secondary, AG 1) magic zeroed; primary intact', ['v5', 'v4'], (f) => {
  const { desc } = xfsdb(f, ['sb 1', 'write -d magicnum 0']);
  return desc;
});
function xfsLogOff(f) {
  const logstart = xfsGet(f, 'logstart');
  const { out } = xfsdb(f, [`convert fsblock ${logstart} byte`]);
  const m = out.match(/\((\d+)\)/) || out.match(/^0x([0-9a-f]+)/i);
  return m ? (out.includes('(') ? Number(m[1]) : Number.parseInt(m[1], 16)) : null;
}
xfsCase('log-head-zeroed', 'first 256 KiB of the internal log zeroed', ['v5', 'v4'], (f) => {
  const o = xfsLogOff(f);
  ddZero(f, o, 256 * 1024);
  return `log at byte ${o} (xfs_db convert fsblock logstart byte), dd zeros`;
});
xfsCase(
  'log-garbage',
  'first 64 KiB of the internal log overwritten with random bytes',
  ['v5', 'v4'],
  (f, r) => {
    const o = xfsLogOff(f);
    ddWrite(f, o, r.bytes(64 * 1024));
    return `log at byte ${o}, random bytes`;
  },
);
xfsCase('log-whole-zeroed', 'whole internal log zeroed', ['v5'], (f) => {
  const o = xfsLogOff(f);
  const n = Number(xfsGet(f, 'logblocks')) * Number(xfsGet(f, 'blocksize'));
  ddZero(f, o, n);
  return `log at byte ${o}, ${n} bytes zeroed`;
});
xfsCase('logblocks-zero', 'sb_logblocks 0', ['v5'], (f) => xw(f, '-d', [['logblocks', '0']]));
xfsCase('agf0-magic', 'AGF 0 magic zeroed (free-space header)', ['v5', 'v4'], (f) => {
  const { desc } = xfsdb(f, ['agf 0', 'write -d magicnum 0']);
  return desc;
});
xfsCase('agi0-magic', 'AGI 0 magic zeroed (inode header)', ['v5', 'v4'], (f) => {
  const { desc } = xfsdb(f, ['agi 0', 'write -d magicnum 0']);
  return desc;
});
xfsCase('root-inode-magic', 'root inode core magic zeroed', ['v5', 'v4'], (f) => {
  const { desc } = xfsdb(f, [`inode ${xfsGet(f, 'rootino')}`, 'write -d core.magic 0']);
  return desc;
});

// ---------- btrfs
function btrfsCase(slug, desc, sizes, fn, args = []) {
  add('btrfs', slug, 'btrfs', (file, rng) => {
    const sizeMiB = rng.pick(sizes);
    const mkfs = mkbtrfs(file, rng, { sizeMiB, args: sizeMiB < 114 ? ['-M', ...args] : args });
    const d = fn(file, rng, sizeMiB);
    return {
      mkfs,
      mutation: `${desc}: ${d}; ${sizeMiB} MiB device: ${sizeMiB * MiB > 64 * MiB + 4096 ? 'mirror superblock at 64 MiB exists' : 'no mirror superblock (device < 64 MiB)'}, none at 256 GiB`,
    };
  });
}
const le64 = (b, o, v) => b.writeBigUInt64LE(BigInt(v), o);
btrfsCase(
  'primary-magic-mirror-intact',
  'primary superblock magic broken (64 KiB), mirror intact',
  [128],
  (f) => {
    ddWrite(f, BTRFS_SB[0] + 0x40, Buffer.from('_BHRfS_X'));
    return 'dd "_BHRfS_X" over magic at 64 KiB + 0x40';
  },
);
btrfsCase(
  'primary-magic-no-mirror',
  'primary superblock magic broken, device too small for a mirror',
  [32, 48],
  (f) => {
    ddWrite(f, BTRFS_SB[0] + 0x40, Buffer.alloc(8));
    return 'dd zeros over magic at 64 KiB + 0x40';
  },
);
btrfsCase('primary-and-mirror-magic', 'primary and mirror superblock magic broken', [128, 160], (f) => {
  ddWrite(f, BTRFS_SB[0] + 0x40, Buffer.alloc(8));
  ddWrite(f, BTRFS_SB[1] + 0x40, Buffer.alloc(8));
  return 'zeros over magic at 64 KiB and 64 MiB';
});
btrfsCase('primary-csum-mirror-intact', 'primary superblock csum broken, mirror intact', [128], (f) => {
  const b = readAt(f, BTRFS_SB[0], 1);
  b[0] ^= 0xff;
  ddWrite(f, BTRFS_SB[0], b);
  return 'first csum byte flipped at 64 KiB';
});
btrfsCase('primary-csum-no-mirror', 'primary superblock csum broken, no mirror', [32], (f) => {
  const b = readAt(f, BTRFS_SB[0], 1);
  b[0] ^= 0xff;
  ddWrite(f, BTRFS_SB[0], b);
  return 'first csum byte flipped at 64 KiB';
});
btrfsCase('label-byte-stale-csum', 'one label byte changed without recomputing the csum', [128, 32], (f) => {
  ddWrite(f, BTRFS_SB[0] + 0x12b, Buffer.from('Z'));
  return 'dd 1 byte at 64 KiB + 0x12b (label)';
});
btrfsCase('label-recomputed-control', 'control: label changed and csum recomputed', [128, 32], (f) => {
  btrfsSbEdit(f, BTRFS_SB[0], (b) => b.write('oracle', 0x12b));
  return 'label written at 0x12b, crc32c recomputed';
});
btrfsCase('unknown-incompat', 'unknown incompat flag (csum recomputed)', [128, 32], (f, r) => {
  const bit = r.pick([20, 30, 40]);
  btrfsSbEdit(f, BTRFS_SB[0], (b) => le64(b, 0xbc, b.readBigUInt64LE(0xbc) | (1n << BigInt(bit))));
  return `incompat_flags |= 1<<${bit} at 0xbc`;
});
btrfsCase('unknown-compat-ro', 'unknown compat_ro flag (csum recomputed)', [128, 32], (f) => {
  btrfsSbEdit(f, BTRFS_SB[0], (b) => le64(b, 0xb4, b.readBigUInt64LE(0xb4) | (1n << 20n)));
  return 'compat_ro_flags |= 1<<20 at 0xb4';
});
btrfsCase('unknown-compat', 'unknown compat flag (csum recomputed)', [128], (f) => {
  btrfsSbEdit(f, BTRFS_SB[0], (b) => le64(b, 0xac, b.readBigUInt64LE(0xac) | (1n << 20n)));
  return 'compat_flags |= 1<<20 at 0xac';
});
btrfsCase('sectorsize-bad', 'bad sectorsize (csum recomputed)', [128, 32], (f, r) => {
  const v = r.pick([1000, 2048, 8192, 65536]);
  btrfsSbEdit(f, BTRFS_SB[0], (b) => b.writeUInt32LE(v, 0x90));
  return `sectorsize 4096 -> ${v} at 0x90`;
});
btrfsCase('nodesize-bad', 'bad nodesize (csum recomputed)', [128, 32], (f, r) => {
  const v = r.pick([3000, 4096 * 3, 131072 * 2]);
  btrfsSbEdit(f, BTRFS_SB[0], (b) => b.writeUInt32LE(v, 0x94));
  return `nodesize -> ${v} at 0x94`;
});
btrfsCase('nodesize-plausible-wrong', 'nodesize valid but not the one used (csum recomputed)', [128], (f) => {
  btrfsSbEdit(f, BTRFS_SB[0], (b) => b.writeUInt32LE(b.readUInt32LE(0x94) === 16384 ? 32768 : 16384, 0x94));
  return 'nodesize doubled/halved at 0x94';
});
btrfsCase('num-devices-2', 'num_devices 2: a device that is not there (csum recomputed)', [128, 32], (f) => {
  btrfsSbEdit(f, BTRFS_SB[0], (b) => le64(b, 0x88, 2));
  return 'num_devices 1 -> 2 at 0x88';
});
btrfsCase('total-bytes-beyond', 'total_bytes larger than the device (csum recomputed)', [128, 32], (f) => {
  btrfsSbEdit(f, BTRFS_SB[0], (b) => le64(b, 0x70, b.readBigUInt64LE(0x70) * 4n));
  return 'total_bytes x4 at 0x70';
});
btrfsCase('csum-type-unknown', 'csum_type unknown (csum computed as crc32c)', [128], (f) => {
  btrfsSbEdit(f, BTRFS_SB[0], (b) => b.writeUInt16LE(9, 0xc4));
  return 'csum_type 0 -> 9 at 0xc4';
});
btrfsCase('bytenr-wrong', 'superblock bytenr field wrong (csum recomputed)', [128, 32], (f) => {
  btrfsSbEdit(f, BTRFS_SB[0], (b) => le64(b, 0x30, 0));
  return 'bytenr 65536 -> 0 at 0x30';
});
btrfsCase(
  'generation-older',
  'generation lowered (tree blocks newer than the superblock; csum recomputed)',
  [128, 32],
  (f) => {
    btrfsSbEdit(f, BTRFS_SB[0], (b) => le64(b, 0x48, 1));
    return 'generation -> 1 at 0x48';
  },
);
btrfsCase('root-bytenr-zero', 'root tree bytenr 0 (csum recomputed)', [128], (f) => {
  btrfsSbEdit(f, BTRFS_SB[0], (b) => le64(b, 0x50, 0));
  return 'root -> 0 at 0x50';
});
btrfsCase(
  'fsid-changed',
  'fsid changed in the superblock only (csum recomputed; tree blocks keep the old fsid)',
  [128, 32],
  (f, r) => {
    const u = Buffer.from(r.uuid().replace(/-/g, ''), 'hex');
    btrfsSbEdit(f, BTRFS_SB[0], (b) => u.copy(b, 0x20));
    return 'fsid at 0x20 replaced';
  },
);

// ---------- partition tables and truncated disks
const ptAdd = (slug, fsType, table, part, fn) =>
  add('partition', slug, fsType, fn, { partitioned: !!table, table, part });
const gptDiskFs = (file, rng, fsType, diskMiB = 40, partMiB = 32) =>
  `${gptDisk(file, diskMiB, [{ startMiB: 1, sizeMiB: partMiB }], rng)}; ${fsIntoDisk(file, 1, partMiB, fsType, rng)}`;
const msdosDiskFs = (file, rng, fsType, diskMiB = 40, partMiB = 32, line = null) =>
  `${msdosDisk(file, diskMiB, [line ?? `start=2048, size=${partMiB * 2048}, type=83`], rng)}; ${fsIntoDisk(file, 1, partMiB, fsType, rng)}`;
for (const fsType of ['ext4', 'xfs']) {
  const dm = fsType === 'xfs' ? 340 : 40;
  const pm = fsType === 'xfs' ? 320 : 32;
  ptAdd(`gpt-primary-header-zeroed-${fsType}`, fsType, 'gpt', 1, (file, rng) => {
    const mkfs = gptDiskFs(file, rng, fsType, dm, pm);
    ddZero(file, 512, 512);
    return {
      mkfs,
      mutation:
        'primary GPT header (LBA 1) zeroed with dd; entries at LBA 2 and the backup header+entries at the end of the disk intact',
    };
  });
  ptAdd(`gpt-truncated-backup-lost-${fsType}`, fsType, 'gpt', 1, (file, rng) => {
    const mkfs = gptDiskFs(file, rng, fsType, dm, pm);
    run('truncate', ['-s', String((pm + 2) * MiB), file], { fake: false });
    return {
      mkfs,
      mutation: `disk truncated to ${pm + 2} MiB: partition 1 still fits, backup GPT gone, primary header's last_usable_lba/alternate_lba now beyond the end`,
    };
  });
  ptAdd(`msdos-p1-past-end-${fsType}`, fsType, 'msdos', 1, (file, rng) => {
    const mkfs = msdosDiskFs(file, rng, fsType, dm, pm);
    const to = 1 + Math.floor(pm * 0.75);
    run('truncate', ['-s', String(to * MiB), file], { fake: false });
    return {
      mkfs,
      mutation: `disk truncated from ${dm} to ${to} MiB: p1 (${pm} MiB from 1 MiB) now runs ${pm + 1 - to} MiB past the end of the disk`,
    };
  });
}
ptAdd('gpt-primary-header-and-entries-zeroed', 'ext4', 'gpt', 1, (file, rng) => {
  const mkfs = gptDiskFs(file, rng, 'ext4');
  ddZero(file, 512, 33 * 512);
  return { mkfs, mutation: 'primary GPT header and entry array (LBA 1-33) zeroed; backup intact' };
});
ptAdd('gpt-entries-crc-broken', 'ext4', 'gpt', 1, (file, rng) => {
  const mkfs = gptDiskFs(file, rng, 'ext4');
  const b = readAt(file, 1024 + 56, 2);
  b[0] ^= 0x20;
  ddWrite(file, 1024 + 56, b);
  return {
    mkfs,
    mutation:
      "one byte of entry 1's name in the primary entry array flipped: PartitionEntryArrayCRC32 mismatch (backup intact)",
  };
});
ptAdd('gpt-header-crc-broken', 'ext4', 'gpt', 1, (file, rng) => {
  const mkfs = gptDiskFs(file, rng, 'ext4');
  const b = readAt(file, 512 + 16, 1);
  b[0] ^= 0xff;
  ddWrite(file, 512 + 16, b);
  return { mkfs, mutation: 'primary GPT HeaderCRC32 (LBA 1 + 16) corrupted; backup intact' };
});
ptAdd('gpt-backup-header-zeroed', 'ext4', 'gpt', 1, (file, rng) => {
  const mkfs = gptDiskFs(file, rng, 'ext4');
  const sz = fs.statSync(file).size;
  ddZero(file, sz - 512, 512);
  return { mkfs, mutation: 'backup GPT header (last LBA) zeroed; primary intact' };
});
ptAdd('gpt-disk-grown', 'ext4', 'gpt', 1, (file, rng) => {
  const mkfs = gptDiskFs(file, rng, 'ext4');
  run('truncate', ['-s', String(64 * MiB), file], { fake: false });
  return {
    mkfs,
    mutation:
      'disk grown from 40 to 64 MiB after partitioning (backup GPT no longer at the end, as after a cloud volume resize)',
  };
});
ptAdd('gpt-pmbr-zeroed', 'ext4', 'gpt', 1, (file, rng) => {
  const mkfs = gptDiskFs(file, rng, 'ext4');
  ddZero(file, 0, 512);
  return { mkfs, mutation: 'protective MBR (LBA 0) zeroed; GPT headers intact' };
});
ptAdd('gpt-partition-past-end', 'ext4', 'gpt', 1, (file, rng) => {
  const mkfs = gptDiskFs(file, rng, 'ext4');
  const h = readAt(file, 1024, 128);
  h.writeBigUInt64LE(h.readBigUInt64LE(40) + 40960n, 40);
  ddWrite(file, 1024, h);
  return {
    mkfs,
    mutation: 'entry 1 LastLBA pushed 20 MiB past the end of the disk with dd (entry CRC now stale too)',
  };
});
ptAdd('gpt-partition-past-end-crcs-fixed', 'ext4', 'gpt', 1, (file, rng) => {
  const mkfs = gptDiskFs(file, rng, 'ext4');
  const hdr = readAt(file, 512, 512);
  const ents = readAt(file, 1024, 128 * 128);
  ents.writeBigUInt64LE(ents.readBigUInt64LE(40) + 40960n, 40);
  hdr.writeUInt32LE(crc32(ents), 88);
  hdr.writeUInt32LE(0, 16);
  hdr.writeUInt32LE(crc32(hdr.subarray(0, hdr.readUInt32LE(12))), 16);
  ddWrite(file, 1024, ents);
  ddWrite(file, 512, hdr);
  return {
    mkfs,
    mutation:
      'primary GPT entry 1 LastLBA pushed 20 MiB past the end of the disk, entry-array and header CRC32 recomputed (a consistent but impossible table); backup GPT untouched',
  };
});
ptAdd('msdos-p1-start-past-end', 'ext4', 'msdos', 1, (file, rng) => {
  const mkfs = msdosDiskFs(file, rng, 'ext4');
  const e = readAt(file, 446, 16);
  e.writeUInt32LE(50 * 2048, 8);
  ddWrite(file, 446, e);
  return {
    mkfs,
    mutation:
      'p1 start LBA patched with dd to 50 MiB on a 40 MiB disk (ext4 still sits at 1 MiB, unreferenced)',
  };
});
ptAdd('msdos-no-signature', 'ext4', 'msdos', 1, (file, rng) => {
  const mkfs = msdosDiskFs(file, rng, 'ext4');
  ddZero(file, 510, 2);
  return { mkfs, mutation: 'MBR 0x55AA signature zeroed; partition entries intact' };
});
ptAdd('msdos-type-zero', 'ext4', 'msdos', 1, (file, rng) => {
  const mkfs = msdosDiskFs(file, rng, 'ext4');
  ddZero(file, 446 + 4, 1);
  return { mkfs, mutation: 'p1 partition type byte set to 0x00 (empty) with start/size intact' };
});
ptAdd('msdos-type-ntfs', 'ext4', 'msdos', 1, (file, rng) => ({
  mkfs: msdosDiskFs(file, rng, 'ext4', 40, 32, 'start=2048, size=65536, type=7'),
  mutation: 'harmless: p1 typed 0x07 (NTFS/exFAT) but holds ext4',
}));
ptAdd('msdos-overlapping', 'ext4', 'msdos', 1, (file, rng) => {
  const mkfs = `${msdosDisk(file, 48, ['start=2048, size=65536, type=83', 'start=67584, size=20000, type=83'], rng)}; ${fsIntoDisk(file, 1, 32, 'ext4', rng)}`;
  const e = readAt(file, 446 + 16, 16);
  e.writeUInt32LE(34816, 8);
  ddWrite(file, 446 + 16, e);
  return { mkfs, mutation: 'p2 start patched with dd so p2 overlaps the second half of p1 (ext4 in p1)' };
});
ptAdd('msdos-ebr-loop', 'ext3', 'msdos', 5, (file, rng) => {
  const mkfs = `${msdosDisk(file, 48, ['start=2048, size=16384, type=83', 'start=20480, size=69632, type=5', 'start=22528, size=65536, type=83'], rng)}; ${fsIntoDisk(file, 11, 32, 'ext3', rng, { profile: 'ext3-1k' })}`;
  const ebr = readAt(file, 20480 * 512, 512);
  ebr.writeUInt8(5, 446 + 16 + 4);
  ebr.writeUInt32LE(0, 446 + 16 + 8);
  ebr.writeUInt32LE(69632, 446 + 16 + 12);
  ddWrite(file, 20480 * 512, ebr);
  return {
    mkfs,
    mutation:
      "extended partition chain loops: the EBR's next-link points back at itself (logical p5 holds ext3)",
  };
});
ptAdd('whole-disk-ext4-with-stray-mbr', 'ext4', null, 0, (file, rng) => {
  const mkfs = mkext(file, EXT_PROFILES['ext4-1k'], rng, { sizeMiB: 32 });
  const mbr = Buffer.alloc(512);
  mbr.writeUInt8(0x83, 446 + 4);
  mbr.writeUInt32LE(2048, 446 + 8);
  mbr.writeUInt32LE(20000, 446 + 12);
  mbr.writeUInt16LE(0xaa55, 510);
  ddWrite(file, 0, mbr);
  return {
    mkfs,
    mutation:
      'false-alarm control: whole-disk ext4 (1k blocks, sector 0 unused by ext4) with a stray msdos table in sector 0 pointing at garbage',
  };
});
for (const [fsType, pct] of [
  ['ext4', 90],
  ['ext4', 50],
  ['xfs', 95],
  ['xfs', 60],
  ['btrfs', 80],
  ['ext2', 75],
]) {
  ptAdd(`truncated-whole-${fsType}-${pct}`, fsType, null, 0, (file, rng) => {
    let mkfs;
    let size;
    if (fsType.startsWith('ext')) {
      size = 32;
      mkfs = mkext(
        file,
        EXT_PROFILES[fsType === 'ext2' ? 'ext2-1k' : rng.pick(['ext4-1k', 'ext4-4k'])],
        rng,
        { sizeMiB: size },
      );
    } else if (fsType === 'xfs') {
      size = 320;
      mkfs = mkxfs(file, rng, { sizeMiB: size });
    } else {
      size = 128;
      mkfs = mkbtrfs(file, rng, { sizeMiB: size });
    }
    const to = Math.floor((size * MiB * pct) / 100 / 512) * 512;
    run('truncate', ['-s', String(to), file], { fake: false });
    return {
      mkfs,
      mutation: `whole-disk image cut short with truncate to ${pct}% (${to} bytes of ${size * MiB})`,
    };
  });
}
ptAdd('truncated-to-1m-ext4', 'ext4', null, 0, (file, rng) => {
  const mkfs = mkext(file, EXT_PROFILES['ext4-4k'], rng, { sizeMiB: 32 });
  run('truncate', ['-s', String(MiB), file], { fake: false });
  return { mkfs, mutation: 'whole-disk ext4 (32 MiB) truncated to its first 1 MiB' };
});

// ---------- FAT floppy and other FAT controls
const fatAdd = (slug, fn, o = {}) => add('fat', slug, 'vfat', fn, o);
for (const [slug, kib, args] of [
  ['floppy-1440k-fat12', 1440, []],
  ['floppy-2880k-fat12', 2880, []],
  ['floppy-720k', 720, []],
  ['superfloppy-32m-fat16', 32768, ['-F', '16']],
  ['superfloppy-64m-fat32', 65536, ['-F', '32']],
]) {
  fatAdd(slug, (file, rng) => {
    fs.rmSync(file, { force: true });
    const a = ['-C', '-i', rng.bytes(4).toString('hex'), '-n', 'ORACLE', ...args, file, String(kib)];
    run('mkfs.vfat', a);
    return {
      mkfs: `mkfs.vfat ${a.join(' ').replace(file, 'IMG')}`,
      mutation: `none: valid vfat on the whole disk (no partition table; sector 0 is a FAT boot sector ending in 0x55AA)`,
    };
  });
}
fatAdd('floppy-no-boot-signature', (file, rng) => {
  fs.rmSync(file, { force: true });
  const a = ['-C', '-i', rng.bytes(4).toString('hex'), file, '1440'];
  run('mkfs.vfat', a);
  ddZero(file, 510, 2);
  return {
    mkfs: `mkfs.vfat ${a.join(' ').replace(file, 'IMG')}`,
    mutation: 'vfat floppy with the 0x55AA boot signature zeroed',
  };
});
fatAdd(
  'msdos-p1-fat16',
  (file, rng) => ({
    mkfs: `${msdosDisk(file, 40, ['start=2048, size=65536, type=6'], rng)}; ${fsIntoDisk(file, 1, 32, 'vfat', rng)}`,
    mutation: 'none: FAT16 in msdos p1',
  }),
  { partitioned: true, table: 'msdos', part: 1 },
);

// ================================================================= build
const NOT_REPRODUCIBLE = /journal-dev-itself|^mmp$/;
const CLASSES = [...new Set(plan.map((p) => p.cls))];
if (ONLY && !CLASSES.includes(ONLY)) {
  console.error(`unknown class ${ONLY}; classes: ${CLASSES.join(', ')}`);
  process.exit(2);
}
const counters = {};
const entries = plan.map((p) => {
  counters[p.cls] = (counters[p.cls] ?? 0) + 1;
  const name = `${p.cls}-${String(counters[p.cls]).padStart(3, '0')}-${p.slug}`;
  return { ...p, name, seed: hash32(`${SEED}:${p.cls}:${p.slug}`) };
});
if (LIST_ONLY) {
  for (const c of CLASSES) console.log(`${c}: ${entries.filter((e) => e.cls === c).length}`);
  console.log(`total: ${entries.length}`);
  process.exit(0);
}
fs.mkdirSync(OUT, { recursive: true });
const images = [];
const failures = [];
const t0 = Date.now();
for (const e of entries) {
  if (ONLY && e.cls !== ONLY) continue;
  const file = path.join(OUT, `${e.name}.img`);
  const rng = makeRng(e.seed);
  log.length = 0;
  try {
    const r = e.build(file, rng);
    const buf = fs.readFileSync(file);
    const sha256 = crypto.createHash('sha256').update(buf).digest('hex');
    images.push({
      name: e.name,
      file: `${e.name}.img`,
      class: e.cls,
      fs: r.fsOverride ?? e.fs,
      partitioned: e.partitioned,
      ...(e.partitioned ? { table: e.table, mountPartition: e.part } : {}),
      mutation: r.mutation,
      mkfs: r.mkfs,
      seed: e.seed,
      sizeBytes: buf.length,
      ...(r.extGroups !== undefined ? { extGroups: r.extGroups } : {}),
      sha256,
      reproducible: e.fs !== 'btrfs' && !NOT_REPRODUCIBLE.test(e.slug),
      commands: [...log],
    });
    process.stdout.write('.');
  } catch (err) {
    failures.push({ name: e.name, error: String(err.message).slice(0, 500) });
    fs.rmSync(file, { force: true });
    process.stdout.write('F');
  }
}
process.stdout.write('\n');
const manifest = {
  generator: 'test/oracle/generate.mjs',
  seed: SEED,
  only: ONLY,
  fakeTime: FAKE_EPOCH,
  tools: {
    e2fsprogs: toolVersion('mke2fs', ['-V']).replace(/\n.*/s, ''),
    xfsprogs: toolVersion('mkfs.xfs', ['-V']),
    btrfsprogs: toolVersion('mkfs.btrfs', ['--version']),
    dosfstools: toolVersion('mkfs.vfat', ['--help']),
    gdisk: toolVersion('sgdisk', ['--version']),
    sfdisk: toolVersion('sfdisk', ['--version']),
  },
  note: 'not byte-identical across runs (verified by generating twice): btrfs images (mkfs.btrfs takes chunk-tree/device UUIDs from getrandom), the mke2fs -O journal_dev image and the mmp image (random MMP sequence); everything else is, for the same tool versions',
  count: images.length,
  failures,
  seconds: Math.round((Date.now() - t0) / 1000),
  images,
};
fs.writeFileSync(path.join(OUT, 'manifest.json'), `${JSON.stringify(manifest, null, 1)}\n`);
console.log(
  `${images.length} images, ${failures.length} failures, ${manifest.seconds}s -> ${OUT}/manifest.json`,
);
for (const f of failures) console.log(`FAIL ${f.name}: ${f.error}`);
