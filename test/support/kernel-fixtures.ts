/**
 * Synthetic kernels for tests: a minimal ELF carrying Xen notes wrapped in a
 * bzImage, and kernel configs, laid out as /boot does (vmlinuz-<v>, config-<v>).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export const VERSION = '6.1.0-56-amd64';

const XEN_NOTE = { ENTRY: 1, HYPERCALL_PAGE: 2, XEN_VERSION: 5, GUEST_OS: 6, LOADER: 8, PHYS32_ENTRY: 18 };

function elfNote(name: string, type: number, desc: Buffer): Buffer {
  const nameBytes = Buffer.from(`${name}\0`, 'latin1');
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  const header = Buffer.alloc(12);
  header.writeUInt32LE(nameBytes.length, 0);
  header.writeUInt32LE(desc.length, 4);
  header.writeUInt32LE(type, 8);
  return Buffer.concat([header, pad(nameBytes), pad(desc)]);
}

function u64(value: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(value);
  return b;
}

/** A minimal ELF64 with one PT_NOTE segment, laid out like vmlinux's Xen notes (xen-head.S). */
export function xenElf(kind: 'pv' | 'pvh-only' | 'no-xen-notes'): Buffer {
  const notes: Buffer[] = [elfNote('GNU', 3, randomBytes(20))];
  if (kind !== 'no-xen-notes') {
    notes.push(
      elfNote('Xen', XEN_NOTE.GUEST_OS, Buffer.from('linux\0')),
      elfNote('Xen', XEN_NOTE.XEN_VERSION, Buffer.from('xen-3.0\0')),
      elfNote('Xen', XEN_NOTE.HYPERCALL_PAGE, u64(0xffffffff81001000n)),
      elfNote('Xen', XEN_NOTE.LOADER, Buffer.from('generic\0')),
      elfNote('Xen', XEN_NOTE.PHYS32_ENTRY, u64(0x1000850n)),
    );
  }
  if (kind === 'pv') notes.push(elfNote('Xen', XEN_NOTE.ENTRY, u64(0xffffffff830791c0n)));
  const noteArea = Buffer.concat(notes);
  const header = Buffer.alloc(64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(header);
  header.writeUInt16LE(2, 16); // ET_EXEC
  header.writeUInt16LE(0x3e, 18); // x86-64
  header.writeUInt32LE(1, 20);
  header.writeBigUInt64LE(0xffffffff81000000n, 24);
  header.writeBigUInt64LE(64n, 32); // e_phoff
  header.writeUInt16LE(64, 52);
  header.writeUInt16LE(56, 54);
  header.writeUInt16LE(1, 56);
  header.writeUInt16LE(64, 58);
  const phdr = Buffer.alloc(56);
  phdr.writeUInt32LE(4, 0); // PT_NOTE
  phdr.writeUInt32LE(4, 4);
  phdr.writeBigUInt64LE(120n, 8);
  phdr.writeBigUInt64LE(BigInt(noteArea.length), 32);
  phdr.writeBigUInt64LE(BigInt(noteArea.length), 40);
  phdr.writeBigUInt64LE(4n, 48);
  // Some filler so the image is not trivially small.
  return Buffer.concat([header, phdr, noteArea, randomBytes(4096)]);
}

function compressWithTool(tool: string, args: string[], data: Buffer): Buffer {
  const run = spawnSync(tool, args, { input: data, maxBuffer: 256 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`${tool} failed: ${run.stderr?.toString()}`);
  return run.stdout;
}

export function compress(kind: 'gzip' | 'xz' | 'zstd', data: Buffer): Buffer {
  if (kind === 'gzip') return gzipSync(data);
  if (kind === 'xz') return compressWithTool('xz', ['-c', '--check=crc32'], data);
  return compressWithTool('zstd', ['-c', '-q'], data);
}

/** A bzImage as the kernel build makes it: setup sectors, "HdrS" header, compressed payload + size. */
export function bzImage(elf: Buffer, compression: 'gzip' | 'xz' | 'zstd', version = VERSION): Buffer {
  let payload = compress(compression, elf);
  if (compression !== 'gzip') {
    const size = Buffer.alloc(4);
    size.writeUInt32LE(elf.length);
    payload = Buffer.concat([payload, size]);
  }
  const setup = Buffer.alloc(1024);
  setup.writeUInt8(1, 0x1f1); // setup_sects: protected-mode code at (1 + 1) * 512
  setup.writeUInt16LE(0xaa55, 0x1fe);
  setup.write('HdrS', 0x202, 'latin1');
  setup.writeUInt16LE(0x020f, 0x206);
  setup.writeUInt16LE(0x100, 0x20e); // version string at 0x100 + 0x200
  setup.write(`${version} (debian-kernel@lists.debian.org) #1 SMP Debian\0`, 0x300, 'latin1');
  setup.writeUInt32LE(0, 0x248);
  setup.writeUInt32LE(payload.length, 0x24c);
  return Buffer.concat([setup, payload]);
}

// ---------- kernel configs ----------

/** What every Debian kernel has for ramdisks; a test overrides any of it by naming the option. */
export const RAMDISK_SUPPORT: Record<string, 'y' | 'm' | 'n'> = {
  CONFIG_BLK_DEV_INITRD: 'y',
  CONFIG_RD_GZIP: 'y',
  CONFIG_RD_XZ: 'y',
  CONFIG_RD_ZSTD: 'y',
};

export function kernelConfig(options: Record<string, 'y' | 'm' | 'n' | undefined>): string {
  const lines = [
    '#',
    '# Automatically generated file; DO NOT EDIT.',
    '# Linux/x86 6.1.192 Kernel Configuration',
    '#',
  ];
  for (const [option, value] of Object.entries({ ...RAMDISK_SUPPORT, ...options })) {
    if (value === undefined) continue;
    lines.push(value === 'n' ? `# ${option} is not set` : `${option}=${value}`);
  }
  return `${lines.join('\n')}\n`;
}

export const DEBIAN_CONFIG = {
  CONFIG_XEN_PV: 'y',
  CONFIG_XEN_BLKDEV_FRONTEND: 'm',
  CONFIG_EXT4_FS: 'm',
  CONFIG_EXT2_FS: 'n',
  CONFIG_EXT4_USE_FOR_EXT2: 'y',
  CONFIG_XFS_FS: 'm',
  CONFIG_BTRFS_FS: 'm',
} as const;

/** vmlinuz-<version> and config-<version> side by side, as in /boot. */
export async function installKernel(
  dir: string,
  config: Record<string, 'y' | 'm' | 'n' | undefined> | null = DEBIAN_CONFIG,
  image: Buffer = bzImage(xenElf('pv'), 'gzip'),
): Promise<string> {
  const kernel = join(dir, `vmlinuz-${VERSION}`);
  await writeFile(kernel, image);
  if (config) await writeFile(join(dir, `config-${VERSION}`), kernelConfig(config));
  return kernel;
}
