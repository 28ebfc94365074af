/**
 * What the guest's own files say its boot needs (issue 11): the fstab systemd
 * mounts, the grub config pygrub reads. Real images are built here with
 * mke2fs -d (a systemd-like tree: /sbin/init -> /lib/systemd/systemd, merged
 * /usr), read by libext2fs without mounting, and their checksums checked after.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectConfig } from '../src/api.js';
import { parseFstab, parseGrubConfig } from '../src/disk/guest-boot-files.js';
import { DiskInspector } from '../src/disk/inspector.js';
import { pvBootloaderOf } from '../src/kernel/pv-bootloader.js';
import { certainFailureOf, preflight } from '../src/monitor/pre-checking.js';
import type { VmSpec } from '../src/xl/vm-spec.js';
import { sha256File } from './support/checksum.js';
import { DEBIAN_CONFIG, VERSION, bzImage, kernelConfig, xenElf } from './support/kernel-fixtures.js';
import { freeLoopDevice } from './support/loop-devices.js';

const ROOT_UUID = '0b6a4d2e-4c1e-4f55-9d8a-0a1b2c3d4e5f';
const DATA_UUID = '7c2f0e7a-1111-4a2b-8c3d-9e8f7a6b5c4d';
const KERNEL = 'vmlinuz-6.1.0-28-amd64';

let dir: string;
const inspector = new DiskInspector();

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: 'pipe' });
}

/** A root tree like Debian 12's: merged /usr, systemd as init, fstab and grub.cfg as given. */
function rootTree(
  name: string,
  opts: { fstab: string; grub?: string; systemd?: boolean; kernel?: boolean },
): string {
  const root = path.join(dir, name);
  for (const d of ['etc', 'usr/lib/systemd', 'usr/sbin', 'boot/grub'])
    mkdirSync(path.join(root, d), { recursive: true });
  symlinkSync('usr/lib', path.join(root, 'lib'));
  symlinkSync('usr/sbin', path.join(root, 'sbin'));
  writeFileSync(path.join(root, 'usr/lib/systemd/systemd'), 'systemd\n');
  writeFileSync(path.join(root, 'usr/sbin/busybox'), 'busybox\n');
  symlinkSync(
    opts.systemd === false ? 'busybox' : '../lib/systemd/systemd',
    path.join(root, 'usr/sbin/init'),
  );
  writeFileSync(path.join(root, 'etc/fstab'), opts.fstab);
  if (opts.kernel !== false) {
    writeFileSync(path.join(root, `boot/${KERNEL}`), 'kernel\n');
    writeFileSync(path.join(root, 'boot/initrd.img-6.1.0-28-amd64'), 'initrd\n');
  }
  if (opts.grub) writeFileSync(path.join(root, 'boot/grub/grub.cfg'), opts.grub);
  return root;
}

/** A 24 MiB disk with one MBR partition holding an ext4 made from `tree`. */
function partitionedDisk(name: string, tree: string | undefined, uuid: string): string {
  const fs = path.join(dir, `${name}.fs`);
  const disk = path.join(dir, `${name}.img`);
  sh('mke2fs', ['-q', '-F', '-t', 'ext4', '-U', uuid, ...(tree ? ['-d', tree] : []), fs, '20M']);
  sh('truncate', ['-s', '24M', disk]);
  sh('parted', ['-s', disk, 'mklabel', 'msdos', 'mkpart', 'primary', 'ext4', '2048s', '43007s']);
  sh('dd', [`if=${fs}`, `of=${disk}`, 'bs=512', 'seek=2048', 'conv=notrunc', 'status=none']);
  rmSync(fs);
  return disk;
}

const FSTAB = `# /etc/fstab: static file system information.
UUID=${ROOT_UUID} / ext4 errors=remount-ro 0 1
UUID=${DATA_UUID} /data ext4 defaults 0 2
tmpfs /tmp tmpfs defaults 0 0
`;
const GRUB = (kernel: string) => `set default=0
menuentry 'Debian GNU/Linux' --class debian {
\tlinux /boot/${kernel} root=UUID=${ROOT_UUID} ro console=hvc0
\tinitrd /boot/initrd.img-6.1.0-28-amd64
}
`;

const disks: Record<string, string> = {};

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vmbf-bootneeds-'));
  disks.root = partitionedDisk('root', rootTree('t-root', { fstab: FSTAB, grub: GRUB(KERNEL) }), ROOT_UUID);
  disks.data = partitionedDisk('data', undefined, DATA_UUID);
  disks.dataDamaged = partitionedDisk('data-damaged', undefined, DATA_UUID);
  // The data filesystem's primary superblock zeroed (its backups keep the UUID).
  sh('dd', [
    'if=/dev/zero',
    `of=${disks.dataDamaged}`,
    'bs=512',
    'seek=2048',
    'count=8',
    'conv=notrunc',
    'status=none',
  ]);
  disks.nofail = partitionedDisk(
    'root-nofail',
    rootTree('t-nofail', { fstab: FSTAB.replace('defaults 0 2', 'defaults,nofail 0 2') }),
    ROOT_UUID,
  );
  disks.sysv = partitionedDisk('root-sysv', rootTree('t-sysv', { fstab: FSTAB, systemd: false }), ROOT_UUID);
  disks.grubMissing = partitionedDisk(
    'root-grub-missing',
    rootTree('t-grub', { fstab: FSTAB, grub: GRUB('vmlinuz-6.1.0-99-amd64') }),
    ROOT_UUID,
  );
  disks.empty = path.join(dir, 'empty-partition.img');
  sh('truncate', ['-s', '8M', disks.empty]);
  sh('parted', ['-s', disks.empty, 'mklabel', 'msdos', 'mkpart', 'primary', '2048s', '16383s']);
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function spec(d: [vdev: string, image: string][], extra: Partial<VmSpec> = {}): VmSpec {
  return {
    configPath: '/etc/xen/guest.cfg',
    name: 'guest',
    type: 'pv',
    kernel: `/boot/${KERNEL}`,
    rootDevice: '/dev/xvda1',
    disks: d.map(([vdev, image], i) => ({
      vdev,
      device: 51712 + 16 * i,
      target: disks[image] as string,
      spec: `${image},raw,${vdev},w`,
    })),
    ...extra,
  };
}

/** root image at xvda, the data disk at xvdb, booted by pygrub: no kernel = and no root= in the config. */
function pygrubSpec(rootImage: string): VmSpec {
  const s = spec(
    [
      ['xvda', rootImage],
      ['xvdb', 'data'],
    ],
    { bootloader: 'pygrub' },
  );
  s.kernel = undefined;
  s.rootDevice = undefined;
  return s;
}

async function judge(s: VmSpec) {
  const pre = await preflight(s, { inspectDisk: (p, o) => inspector.inspect(p, o) });
  return { pre, certain: certainFailureOf(s, pre) };
}

describe('parsing the guest files', () => {
  it('fstab: comments, blanks, octal escapes, defaults for missing fields', () => {
    const { entries } = parseFstab(
      '# c\n\nLABEL=my\\040disk /mnt/a\\040b ext4\n  /dev/xvdb1\t/x xfs ro,nofail 0 2\n',
    );
    expect(entries).toEqual([
      { spec: 'LABEL=my disk', file: '/mnt/a b', vfstype: 'ext4', options: ['defaults'], passno: 0, line: 3 },
      { spec: '/dev/xvdb1', file: '/x', vfstype: 'xfs', options: ['ro', 'nofail'], passno: 2, line: 4 },
    ]);
  });
  it('grub.cfg: menuentries, quoted titles, submenus flattened, a title as default is unknown', () => {
    const cfg = `set default="Advanced>2"\nmenuentry "A \\"x\\"" {\n linux /vmlinuz-1 root=/dev/xvda1\n}\nsubmenu 'S' {\n menuentry 'B' {\n  linux16 (hd0,msdos1)/boot/vmlinuz-2\n  initrd /boot/initrd-2\n }\n}\n`;
    const parsed = parseGrubConfig(cfg, false);
    expect(parsed.entries.map((e) => [e.title, e.kernel, e.initrd])).toEqual([
      ['A "x"', '/vmlinuz-1', undefined],
      ['B', '(hd0,msdos1)/boot/vmlinuz-2', '/boot/initrd-2'],
    ]);
    expect(parsed.defaultEntry).toBeUndefined();
  });
});

describe('reading files from a hostile image', () => {
  it('a symlink loop, a directory, a fstab over the read limit and bad arguments: answers, never a crash', async () => {
    const root = path.join(dir, 't-hostile');
    mkdirSync(path.join(root, 'etc/fstab'), { recursive: true }); // a directory named fstab
    mkdirSync(path.join(root, 'sbin'), { recursive: true });
    symlinkSync('init', path.join(root, 'sbin/init')); // sbin/init -> itself
    mkdirSync(path.join(root, 'boot/grub'), { recursive: true });
    writeFileSync(
      path.join(root, 'boot/grub/grub.cfg'),
      `${'# filler\n'.repeat(40_000)}menuentry 'x' {\n linux /nope\n}\n`,
    );
    const disk = partitionedDisk('hostile', root, ROOT_UUID);
    const inspection = await inspector.inspect(disk, { bootFiles: true });
    const boot = inspection.partitions[0]?.filesystem.boot;
    expect(boot?.fstab).toBeUndefined();
    expect(boot?.init).toBeUndefined();
    // 400 KB of config: the first 256 KiB are read, the entry after them is not seen.
    expect(boot?.grub?.entries).toEqual([]);
    const addon = (await import('../src/native/loader.js')).nativeAddon();
    expect(() => addon.ext2ReadFile(disk, 1048576, 'etc/fstab', 2 * 1024 * 1024)).toThrow(RangeError);
    expect(() => addon.ext2ReadFile(disk, 1048576, 'a\0b', 10)).toThrow(RangeError);
    expect(() => addon.ext2ReadFile(disk, 1048576, 7 as unknown as string, 10)).toThrow(TypeError);
    const notExt = await addon.ext2ReadFile(disk, 0, 'etc/fstab', 10);
    expect(notExt).toMatchObject({ opened: false, found: false });
  });
});

describe('what the guest files make the boot need', () => {
  it('reads fstab, init and grub from the image without writing to it', async () => {
    const before = await sha256File(disks.root as string);
    const inspection = await inspector.inspect(disks.root as string, { bootFiles: true });
    const boot = inspection.partitions[0]?.filesystem.boot;
    expect(boot?.init).toBe('systemd');
    expect(boot?.fstab?.entries.map((e) => e.file)).toEqual(['/', '/data', '/tmp']);
    expect(boot?.grub?.entries[0]).toMatchObject({
      kernel: `/boot/${KERNEL}`,
      kernelFound: true,
      initrdFound: true,
    });
    expect(inspection.partitions[0]?.partUuid).toMatch(/^[0-9a-f]{8}-01$/);
    expect(await sha256File(disks.root as string)).toBe(before);
  });
  it('a healthy data disk fstab needs: nothing fails, and the boot needs both disks', async () => {
    const { pre, certain } = await judge(
      spec([
        ['xvda', 'root'],
        ['xvdb', 'data'],
      ]),
    );
    expect(certain).toBeUndefined();
    expect(pre.bootNeeds?.neededDisks).toEqual(['xvda', 'xvdb']);
    expect(pre.causes).toEqual([]);
  });
  it('fstab names a UUID no disk has: certain VMCE (systemd would wait 90 s, then emergency mode)', async () => {
    const { pre, certain } = await judge(spec([['xvda', 'root']]));
    expect(certain?.reason).toMatch(`mounts UUID=${DATA_UUID} at /data, but no disk of the VM has it`);
    expect(pre.causes[0]).toMatchObject({ code: 'VMCE' });
    expect(pre.causes[0]?.remedy).toMatch(/add nofail to line 3 of the guest's \/etc\/fstab/);
  });
  it('the same line with nofail: no failure', async () => {
    const { pre, certain } = await judge(spec([['xvda', 'nofail']]));
    expect(certain).toBeUndefined();
    expect(pre.causes).toEqual([]);
  });
  it('an init that is not systemd: fstab is not judged', async () => {
    const { certain } = await judge(spec([['xvda', 'sysv']]));
    expect(certain).toBeUndefined();
  });
  it('a damaged data disk the fstab mounts fails the boot: DIDF on xvdb', async () => {
    const before = await sha256File(disks.dataDamaged as string);
    const { pre, certain } = await judge(
      spec([
        ['xvda', 'root'],
        ['xvdb', 'dataDamaged'],
      ]),
    );
    expect(certain?.reason).toMatch(/xvdb1, mounted at \/data by the guest's fstab, will not mount/);
    expect(pre.causes.find((c) => c.disk === 'xvdb' && c.code === 'DIDF')).toBeDefined();
    expect(pre.bootNeeds?.neededDisks).toEqual(['xvda', 'xvdb']);
    expect(await sha256File(disks.dataDamaged as string)).toBe(before);
  });
  it('a disk whose content cannot be seen into makes a missing UUID a suspicion, not a certainty', async () => {
    const { pre, certain } = await judge(
      spec([
        ['xvda', 'root'],
        ['xvdb', 'empty'],
      ]),
    );
    expect(certain).toBeUndefined();
    expect(pre.bootNeeds?.problems[0]).toMatchObject({ certain: false, cause: { code: 'VMCE' } });
  });
  it('pygrub: the grub entry names a kernel the image lacks: certain UVKE', async () => {
    const { pre, certain } = await judge(pygrubSpec('grubMissing'));
    expect(certain?.reason).toMatch(/pygrub will fail: .* boots kernel \/boot\/vmlinuz-6\.1\.0-99-amd64/);
    expect(pre.causes[0]?.code).toBe('UVKE');
  });
  it('pygrub: root= comes from the grub entry, and the kernel release from its file name', async () => {
    const { pre, certain } = await judge(pygrubSpec('root'));
    expect(certain).toBeUndefined();
    expect(pre.bootNeeds).toMatchObject({
      root: { vdev: 'xvda', partition: 1 },
      grubKernel: `/boot/${KERNEL}`,
    });
  });
  it('root=UUID= with the root disk an unattached loop device: UVDE first, no VMCE claim', async () => {
    const loop = freeLoopDevice();
    if (!loop.device) return;
    const s = spec(
      [
        ['xvda', 'root'],
        ['xvdb', 'data'],
      ],
      { rootDevice: `UUID=${ROOT_UUID}` },
    );
    (s.disks[0] as { target: string }).target = loop.device;
    const { pre, certain } = await judge(s);
    expect(pre.causes[0]).toMatchObject({ code: 'UVDE', disk: 'xvda' });
    expect(pre.causes.map((c) => c.code)).not.toContain('VMCE');
    expect(certain?.reason).toMatch(/xvda|loop/);
  });
  it('root=UUID= naming no filesystem of the VM: certain VMCE', async () => {
    const { certain } = await judge(spec([['xvda', 'data']], { rootDevice: `UUID=${ROOT_UUID}` }));
    expect(certain?.reason).toMatch(`root=UUID=${ROOT_UUID} names a filesystem no disk of the VM has`);
  });
});

/** A newc initramfs (cpio, gzip) holding these module paths: what update-initramfs or dracut leaves. */
function initrdWith(modules: string[]): Buffer {
  const stage = mkdtempSync(path.join(dir, 'initrd-'));
  const names = ['init'];
  writeFileSync(path.join(stage, 'init'), '#!/bin/sh\n');
  for (const m of modules) {
    mkdirSync(path.join(stage, path.dirname(m)), { recursive: true });
    writeFileSync(path.join(stage, m), `module ${m}\n`);
    const parts = m.split('/');
    for (let i = 1; i <= parts.length; i++) names.push(parts.slice(0, i).join('/'));
  }
  const cpio = execFileSync('cpio', ['-o', '-H', 'newc', '--quiet'], {
    cwd: stage,
    input: [...new Set(names)].join('\n'),
  });
  return execFileSync('gzip', ['-c'], { input: cpio });
}

describe('pygrub: the kernel and initrd in the image are checked like a kernel = in dom0', () => {
  const mods = `lib/modules/${VERSION}/kernel`;
  /** A pygrub guest whose /boot holds a PV bzImage, its config and an initrd of these modules. */
  function pygrubGuest(name: string, modules: string[]): { disk: string; cfg: string } {
    const root = rootTree(`t-${name}`, { fstab: `UUID=${ROOT_UUID} / ext4 defaults 0 1\n`, kernel: false });
    writeFileSync(path.join(root, `boot/vmlinuz-${VERSION}`), bzImage(xenElf('pv'), 'gzip'));
    writeFileSync(path.join(root, `boot/config-${VERSION}`), kernelConfig(DEBIAN_CONFIG));
    writeFileSync(
      path.join(root, `boot/initrd.img-${VERSION}`),
      initrdWith(modules.map((m) => `${mods}/${m}`)),
    );
    writeFileSync(
      path.join(root, 'boot/grub/grub.cfg'),
      `menuentry 'Debian' {\n linux /boot/vmlinuz-${VERSION} root=UUID=${ROOT_UUID} ro\n initrd /boot/initrd.img-${VERSION}\n}\n`,
    );
    const disk = partitionedDisk(name, root, ROOT_UUID);
    const cfg = path.join(dir, `${name}.cfg`);
    writeFileSync(
      cfg,
      `name = "g"\ntype = "pv"\nbootloader = "pygrub"\ndisk = [ 'format=raw, vdev=xvda, access=rw, target=${disk}' ]\n`,
    );
    return { disk, cfg };
  }
  it('an initrd without xen-blkfront beside a kernel that has it as a module: certain UVKE, paths name the image', async () => {
    const { disk, cfg } = pygrubGuest('pygrub-noblk', ['fs/ext4/ext4.ko']);
    const before = await sha256File(disk);
    const report = await inspectConfig(cfg);
    expect(report.preflight.kernel?.problems.map((p) => p.code)).toEqual(['BLOCK_FRONTEND_MISSING']);
    expect(report.causes[0]).toMatchObject({ code: 'UVKE' });
    expect(JSON.stringify(report)).not.toContain('vmbootfail-guest-kernel-');
    expect(JSON.stringify(report.preflight.kernel)).toContain('xvda1:/boot');
    expect(certainFailureOf(report.spec, report.preflight)?.reason).toMatch(/xen-blkfront|block frontend/i);
    expect(await sha256File(disk)).toBe(before);
  });
  it('the same image with xen-blkfront in the initrd: the kernel is suitable', async () => {
    const { cfg } = pygrubGuest('pygrub-blk', ['fs/ext4/ext4.ko', 'drivers/block/xen-blkfront.ko']);
    const report = await inspectConfig(cfg);
    expect(report.preflight.kernel?.verdict).toBe('suitable');
    expect(report.verdict).toBe('OK');
  });
});

/**
 * GRUB 2 for Xen as the config's kernel = (pvgrub2: Debian's grub-xen-host, installed by
 * scripts/install-deps.sh): not a Linux kernel, so it is not judged as one; it boots the kernel the
 * guest's grub.cfg names, which is judged instead, as for pygrub.
 */
const PVGRUB = '/usr/lib/grub-xen/grub-x86_64-xen.bin';
const PVGRUB_PVH = '/usr/lib/grub-xen/grub-i386-xen_pvh.bin';
describe.skipIf(!existsSync(PVGRUB))('pvgrub: GRUB 2 for Xen as kernel = (grub-xen-host)', () => {
  const mods = `lib/modules/${VERSION}/kernel`;
  const blk = ['fs/ext4/ext4.ko', 'drivers/block/xen-blkfront.ko'].map((m) => `${mods}/${m}`);
  function pvgrubGuest(
    name: string,
    opts: {
      modules?: string[];
      grub?: boolean;
      kernel?: string;
      compression?: 'gzip' | 'xz' | 'zstd';
      type?: string;
    } = {},
  ) {
    const root = rootTree(`t-${name}`, { fstab: `UUID=${ROOT_UUID} / ext4 defaults 0 1\n`, kernel: false });
    writeFileSync(
      path.join(root, `boot/vmlinuz-${VERSION}`),
      bzImage(xenElf('pv'), opts.compression ?? 'gzip'),
    );
    writeFileSync(path.join(root, `boot/config-${VERSION}`), kernelConfig(DEBIAN_CONFIG));
    writeFileSync(path.join(root, `boot/initrd.img-${VERSION}`), initrdWith(opts.modules ?? blk));
    if (opts.grub ?? true)
      writeFileSync(
        path.join(root, 'boot/grub/grub.cfg'),
        `menuentry 'Debian' {\n linux ${opts.kernel ?? `/boot/vmlinuz-${VERSION}`} root=UUID=${ROOT_UUID} ro\n initrd /boot/initrd.img-${VERSION}\n}\n`,
      );
    const disk = partitionedDisk(name, root, ROOT_UUID);
    const cfg = path.join(dir, `${name}.cfg`);
    writeFileSync(
      cfg,
      `name = "g"\ntype = "${opts.type ?? 'pv'}"\nkernel = "${opts.type === 'pvh' ? PVGRUB_PVH : PVGRUB}"\nmemory = 512\ndisk = [ 'format=raw, vdev=xvda, access=rw, target=${disk}' ]\n`,
    );
    return { disk, cfg };
  }

  it('the PV and the PVH images are recognised; a Linux PV kernel is not', async () => {
    expect(await pvBootloaderOf(PVGRUB)).toBe('pvgrub');
    expect(await pvBootloaderOf(PVGRUB_PVH)).toBe('pvgrub');
    const linux = path.join(dir, 'linux-pv.bzImage');
    writeFileSync(linux, bzImage(xenElf('pv'), 'gzip'));
    expect(await pvBootloaderOf(linux)).toBeUndefined();
    expect(await pvBootloaderOf(path.join(dir, 'no-such-kernel'))).toBeUndefined();
  });

  it('a healthy guest: OK, and the kernel judged is the one grub.cfg boots (not GRUB itself)', async () => {
    const { disk, cfg } = pvgrubGuest('pvgrub-ok');
    const before = await sha256File(disk);
    const report = await inspectConfig(cfg);
    expect(report.preflight.pvBootloader).toBe('pvgrub');
    expect(report.preflight.bootNeeds?.grubKernel).toBe(`/boot/vmlinuz-${VERSION}`);
    expect(report.preflight.kernel?.verdict).toBe('suitable');
    expect(report.verdict).toBe('OK');
    expect(await sha256File(disk)).toBe(before);
  });

  it("the grub.cfg's initrd lacks xen-blkfront: certain UVKE, from the guest's kernel", async () => {
    const { cfg } = pvgrubGuest('pvgrub-noblk', { modules: [`${mods}/fs/ext4/ext4.ko`] });
    const report = await inspectConfig(cfg);
    expect(report.preflight.kernel?.problems.map((p) => p.code)).toEqual(['BLOCK_FRONTEND_MISSING']);
    expect(certainFailureOf(report.spec, report.preflight)?.reason).toMatch(/xen-blkfront|block frontend/i);
  });

  it('the grub.cfg entry names a kernel the image lacks: certain UVKE, said of GRUB in the guest', async () => {
    const { cfg } = pvgrubGuest('pvgrub-nokernel', { kernel: '/boot/vmlinuz-6.1.0-99-amd64' });
    const report = await inspectConfig(cfg);
    expect(certainFailureOf(report.spec, report.preflight)?.reason).toMatch(
      /GRUB \(pvgrub.*boots kernel \/boot\/vmlinuz-6\.1\.0-99-amd64/,
    );
  });

  it("a zstd kernel in a PV guest: GRUB's Xen loader cannot unpack it, certain UVKE before boot", async () => {
    const { disk, cfg } = pvgrubGuest('pvgrub-zstd', { compression: 'zstd' });
    const before = await sha256File(disk);
    const report = await inspectConfig(cfg);
    expect(report.preflight.kernel?.problems.map((p) => p.code)).toEqual(['KERNEL_NOT_LOADABLE_BY_PVGRUB']);
    expect(report.causes[0]).toMatchObject({ code: 'UVKE' });
    expect(certainFailureOf(report.spec, report.preflight)?.reason).toMatch(
      /GRUB \(pvgrub.*cannot load xvda1:\/boot\/vmlinuz-.*zstd-compressed/,
    );
    expect(await sha256File(disk)).toBe(before);
  });

  it('xz and gzip kernels load; a zstd kernel under the PVH image is unpacked by the kernel itself', async () => {
    for (const [name, opts] of [
      ['pvgrub-xz', { compression: 'xz' }],
      ['pvgrub-pvh-zstd', { compression: 'zstd', type: 'pvh' }],
    ] as const) {
      const report = await inspectConfig(pvgrubGuest(name, opts).cfg);
      expect(report.preflight.kernel?.problems ?? [], name).toEqual([]);
      expect(certainFailureOf(report.spec, report.preflight), name).toBeUndefined();
    }
  });

  it('no grub config on any disk: GRUB stops at its prompt, certain DIDF', async () => {
    const { cfg } = pvgrubGuest('pvgrub-nocfg', { grub: false });
    const report = await inspectConfig(cfg);
    expect(report.causes[0]).toMatchObject({ code: 'DIDF' });
    expect(certainFailureOf(report.spec, report.preflight)?.reason).toMatch(/stop at its prompt/);
  });
});
