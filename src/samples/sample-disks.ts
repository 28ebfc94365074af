/**
 * Builds small sparse disk images, healthy and broken the ways the paper (and
 * real operators) break them, with the standard tools (parted, mkfs.*). Used by
 * `vmbootfail inspect --samples` and by the tests.
 */
import { execFile } from 'node:child_process';
import { mkdir, open, truncate } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { ErrorCode, VmbootfailError } from '../errors.js';

const run = promisify(execFile);

const MiB = 1024 * 1024;
const PARTITION_START = MiB; // sector 2048, what parted picks for "1MiB"

export interface SampleDisk {
  name: string;
  path: string;
  /** What is wrong, in words, and what inspection must say. */
  description: string;
  expectFindings: string[];
}

type Builder = (file: string) => Promise<void>;

async function tool(cmd: string, args: string[]): Promise<void> {
  try {
    await run(cmd, args, { env: { ...process.env, LC_ALL: 'C' } });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    const why = e.code === 'ENOENT' ? `${cmd} is not installed` : (e.stderr ?? e.message).trim();
    throw new VmbootfailError(`building a sample disk: ${cmd} failed: ${why}`, {
      code: ErrorCode.LIB_UNAVAILABLE,
      lib: 'vmbootfail',
      op: cmd,
      cause: error,
    });
  }
}

/** Overwrites `length` bytes at `offset` with zeros, like `dd if=/dev/zero bs=4k count=1`. */
export async function zeroBytes(file: string, offset: number, length: number): Promise<void> {
  const fd = await open(file, 'r+');
  try {
    await fd.write(Buffer.alloc(length), 0, length, offset);
  } finally {
    await fd.close();
  }
}

async function flipByte(file: string, offset: number): Promise<void> {
  const fd = await open(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fd.read(b, 0, 1, offset);
    b[0] = (b[0] ?? 0) ^ 0xff;
    await fd.write(b, 0, 1, offset);
  } finally {
    await fd.close();
  }
}

/** A block number debugfs prints for REQUEST ("bmap <8> 0": the journal's first block). */
async function debugfsBlock(file: string, request: string): Promise<number> {
  const { stdout } = await run('debugfs', ['-R', request, file], { env: { ...process.env, LC_ALL: 'C' } });
  const block = Number.parseInt(stdout.trim(), 10);
  if (!Number.isInteger(block) || block <= 0) throw new Error(`debugfs ${request} on ${file}: ${stdout}`);
  return block;
}

async function blank(file: string, sizeMiB: number): Promise<void> {
  await open(file, 'w').then((fd) => fd.close());
  await truncate(file, sizeMiB * MiB);
}

async function partitioned(
  file: string,
  label: 'msdos' | 'gpt',
  fs: 'ext4' | 'xfs' | 'btrfs',
  sizeMiB = 64,
): Promise<void> {
  await blank(file, sizeMiB);
  await tool('parted', [
    '-s',
    file,
    'mklabel',
    label,
    'mkpart',
    label === 'gpt' ? 'root' : 'primary',
    fs,
    '1MiB',
    '100%',
  ]);
  const fsBytes = sizeMiB * MiB - PARTITION_START - (label === 'gpt' ? MiB : 0);
  if (fs === 'ext4') {
    await tool('mkfs.ext4', ['-q', '-F', '-E', `offset=${PARTITION_START}`, file, `${fsBytes / 1024}k`]);
  } else {
    // mkfs.xfs and mkfs.btrfs have no offset option: build beside, then copy in.
    const part = `${file}.part`;
    await blank(part, fsBytes / MiB);
    await tool(
      fs === 'xfs' ? 'mkfs.xfs' : 'mkfs.btrfs',
      fs === 'xfs' ? ['-q', '-f', part] : ['-q', '-f', part],
    );
    await tool('dd', [
      `if=${part}`,
      `of=${file}`,
      'bs=1M',
      `seek=${PARTITION_START / MiB}`,
      'conv=notrunc,sparse',
      'status=none',
    ]);
    await tool('rm', ['-f', part]);
  }
}

async function wholeDisk(file: string, options: string[] = []): Promise<void> {
  await blank(file, 64);
  await tool('mkfs.ext4', ['-q', '-F', ...options, file]);
}

const GPT_HEADER = 512; // LBA 1

export const SAMPLE_DISKS: { name: string; description: string; expectFindings: string[]; build: Builder }[] =
  [
    {
      name: 'msdos-ext4',
      description: 'healthy: msdos label, ext4 partition',
      expectFindings: [],
      build: (f) => partitioned(f, 'msdos', 'ext4'),
    },
    {
      name: 'gpt-ext4',
      description: 'healthy: GPT label, ext4 partition',
      expectFindings: [],
      build: (f) => partitioned(f, 'gpt', 'ext4'),
    },
    {
      name: 'whole-disk-ext4',
      description: 'healthy: ext4 on the whole disk',
      expectFindings: [],
      build: wholeDisk,
    },
    {
      name: 'zeroed-partition-table',
      description: 'DIDF: first 4 KiB of the disk zeroed (dd if=/dev/zero of=disk bs=4k count=1)',
      expectFindings: ['NO_PARTITION_TABLE'],
      build: async (f) => {
        await partitioned(f, 'msdos', 'ext4');
        await zeroBytes(f, 0, 4096);
      },
    },
    {
      name: 'zeroed-superblock',
      description: 'DIDF: first 4 KiB of partition 1 zeroed (dd if=/dev/zero of=/dev/xvda1 bs=4k count=1)',
      expectFindings: ['SUPERBLOCK_DAMAGED'],
      build: async (f) => {
        await partitioned(f, 'msdos', 'ext4');
        await zeroBytes(f, PARTITION_START, 4096);
      },
    },
    {
      name: 'superblock-checksum',
      description: 'one byte of the ext4 superblock changed without fixing its checksum',
      expectFindings: ['SUPERBLOCK_CHECKSUM'],
      build: async (f) => {
        await partitioned(f, 'msdos', 'ext4');
        await flipByte(f, PARTITION_START + 1024 + 0x78); // s_volume_name[0]
      },
    },
    {
      name: 'gpt-primary-zeroed',
      description: 'GPT primary header (LBA 1) zeroed; backup header intact',
      expectFindings: ['GPT_PRIMARY_DAMAGED'],
      build: async (f) => {
        await partitioned(f, 'gpt', 'ext4');
        await zeroBytes(f, GPT_HEADER, 512);
      },
    },
    {
      name: 'gpt-primary-bad-crc',
      description: 'GPT primary header with a wrong CRC; backup header intact',
      expectFindings: ['GPT_PRIMARY_DAMAGED'],
      build: async (f) => {
        await partitioned(f, 'gpt', 'ext4');
        await flipByte(f, GPT_HEADER + 0x38); // a byte of the disk GUID, covered by the header CRC
      },
    },
    {
      name: 'whole-disk-zeroed-4k',
      description: 'DIDF: whole-disk ext4 with its first 4 KiB zeroed',
      expectFindings: ['SUPERBLOCK_DAMAGED'],
      build: async (f) => {
        await wholeDisk(f);
        await zeroBytes(f, 0, 4096);
      },
    },
    {
      name: 'truncated-image',
      description: 'DIDF: a 64 MiB msdos + ext4 image whose copy was cut short at 32 MiB (truncate -s 32M)',
      expectFindings: ['IMAGE_TRUNCATED'],
      build: async (f) => {
        await partitioned(f, 'msdos', 'ext4');
        await truncate(f, 32 * MiB);
      },
    },
    {
      name: 'truncated-gpt',
      description:
        'DIDF: a 64 MiB GPT + ext4 image cut short at 32 MiB: the backup header and the partition end are gone',
      expectFindings: ['IMAGE_TRUNCATED'],
      build: async (f) => {
        await partitioned(f, 'gpt', 'ext4');
        await truncate(f, 32 * MiB);
      },
    },
    {
      name: 'group-descriptor-outside',
      description:
        'DIDF: whole-disk ext4 whose group 1 inode table points outside its group (debugfs set_bg); the kernel refuses every mount',
      expectFindings: ['GROUP_DESCRIPTORS_CORRUPT'],
      build: async (f) => {
        await wholeDisk(f, ['-O', '^flex_bg']);
        await tool('debugfs', ['-w', '-R', 'set_bg 1 inode_table 5', f]);
      },
    },
    {
      name: 'journal-superblock-zeroed',
      description:
        'DIDF: whole-disk ext4 whose journal superblock is zeroed; ext4 fails with "error loading journal"',
      expectFindings: ['JOURNAL_DAMAGED'],
      build: async (f) => {
        await wholeDisk(f);
        await zeroBytes(f, (await debugfsBlock(f, 'bmap <8> 0')) * 1024, 1024);
      },
    },
    {
      name: 'root-directory-checksum',
      description:
        "DIDF: whole-disk ext4 whose root directory's first block fails its checksum (one byte of its tail flipped); the kernel mounts it, but no path resolves",
      expectFindings: ['ROOT_DIRECTORY_CORRUPT'],
      build: async (f) => {
        await wholeDisk(f);
        const block = await debugfsBlock(f, 'bmap <2> 0');
        await flipByte(f, block * 1024 + 1023);
      },
    },
    {
      name: 'mmp-block-checksum',
      description:
        'DIDF: whole-disk ext4 with multi-mount protection whose MMP block fails its checksum; the kernel refuses a read-write mount',
      expectFindings: ['SUPERBLOCK_INVALID'],
      build: async (f) => {
        await wholeDisk(f, ['-O', 'mmp']);
        const fd = await open(f, 'r');
        const sb = Buffer.alloc(1024);
        await fd.read(sb, 0, 1024, 1024).finally(() => fd.close());
        // s_mmp_block at 0x168; struct mmp_struct's mmp_checksum at byte 1020 of the block.
        await flipByte(f, Number(sb.readBigUInt64LE(0x168)) * 1024 + 1020);
      },
    },
    {
      name: 'quota-inode-number',
      description:
        'DIDF: whole-disk ext4 with the quota feature whose superblock names inode 12 as the user quota file; the kernel refuses a read-write mount',
      expectFindings: ['SUPERBLOCK_INVALID'],
      build: async (f) => {
        await wholeDisk(f, ['-O', 'quota']);
        await tool('debugfs', ['-w', '-R', 'ssv usr_quota_inum 12', f]);
      },
    },
    {
      name: 'feature-no-linux-knows',
      description:
        'DIDF: whole-disk ext4 with an incompatible feature bit no Linux knows (dirdata, set with debugfs feature); it will not mount',
      expectFindings: ['FEATURE_UNSUPPORTED'],
      build: async (f) => {
        await wholeDisk(f);
        await tool('debugfs', ['-w', '-R', 'feature dirdata', f]);
      },
    },
    {
      name: 'fat-floppy',
      description: 'healthy: a FAT floppy image (no partition table; its boot sector is not an MBR)',
      expectFindings: [],
      build: async (f) => {
        await blank(f, 2);
        await tool('mkfs.vfat', ['-I', f]);
      },
    },
    {
      name: 'msdos-xfs',
      description: 'healthy: msdos label, XFS partition',
      expectFindings: [],
      build: (f) => partitioned(f, 'msdos', 'xfs', 320),
    },
    {
      name: 'msdos-btrfs',
      description: 'healthy: msdos label, btrfs partition',
      expectFindings: [],
      build: (f) => partitioned(f, 'msdos', 'btrfs', 160),
    },
  ];

/** Builds the named samples (default: all) into `dir`. */
export async function buildSampleDisks(dir: string, names?: string[]): Promise<SampleDisk[]> {
  await mkdir(dir, { recursive: true });
  const chosen = names ? SAMPLE_DISKS.filter((s) => names.includes(s.name)) : SAMPLE_DISKS;
  const built: SampleDisk[] = [];
  for (const sample of chosen) {
    const file = path.join(dir, `${sample.name}.img`);
    await sample.build(file);
    built.push({
      name: sample.name,
      path: file,
      description: sample.description,
      expectFindings: sample.expectFindings,
    });
  }
  return built;
}
