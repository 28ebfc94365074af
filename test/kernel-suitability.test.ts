/**
 * UVKE predicted without booting. Every fixture is built here at test time: kernel configs, synthetic PV
 * kernels (an ELF carrying Xen notes, wrapped in a bzImage), and initramfs images in newc cpio, compressed
 * with gzip, zstd and xz, with and without an uncompressed early-microcode archive in front.
 */

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InitramfsError, NewcScanner, listInitramfs } from '../src/kernel/initramfs.js';
import { type KernelSuitabilityOptions, checkKernelSuitability } from '../src/kernel/kernel-suitability.js';
import { defaultToolDirs, findReadnotes } from '../src/kernel/tools.js';
import {
  DEBIAN_CONFIG,
  VERSION,
  bzImage,
  compress,
  installKernel,
  kernelConfig,
  xenElf,
} from './support/kernel-fixtures.js';

const BLKFRONT = `lib/modules/${VERSION}/kernel/drivers/block/xen-blkfront.ko`;
const EXT4 = `lib/modules/${VERSION}/kernel/fs/ext4/ext4.ko`;

function hasTool(name: string): boolean {
  return defaultToolDirs().some((dir) => existsSync(join(dir, name)));
}
/** VMBOOTFAIL_TEST_NO_CPIO=1 exercises the TS newc writer on hosts that do have cpio. */
const HAVE = {
  cpio: hasTool('cpio') && process.env.VMBOOTFAIL_TEST_NO_CPIO !== '1',
  zstd: hasTool('zstd'),
  xz: hasTool('xz'),
};

let root: string;
let fixtureCount = 0;
/** Readnotes disabled by default so results do not depend on the host; tests that want it say so. */
const NO_READNOTES: KernelSuitabilityOptions = { readnotes: false };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vmbootfail-kernel-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function freshDir(): Promise<string> {
  const dir = join(root, `case-${++fixtureCount}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

// ---------- kernel images ----------

// ---------- initramfs ----------

interface CpioEntry {
  name: string;
  mode?: number;
  data?: Buffer;
}

/** newc writer for crafted (including corrupt) archives; GNU cpio builds the ordinary ones when present. */
function newcArchive(entries: CpioEntry[], trailer = true): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    offset += b.length;
  };
  const pad = () => push(Buffer.alloc((4 - (offset % 4)) % 4));
  const all = trailer ? [...entries, { name: 'TRAILER!!!', mode: 0 }] : entries;
  all.forEach((entry, index) => {
    const data = entry.data ?? Buffer.alloc(0);
    const fields = [index + 1, entry.mode ?? 0o100644, 0, 0, 1, 0, data.length, 0, 0, 0, 0];
    const name = Buffer.from(`${entry.name}\0`);
    const hex = (n: number) => n.toString(16).padStart(8, '0');
    push(Buffer.from(`070701${fields.map(hex).join('')}${hex(name.length)}${hex(0)}`, 'latin1'));
    push(name);
    pad();
    push(data);
    pad();
  });
  return Buffer.concat(parts);
}

/** Lays the files out in a directory and archives them with `cpio -o -H newc`, like mkinitramfs does. */
async function cpioOf(files: Record<string, Buffer>): Promise<Buffer> {
  if (!HAVE.cpio) {
    const dirs = new Set<string>();
    for (const name of Object.keys(files)) {
      for (let d = dirname(name); d !== '.'; d = dirname(d)) dirs.add(d);
    }
    return newcArchive([
      ...[...dirs].sort().map((name) => ({ name, mode: 0o40755 })),
      ...Object.entries(files).map(([name, data]) => ({ name, data })),
    ]);
  }
  const stage = await freshDir();
  for (const [name, data] of Object.entries(files)) {
    await mkdir(join(stage, dirname(name)), { recursive: true });
    await writeFile(join(stage, name), data);
  }
  const names = await listTree(stage, '');
  const run = spawnSync('cpio', ['-o', '-H', 'newc', '--quiet'], {
    cwd: stage,
    input: names.join('\n'),
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.status !== 0) throw new Error(`cpio failed: ${run.stderr.toString()}`);
  return run.stdout;
}

async function listTree(base: string, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(base, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    out.push(rel);
    if (entry.isDirectory()) out.push(...(await listTree(base, rel)));
  }
  return out;
}

function moduleFiles(paths: string[]): Record<string, Buffer> {
  const files: Record<string, Buffer> = {
    init: Buffer.from('#!/bin/sh\nexec /sbin/init\n'),
    'bin/busybox': randomBytes(7001),
  };
  // Odd sizes exercise the 4-byte padding after bodies.
  for (const path of paths) files[path] = randomBytes(3000 + (path.length % 7));
  return files;
}

async function earlyMicrocode(): Promise<Buffer> {
  return await cpioOf({ 'kernel/x86/microcode/GenuineIntel.bin': randomBytes(5003) });
}

async function writeInitrd(
  dir: string,
  modules: string[],
  compression: 'gzip' | 'xz' | 'zstd' | 'none',
  withMicrocode = false,
  name = `initrd.img-${VERSION}`,
): Promise<string> {
  const main = await cpioOf(moduleFiles(modules));
  const body = compression === 'none' ? main : compress(compression, main);
  const path = join(dir, name);
  await writeFile(path, withMicrocode ? Buffer.concat([await earlyMicrocode(), body]) : body);
  return path;
}

function codes(result: { problems: { code: string }[] }): string[] {
  return result.problems.map((problem) => problem.code).sort();
}

// ---------- tests ----------

describe('the testbed UVKE case: Debian kernel, ext4 and xen-blkfront built as modules', () => {
  it('without a ramdisk is unsuitable, naming both drivers and the exact xl fix', async () => {
    const dir = await freshDir();
    const kernel = await installKernel(dir);
    const result = await checkKernelSuitability({ kernel, rootFsType: 'ext4' }, NO_READNOTES);
    expect(result.verdict).toBe('unsuitable');
    expect(codes(result)).toEqual(['BLOCK_FRONTEND_MISSING', 'ROOT_FS_DRIVER_MISSING']);
    expect(result.kernel).toMatchObject({
      exists: true,
      version: VERSION,
      pvCapable: true,
      format: 'bzImage',
    });
    expect(result.config).toEqual({ path: join(dir, `config-${VERSION}`), source: 'beside-kernel' });
    expect(result.requirements).toEqual([
      {
        option: 'CONFIG_XEN_BLKDEV_FRONTEND',
        module: 'xen-blkfront',
        configValue: 'm',
        satisfiedBy: 'missing',
      },
      { option: 'CONFIG_EXT4_FS', module: 'ext4', configValue: 'm', satisfiedBy: 'missing' },
    ]);
    for (const problem of result.problems) {
      expect(problem.remedy).toContain(`ramdisk = "${join(dir, `initrd.img-${VERSION}`)}"`);
      expect(problem.evidence).toMatchObject({ configValue: 'm', ramdisk: 'none', kernelVersion: VERSION });
    }
    const frontend = result.problems.find((p) => p.code === 'BLOCK_FRONTEND_MISSING');
    expect(frontend?.remedy).toContain('CONFIG_XEN_BLKDEV_FRONTEND=y');
    expect(frontend?.evidence.expectedConsole).toContain('Device with no driver');
    expect(result.ramdisk).toBeUndefined();
  });

  it('says whether the initrd beside the kernel already exists', async () => {
    const dir = await freshDir();
    const kernel = await installKernel(dir);
    await writeInitrd(dir, [BLKFRONT, EXT4], 'gzip');
    const result = await checkKernelSuitability({ kernel, rootFsType: 'ext4' }, NO_READNOTES);
    expect(result.verdict).toBe('unsuitable');
    expect(result.problems[0]?.remedy).toContain('it exists');
  });

  const layouts: ['gzip' | 'xz' | 'zstd', boolean][] = [
    ['gzip', false],
    ['gzip', true],
    ['zstd', false],
    ['zstd', true],
    ['xz', false],
    ['xz', true],
  ];
  it.each(layouts)(
    'with a %s ramdisk (early microcode: %s) holding both modules is suitable',
    async (kind, micro) => {
      if (kind !== 'gzip' && !HAVE[kind])
        throw new Error(`${kind} is not installed: add it to install-deps.sh`);
      const dir = await freshDir();
      const kernel = await installKernel(dir);
      const ramdisk = await writeInitrd(
        dir,
        [BLKFRONT, EXT4, `lib/modules/${VERSION}/kernel/fs/jbd2/jbd2.ko`],
        kind,
        micro,
      );
      const result = await checkKernelSuitability({ kernel, ramdisk, rootFsType: 'ext4' }, NO_READNOTES);
      expect(result.problems).toEqual([]);
      expect(result.verdict).toBe('suitable');
      expect(result.ramdisk).toEqual({
        path: ramdisk,
        exists: true,
        compression: kind,
        moduleCount: 3,
        segments: micro ? ['cpio', kind] : [kind],
      });
      expect(result.requirements.map((r) => [r.module, r.configValue, r.satisfiedBy])).toEqual([
        ['xen-blkfront', 'm', 'ramdisk'],
        ['ext4', 'm', 'ramdisk'],
      ]);
    },
  );

  it('finds compressed modules under usr/lib/modules (merged-/usr layout)', async () => {
    const dir = await freshDir();
    const kernel = await installKernel(dir);
    const ramdisk = await writeInitrd(
      dir,
      [`usr/${BLKFRONT}.zst`, `usr/lib/modules/${VERSION}/kernel/fs/xfs/xfs.ko.xz`],
      'gzip',
    );
    const result = await checkKernelSuitability({ kernel, ramdisk, rootFsType: 'xfs' }, NO_READNOTES);
    expect(result.verdict).toBe('suitable');
    expect(result.requirements[1]).toEqual({
      option: 'CONFIG_XFS_FS',
      module: 'xfs',
      configValue: 'm',
      satisfiedBy: 'ramdisk',
    });
  });

  it('a ramdisk without xen-blkfront (the testbed "Gave up waiting" case) misses the frontend only', async () => {
    const dir = await freshDir();
    const kernel = await installKernel(dir);
    const ramdisk = await writeInitrd(dir, [EXT4], 'gzip');
    const result = await checkKernelSuitability({ kernel, ramdisk, rootFsType: 'ext4' }, NO_READNOTES);
    expect(result.verdict).toBe('unsuitable');
    expect(codes(result)).toEqual(['BLOCK_FRONTEND_MISSING']);
    expect(result.problems[0]?.remedy).toContain('/etc/initramfs-tools/modules');
    expect(result.problems[0]?.remedy).toContain(`update-initramfs -u -k ${VERSION}`);
    expect(result.problems[0]?.evidence.ramdisk).toBe(ramdisk);
    expect(result.requirements[1]?.satisfiedBy).toBe('ramdisk');
  });

  it('modules built for another kernel version do not count', async () => {
    const dir = await freshDir();
    const kernel = await installKernel(dir);
    const other = '6.1.0-55-amd64';
    const ramdisk = await writeInitrd(
      dir,
      [BLKFRONT.replace(VERSION, other), EXT4.replace(VERSION, other)],
      'gzip',
      false,
      `initrd.img-${other}`,
    );
    const result = await checkKernelSuitability({ kernel, ramdisk, rootFsType: 'ext4' }, NO_READNOTES);
    expect(result.verdict).toBe('unsuitable');
    expect(codes(result)).toEqual(['BLOCK_FRONTEND_MISSING', 'ROOT_FS_DRIVER_MISSING']);
    expect(result.problems[0]?.evidence.ramdiskModuleVersions).toBe(other);
    expect(result.problems[0]?.remedy).toContain(`initrd.img-${VERSION}`);
  });
});

describe('kernel configs', () => {
  it('=y needs no ramdisk', async () => {
    const dir = await freshDir();
    const kernel = await installKernel(dir, { CONFIG_XEN_BLKDEV_FRONTEND: 'y', CONFIG_EXT4_FS: 'y' });
    const result = await checkKernelSuitability({ kernel, rootFsType: 'ext4' }, NO_READNOTES);
    expect(result.verdict).toBe('suitable');
    expect(result.requirements.map((r) => r.satisfiedBy)).toEqual(['built-in', 'built-in']);
  });

  it('an option absent from the config (or "is not set") is a missing driver, whatever the ramdisk holds', async () => {
    const dir = await freshDir();
    const kernel = await installKernel(dir, { CONFIG_XEN_BLKDEV_FRONTEND: 'y', CONFIG_XFS_FS: 'n' });
    const ramdisk = await writeInitrd(dir, [BLKFRONT], 'gzip');
    const btrfs = await checkKernelSuitability({ kernel, ramdisk, rootFsType: 'btrfs' }, NO_READNOTES);
    expect(btrfs.verdict).toBe('unsuitable');
    expect(btrfs.requirements[1]).toEqual({
      option: 'CONFIG_BTRFS_FS',
      module: 'btrfs',
      configValue: 'n',
      satisfiedBy: 'missing',
    });
    expect(btrfs.problems[0]?.code).toBe('ROOT_FS_DRIVER_MISSING');
    expect(btrfs.problems[0]?.remedy).toContain('CONFIG_BTRFS_FS=y');
    const xfs = await checkKernelSuitability({ kernel, ramdisk, rootFsType: 'XFS' }, NO_READNOTES);
    expect(xfs.requirements[1]).toMatchObject({ option: 'CONFIG_XFS_FS', configValue: 'n' });
  });

  it('ext2 is served by ext4 when CONFIG_EXT4_USE_FOR_EXT2=y (Debian)', async () => {
    const dir = await freshDir();
    const kernel = await installKernel(dir, {
      ...DEBIAN_CONFIG,
      CONFIG_EXT4_FS: 'y',
      CONFIG_XEN_BLKDEV_FRONTEND: 'y',
    });
    const result = await checkKernelSuitability({ kernel, rootFsType: 'ext2' }, NO_READNOTES);
    expect(result.verdict).toBe('suitable');
    expect(result.requirements[1]).toMatchObject({ option: 'CONFIG_EXT4_FS', satisfiedBy: 'built-in' });
  });

  it('an explicit config wins, and /boot/config-<version> is used when none is beside the kernel', async () => {
    const dir = await freshDir();
    const kernel = await installKernel(dir, null);
    const explicit = join(dir, 'my.config');
    await writeFile(explicit, kernelConfig({ CONFIG_XEN_BLKDEV_FRONTEND: 'y', CONFIG_EXT4_FS: 'y' }));
    const viaExplicit = await checkKernelSuitability(
      { kernel, rootFsType: 'ext4', kernelConfig: explicit },
      NO_READNOTES,
    );
    expect(viaExplicit.config).toEqual({ path: explicit, source: 'explicit' });
    expect(viaExplicit.verdict).toBe('suitable');

    const bootDir = await freshDir();
    await writeFile(join(bootDir, `config-${VERSION}`), kernelConfig(DEBIAN_CONFIG));
    const viaBoot = await checkKernelSuitability(
      { kernel, rootFsType: 'ext4' },
      { ...NO_READNOTES, bootDir },
    );
    expect(viaBoot.config).toEqual({ path: join(bootDir, `config-${VERSION}`), source: 'boot-dir' });
    expect(viaBoot.verdict).toBe('unsuitable');
  });

  it('no config: KERNEL_CONFIG_UNKNOWN and an unknown verdict, unless the ramdisk settles it', async () => {
    const dir = await freshDir();
    const kernel = await installKernel(dir, null);
    const options = { ...NO_READNOTES, bootDir: dir };
    const bare = await checkKernelSuitability({ kernel, rootFsType: 'ext4' }, options);
    expect(bare.verdict).toBe('unknown');
    expect(codes(bare)).toEqual(['KERNEL_CONFIG_UNKNOWN']);
    expect(bare.problems[0]?.evidence.tried).toContain(`config-${VERSION}`);
    expect(bare.requirements.map((r) => [r.configValue, r.satisfiedBy])).toEqual([
      ['unknown', 'unknown'],
      ['unknown', 'unknown'],
    ]);
    const ramdisk = await writeInitrd(dir, [BLKFRONT, EXT4], 'gzip');
    const withRamdisk = await checkKernelSuitability({ kernel, ramdisk, rootFsType: 'ext4' }, options);
    expect(withRamdisk.verdict).toBe('suitable');
    expect(withRamdisk.requirements.map((r) => r.satisfiedBy)).toEqual(['ramdisk', 'ramdisk']);
  });

  it('a file that is not a kernel config is refused', async () => {
    const dir = await freshDir();
    const kernel = await installKernel(dir, null);
    const bogus = join(dir, 'bogus');
    await writeFile(bogus, randomBytes(2000));
    const result = await checkKernelSuitability(
      { kernel, rootFsType: 'ext4', kernelConfig: bogus },
      NO_READNOTES,
    );
    expect(codes(result)).toEqual(['KERNEL_CONFIG_UNKNOWN']);
    expect(result.problems[0]?.message).toMatch(/binary|no CONFIG_ lines/);
  });

  it('an unknown root filesystem type leaves the verdict unknown and says why', async () => {
    const dir = await freshDir();
    const kernel = await installKernel(dir, { CONFIG_XEN_BLKDEV_FRONTEND: 'y' });
    for (const rootFsType of [null, undefined, 'crypto_LUKS']) {
      const result = await checkKernelSuitability({ kernel, rootFsType }, NO_READNOTES);
      expect(result.verdict).toBe('unknown');
      expect(result.requirements).toHaveLength(1);
      expect(result.notes?.join(' ')).toMatch(/only the block frontend was checked/);
    }
  });
});

describe('kernel images', () => {
  it.each(['gzip', 'xz', 'zstd'] as const)('reads the Xen notes inside a %s bzImage', async (kind) => {
    const dir = await freshDir();
    const kernel = await installKernel(dir, DEBIAN_CONFIG, bzImage(xenElf('pv'), kind));
    const result = await checkKernelSuitability({ kernel, rootFsType: 'ext4' }, NO_READNOTES);
    expect(result.kernel).toMatchObject({ pvCapable: true, compression: kind, version: VERSION });
  });

  it('takes the version from the bzImage header even when the file is renamed', async () => {
    const dir = await freshDir();
    const kernel = join(dir, 'guest-kernel');
    await writeFile(kernel, bzImage(xenElf('pv'), 'gzip'));
    const result = await checkKernelSuitability(
      { kernel, rootFsType: 'ext4' },
      { ...NO_READNOTES, bootDir: await freshDir() },
    );
    expect(result.kernel.version).toBe(VERSION);
    expect(result.problems[0]?.evidence.tried).toContain(`config-${VERSION}`);
  });

  it('random bytes are KERNEL_NOT_PV (xl: "no loader found: Invalid kernel")', async () => {
    const dir = await freshDir();
    // A fixed first byte keeps a random gzip/ELF magic (1 in 65536) from making this flaky.
    const junk = Buffer.concat([Buffer.from('J'), randomBytes(64 * 1024)]);
    const kernel = await installKernel(dir, DEBIAN_CONFIG, junk);
    const result = await checkKernelSuitability({ kernel, rootFsType: 'ext4' }, NO_READNOTES);
    expect(result.verdict).toBe('unsuitable');
    expect(result.kernel.pvCapable).toBe(false);
    const problem = result.problems.find((p) => p.code === 'KERNEL_NOT_PV');
    expect(problem?.message).toMatch(/neither an ELF image nor a bzImage/);
    expect(problem?.remedy).toContain('CONFIG_XEN_PV=y');
  });

  it('an ELF without Xen notes, and one with notes but no PV entry, are not PV', async () => {
    const dir = await freshDir();
    const plain = await installKernel(dir, DEBIAN_CONFIG, xenElf('no-xen-notes'));
    const a = await checkKernelSuitability({ kernel: plain, rootFsType: 'ext4' }, NO_READNOTES);
    expect(a.kernel).toMatchObject({ pvCapable: false, format: 'elf' });
    expect(a.kernel.pvReason).toMatch(/without Xen ELF notes/);
    const pvh = await installKernel(await freshDir(), DEBIAN_CONFIG, bzImage(xenElf('pvh-only'), 'xz'));
    const b = await checkKernelSuitability({ kernel: pvh, rootFsType: 'ext4' }, NO_READNOTES);
    expect(b.kernel.pvCapable).toBe(false);
    expect(b.problems.find((p) => p.code === 'KERNEL_NOT_PV')?.evidence.xenNotes).toContain('GUEST_OS=linux');
    expect(b.kernel.pvReason).toMatch(/CONFIG_XEN_PV/);
  });

  it('a truncated or corrupted bzImage is reported as damaged', async () => {
    const dir = await freshDir();
    const whole = bzImage(xenElf('pv'), 'xz');
    const truncated = await installKernel(dir, DEBIAN_CONFIG, whole.subarray(0, whole.length - 100));
    const a = await checkKernelSuitability({ kernel: truncated, rootFsType: 'ext4' }, NO_READNOTES);
    expect(a.kernel.pvCapable).toBe(false);
    expect(a.problems.find((p) => p.code === 'KERNEL_NOT_PV')?.message).toMatch(/damaged/);

    const corrupted = Buffer.from(whole);
    for (let i = 1024 + 64; i < corrupted.length - 64; i += 97) corrupted[i] = (corrupted[i] ?? 0) ^ 0x5a;
    const kernel = await installKernel(await freshDir(), DEBIAN_CONFIG, corrupted);
    const b = await checkKernelSuitability({ kernel, rootFsType: 'ext4' }, NO_READNOTES);
    expect(b.kernel.pvCapable).toBe(false);
    expect(b.problems.find((p) => p.code === 'KERNEL_NOT_PV')?.remedy).toContain('--reinstall');
  });

  it('a missing kernel is KERNEL_MISSING', async () => {
    const dir = await freshDir();
    const result = await checkKernelSuitability(
      { kernel: join(dir, `vmlinuz-${VERSION}`), rootFsType: 'ext4' },
      NO_READNOTES,
    );
    expect(result.verdict).toBe('unsuitable');
    expect(result.kernel).toMatchObject({ exists: false, version: VERSION });
    expect(codes(result)).toContain('KERNEL_MISSING');
  });

  it("agrees with Xen's readnotes where readnotes can read the image (raw or gzip payload)", async (ctx) => {
    const readnotes = await findReadnotes();
    if (!readnotes) {
      console.warn('skipped: readnotes not found under /usr/lib/xen-*/bin (package xen-utils-4.17)');
      ctx.skip();
      return;
    }
    const dir = await freshDir();
    const image = join(dir, 'pv.bzImage');
    await writeFile(image, bzImage(xenElf('pv'), 'gzip'));
    const run = spawnSync(readnotes, [image]);
    expect(run.status).toBe(0);
    expect(run.stdout.toString()).toMatch(/^ENTRY: 0xffffffff830791c0 \(8 bytes\)$/m);
    expect(run.stdout.toString()).toMatch(/^GUEST_OS: linux$/m);
    // readnotes only gunzips: an xz payload (Debian's) is "not an ELF image" to it.
    const xzImage = join(dir, 'pv-xz.bzImage');
    await writeFile(xzImage, bzImage(xenElf('pv'), 'xz'));
    const xzRun = spawnSync(readnotes, [xzImage]);
    expect(xzRun.status).toBe(1);
    expect(xzRun.stderr.toString()).toMatch(/is not an ELF image/);
    const ours = await checkKernelSuitability({ kernel: xzImage, rootFsType: 'ext4' }, { readnotes });
    expect(ours.kernel.pvCapable).toBe(true);
  });

  it('falls back to readnotes when it cannot decompress the payload itself', async () => {
    const dir = await freshDir();
    const kernel = await installKernel(dir, DEBIAN_CONFIG, bzImage(xenElf('pv'), 'zstd'));
    const fakeReadnotes = join(dir, 'readnotes');
    await writeFile(
      fakeReadnotes,
      '#!/bin/sh\necho "GUEST_OS: linux"\necho "ENTRY: 0xffffffff830791c0 (8 bytes)"\n',
    );
    await chmod(fakeReadnotes, 0o755);
    const emptyToolDir = await freshDir();
    const withoutTools = await checkKernelSuitability(
      { kernel, rootFsType: 'ext4' },
      { readnotes: false, toolDirs: [emptyToolDir] },
    );
    expect(withoutTools.kernel.pvCapable).toBeUndefined();
    expect(withoutTools.notes?.join(' ')).toMatch(/zstd is not installed \(Debian package zstd\)/);
    const withReadnotes = await checkKernelSuitability(
      { kernel, rootFsType: 'ext4' },
      { readnotes: fakeReadnotes, toolDirs: [emptyToolDir] },
    );
    expect(withReadnotes.kernel.pvCapable).toBe(true);
  });
});

describe('ramdisks', () => {
  it('a missing ramdisk is RAMDISK_MISSING', async () => {
    const dir = await freshDir();
    const kernel = await installKernel(dir);
    const result = await checkKernelSuitability(
      { kernel, ramdisk: join(dir, 'nope.img'), rootFsType: 'ext4' },
      NO_READNOTES,
    );
    expect(result.verdict).toBe('unsuitable');
    expect(result.ramdisk).toEqual({ path: join(dir, 'nope.img'), exists: false });
    expect(codes(result)).toContain('RAMDISK_MISSING');
  });

  it('an uncompressed initramfs is read directly', async () => {
    const dir = await freshDir();
    const ramdisk = await writeInitrd(dir, [BLKFRONT, EXT4], 'none', true);
    const listing = await listInitramfs(ramdisk, { toolDirs: defaultToolDirs(), timeoutMs: 30_000 });
    expect(listing).toMatchObject({ compression: 'none', segments: ['cpio', 'cpio'], moduleCount: 2 });
    expect(listing.modulePaths.sort()).toEqual([BLKFRONT, EXT4]);
  });

  it('agrees with GNU cpio on what an archive holds', async (ctx) => {
    if (!HAVE.cpio) {
      console.warn('skipped: cpio is not installed (Debian package cpio)');
      ctx.skip();
      return;
    }
    const archive = await cpioOf(moduleFiles([BLKFRONT, EXT4]));
    const theirs = spawnSync('cpio', ['-t', '--quiet'], { input: archive })
      .stdout.toString()
      .trim()
      .split('\n');
    const ours: string[] = [];
    const scanner = new NewcScanner((name) => ours.push(name));
    scanner.push(archive);
    scanner.end();
    expect(ours).toEqual(theirs);
  });

  it('parses the same whether the input arrives in one chunk or byte by byte', async () => {
    const archive = Buffer.concat([await earlyMicrocode(), await cpioOf(moduleFiles([BLKFRONT, EXT4]))]);
    const whole: string[] = [];
    const one = new NewcScanner((name) => whole.push(name));
    one.push(archive);
    one.end();
    const bytewise: string[] = [];
    const two = new NewcScanner((name) => bytewise.push(name));
    for (let i = 0; i < archive.length; i++) two.push(archive.subarray(i, i + 1));
    two.end();
    expect(bytewise).toEqual(whole);
    expect(two.archiveCount).toBe(2);
    expect(whole).toContain(BLKFRONT);
  });

  const corruptCases: [string, () => Promise<Buffer>, RegExp][] = [
    [
      'a header with a bad magic',
      async () => Buffer.concat([Buffer.from('070707'), randomBytes(200)]),
      /magic "070707" is not newc/,
    ],
    [
      'a non-hexadecimal size field',
      async () => {
        const a = newcArchive([{ name: 'init', data: Buffer.from('x') }]);
        a.write('zzzzzzzz', 6 + 6 * 8, 'latin1');
        return a;
      },
      /not hexadecimal/,
    ],
    [
      'a name size beyond PATH_MAX',
      async () => {
        const a = newcArchive([{ name: 'init' }]);
        a.write('7fffffff', 6 + 11 * 8, 'latin1');
        return a;
      },
      /name size 2147483647/,
    ],
    [
      'an archive cut off in a file body',
      async () => newcArchive([{ name: 'bin/busybox', data: randomBytes(4000) }]).subarray(0, 2000),
      /truncated/,
    ],
    [
      'an archive without its trailer',
      async () => newcArchive([{ name: 'init', data: Buffer.from('#!/bin/sh\n') }], false),
      /truncated|holds no|ends inside/,
    ],
    [
      'garbage after the early microcode',
      async () => Buffer.concat([await earlyMicrocode(), Buffer.from('not a compressed archive at all')]),
      /unrecognised data at offset/,
    ],
    [
      'a gzip stream cut in half',
      async () => {
        const gz = gzipSync(await cpioOf(moduleFiles([BLKFRONT, EXT4])));
        return gz.subarray(0, gz.length >> 1);
      },
      /gzip|truncated/,
    ],
    ['only zeros', async () => Buffer.alloc(4096), /holds no cpio archive/],
    [
      'a file size that runs past the end',
      async () => {
        const a = newcArchive([{ name: 'init', data: Buffer.from('abc') }]);
        a.write('ffffffff', 6 + 6 * 8, 'latin1');
        return a;
      },
      /truncated/,
    ],
  ];
  it.each(corruptCases)(
    '%s is RAMDISK_UNREADABLE and makes the kernel unsuitable',
    async (_label, make, why) => {
      const dir = await freshDir();
      const kernel = await installKernel(dir);
      const ramdisk = join(dir, 'broken.img');
      await writeFile(ramdisk, await make());
      const started = Date.now();
      const result = await checkKernelSuitability({ kernel, ramdisk, rootFsType: 'ext4' }, NO_READNOTES);
      expect(Date.now() - started).toBeLessThan(10_000);
      const problem = result.problems.find((p) => p.code === 'RAMDISK_UNREADABLE');
      expect(problem?.message).toMatch(why);
      expect(['corrupt', 'truncated']).toContain(problem?.evidence.reason);
      expect(result.verdict).toBe('unsuitable');
      expect(result.requirements.map((r) => r.satisfiedBy)).toEqual(['unknown', 'unknown']);
    },
  );

  it('corrupt zstd data is reported with what zstd said', async () => {
    if (!HAVE.zstd) throw new Error('zstd is not installed: add it to install-deps.sh');
    const dir = await freshDir();
    const good = compress('zstd', await cpioOf(moduleFiles([BLKFRONT, EXT4])));
    const bad = Buffer.concat([good.subarray(0, 16), randomBytes(good.length - 16)]);
    const ramdisk = join(dir, 'bad.zst');
    await writeFile(ramdisk, bad);
    await expect(
      listInitramfs(ramdisk, { toolDirs: defaultToolDirs(), timeoutMs: 30_000 }),
    ).rejects.toMatchObject({
      reason: 'corrupt',
      message: expect.stringMatching(/zstd/),
    });
  });

  it('without the decompressor the verdict is unknown and the Debian package is named', async () => {
    const dir = await freshDir();
    const kernel = await installKernel(dir);
    const ramdisk = join(dir, 'initrd.zst');
    // Hand-made zstd magic is enough: the tool is never found.
    await writeFile(ramdisk, Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), randomBytes(100)]));
    const result = await checkKernelSuitability(
      { kernel, ramdisk, rootFsType: 'ext4' },
      { readnotes: false, toolDirs: [await freshDir()] },
    );
    expect(result.verdict).toBe('unknown');
    const problem = result.problems.find((p) => p.code === 'RAMDISK_UNREADABLE');
    expect(problem?.evidence.reason).toBe('tool-missing');
    expect(problem?.message).toMatch(/zstd is not installed \(Debian package zstd\)/);
  });

  it('falls back to lsinitramfs when it lacks the decompressor', async () => {
    const dir = await freshDir();
    const kernel = await installKernel(dir);
    const ramdisk = join(dir, 'initrd.zst');
    await writeFile(ramdisk, Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), randomBytes(100)]));
    const toolDir = await freshDir();
    const lister = join(toolDir, 'lsinitramfs');
    await writeFile(lister, `#!/bin/sh\nprintf '%s\\n' . init usr/${BLKFRONT} usr/${EXT4}\n`);
    await chmod(lister, 0o755);
    const result = await checkKernelSuitability(
      { kernel, ramdisk, rootFsType: 'ext4' },
      { readnotes: false, toolDirs: [toolDir] },
    );
    expect(result.verdict).toBe('suitable');
    expect(result.ramdisk).toMatchObject({ compression: 'zstd', moduleCount: 2 });
  });

  it('trailing garbage after a complete gzip archive is tolerated, as the kernel does', async () => {
    const dir = await freshDir();
    const kernel = await installKernel(dir);
    const ramdisk = join(dir, 'initrd.gz');
    const gz = gzipSync(await cpioOf(moduleFiles([BLKFRONT, EXT4])));
    await writeFile(ramdisk, Buffer.concat([gz, Buffer.from('some trailing bytes')]));
    const result = await checkKernelSuitability({ kernel, ramdisk, rootFsType: 'ext4' }, NO_READNOTES);
    expect(result.verdict).toBe('suitable');
    expect(result.notes?.join(' ')).toMatch(/ignored unrecognised data at offset \d+/);
  });

  it('reads every member of a multi-member gzip ramdisk', async () => {
    const dir = await freshDir();
    const kernel = await installKernel(dir);
    const ramdisk = join(dir, 'initrd.gz');
    const first = gzipSync(await cpioOf({ [BLKFRONT]: randomBytes(999) }));
    const second = gzipSync(await cpioOf(moduleFiles([EXT4])));
    await writeFile(ramdisk, Buffer.concat([first, Buffer.alloc(3), second]));
    const result = await checkKernelSuitability({ kernel, ramdisk, rootFsType: 'ext4' }, NO_READNOTES);
    expect(result.verdict).toBe('suitable');
    expect(result.ramdisk?.segments).toEqual(['gzip', 'gzip']);
  });

  it('a gzip member with a wrong CRC is corrupt', async () => {
    const dir = await freshDir();
    const kernel = await installKernel(dir);
    const ramdisk = join(dir, 'initrd.gz');
    const gz = gzipSync(await cpioOf(moduleFiles([BLKFRONT, EXT4])));
    gz.writeUInt32LE((gz.readUInt32LE(gz.length - 8) ^ 1) >>> 0, gz.length - 8);
    await writeFile(ramdisk, gz);
    const result = await checkKernelSuitability({ kernel, ramdisk, rootFsType: 'ext4' }, NO_READNOTES);
    expect(result.verdict).toBe('unsuitable');
    expect(result.problems.find((p) => p.code === 'RAMDISK_UNREADABLE')?.message).toMatch(/CRC-32 mismatch/);
  });

  it('a ramdisk in a compression the kernel was built without is as good as none', async () => {
    if (!HAVE.zstd) throw new Error('zstd is not installed: add it to install-deps.sh');
    const dir = await freshDir();
    const kernel = await installKernel(dir, { ...DEBIAN_CONFIG, CONFIG_RD_ZSTD: 'n' });
    const ramdisk = await writeInitrd(dir, [BLKFRONT, EXT4], 'zstd');
    const result = await checkKernelSuitability({ kernel, ramdisk, rootFsType: 'ext4' }, NO_READNOTES);
    expect(result.verdict).toBe('unsuitable');
    const unreadable = result.problems.find((p) => p.code === 'RAMDISK_UNREADABLE');
    expect(unreadable?.evidence).toMatchObject({ reason: 'kernel-cannot-unpack', option: 'CONFIG_RD_ZSTD' });
    expect(result.requirements.map((r) => r.satisfiedBy)).toEqual(['missing', 'missing']);
    expect(result.problems.find((p) => p.code === 'BLOCK_FRONTEND_MISSING')?.message).toMatch(
      /cannot unpack/,
    );
  });

  it('InitramfsError carries the offset of the corrupt entry', async () => {
    const dir = await freshDir();
    const path = join(dir, 'bad.cpio');
    const good = newcArchive([{ name: 'a', data: Buffer.from('1234') }], false);
    await writeFile(path, Buffer.concat([good, Buffer.from('070701XYZ'), Buffer.alloc(120)]));
    const error = await listInitramfs(path, { toolDirs: [], timeoutMs: 1000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InitramfsError);
    expect((error as InitramfsError).offset).toBe(good.length);
  });
});

/** A real Debian kernel + config from the testbed cache, when another job has built it. */
describe('a real Debian kernel from the testbed cache', () => {
  const cache = process.env.VMBOOTFAIL_TESTBED_CACHE ?? '/root/.cache/vmbootfail-testbed';

  async function findRealKernel(dir: string, depth = 0): Promise<string | undefined> {
    if (depth > 4) return undefined;
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return undefined;
    }
    for (const entry of entries) {
      if (entry.isFile() && /^vmlinuz-/.test(entry.name)) {
        const config = join(dir, entry.name.replace(/^vmlinuz-/, 'config-'));
        if (existsSync(config)) return join(dir, entry.name);
      }
    }
    for (const entry of entries) {
      if (entry.isDirectory()) {
        const found = await findRealKernel(join(dir, entry.name), depth + 1);
        if (found) return found;
      }
    }
    return undefined;
  }

  it('is a PV kernel with xen-blkfront and ext4 as modules: unsuitable without a ramdisk', async (ctx) => {
    const kernel = await findRealKernel(cache);
    if (!kernel) {
      console.warn(
        `skipped: no vmlinuz-<version> with its config-<version> under ${cache} (testbed not built yet)`,
      );
      ctx.skip();
      return;
    }
    const size = (await stat(kernel)).size;
    expect(size).toBeGreaterThan(1024 * 1024);
    const result = await checkKernelSuitability({ kernel, rootFsType: 'ext4' });
    expect(result.kernel).toMatchObject({ exists: true, pvCapable: true, format: 'bzImage' });
    expect(result.kernel.version).toBe(basename(kernel).replace(/^vmlinuz-/, ''));
    expect(result.config?.source).toBe('beside-kernel');
    // testbed.md: Debian's 6.1 kernel has both as modules.
    expect(result.requirements.map((r) => r.configValue)).toEqual(['m', 'm']);
    expect(result.verdict).toBe('unsuitable');
    expect(codes(result)).toEqual(['BLOCK_FRONTEND_MISSING', 'ROOT_FS_DRIVER_MISSING']);
  });
});
