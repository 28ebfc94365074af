/**
 * The Debian 12 guest's cases (issue 11), recorded on the real Xen testbed
 * (test/fixtures/timelines/deb-*), replayed through the engine off-Xen. The
 * disks the preflight reads are built here to match each case (a systemd root
 * with fstab by UUID and a grub config, a data disk, the same damage), and the
 * kernel check reads a real bzImage, config and cpio initrd.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskInspector } from '../src/disk/inspector.js';
import { ReplayDriver } from '../src/driver/replay-driver.js';
import { BootTest, type BootTestReport } from '../src/engine/boot-test.js';
import { checkKernelSuitability } from '../src/kernel/kernel-suitability.js';
import { pvBootloaderOf } from '../src/kernel/pv-bootloader.js';
import type { VmSpec } from '../src/xl/vm-spec.js';
import { newConsoleMatcher } from './support/console.js';
import { DEBIAN_CONFIG, VERSION, bzImage, kernelConfig, xenElf } from './support/kernel-fixtures.js';
import { freeLoopDevice } from './support/loop-devices.js';
import { recorded } from './support/timelines.js';

const ROOT_UUID = '6b0e0e5c-3d1f-4c2b-9a8e-1f2d3c4b4a01';
const DATA_UUID = '6b0e0e5c-3d1f-4c2b-9a8e-1f2d3c4b4a02';
const OTHER_UUID = '0d0d0d0d-1111-4222-8333-444455556666';
const inspector = new DiskInspector();
let dir: string;
const img: Record<string, string> = {};
let kernelDir: string;

function sh(cmd: string, args: string[], input?: Buffer | string): Buffer {
  return execFileSync(cmd, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(input !== undefined ? { input } : {}),
  });
}

function debianTree(name: string, grubKernel = VERSION): string {
  const root = path.join(dir, name);
  for (const d of ['etc', 'usr/lib/systemd', 'usr/sbin', 'boot/grub', 'data'])
    mkdirSync(path.join(root, d), { recursive: true });
  symlinkSync('usr/lib', path.join(root, 'lib'));
  symlinkSync('usr/sbin', path.join(root, 'sbin'));
  writeFileSync(path.join(root, 'usr/lib/systemd/systemd'), 'systemd\n');
  symlinkSync('../lib/systemd/systemd', path.join(root, 'usr/sbin/init'));
  writeFileSync(
    path.join(root, 'etc/fstab'),
    `UUID=${ROOT_UUID} / ext4 errors=remount-ro 0 1\nUUID=${DATA_UUID} /data ext4 defaults 0 2\n`,
  );
  writeFileSync(path.join(root, `boot/vmlinuz-${VERSION}`), bzImage(xenElf('pv'), 'gzip'));
  writeFileSync(path.join(root, `boot/initrd.img-${VERSION}`), 'initrd\n');
  writeFileSync(
    path.join(root, 'boot/grub/grub.cfg'),
    `set default=0\nmenuentry 'Debian GNU/Linux 12 (bookworm)' {\n\tlinux /boot/vmlinuz-${grubKernel} root=UUID=${ROOT_UUID} ro console=hvc0\n\tinitrd /boot/initrd.img-${grubKernel}\n}\n`,
  );
  return root;
}

function rootDisk(name: string, tree: string, damage?: 'superblock'): string {
  const fs = path.join(dir, `${name}.fs`);
  const disk = path.join(dir, `${name}.img`);
  sh('mke2fs', ['-q', '-F', '-t', 'ext4', '-U', ROOT_UUID, '-d', tree, fs, '24M']);
  sh('truncate', ['-s', '28M', disk]);
  sh('parted', ['-s', disk, 'mklabel', 'msdos', 'mkpart', 'primary', 'ext4', '2048s', '51199s']);
  sh('dd', [`if=${fs}`, `of=${disk}`, 'bs=512', 'seek=2048', 'conv=notrunc', 'status=none']);
  if (damage === 'superblock')
    sh('dd', ['if=/dev/zero', `of=${disk}`, 'bs=512', 'seek=2048', 'count=8', 'conv=notrunc', 'status=none']);
  rmSync(fs);
  return disk;
}

function dataDisk(name: string, uuid: string, damage?: 'superblock'): string {
  const disk = path.join(dir, `${name}.img`);
  sh('mke2fs', ['-q', '-F', '-t', 'ext4', '-U', uuid, disk, '16M']);
  if (damage === 'superblock')
    sh('dd', ['if=/dev/zero', `of=${disk}`, 'bs=4096', 'count=1', 'conv=notrunc', 'status=none']);
  return disk;
}

/** A newc initrd (cpio, gzip) with these modules of the guest kernel. */
function initrd(name: string, modules: string[]): string {
  const stage = mkdtempSync(path.join(dir, 'initrd-'));
  const names = new Set(['init']);
  writeFileSync(path.join(stage, 'init'), '#!/bin/sh\n');
  for (const m of modules) {
    const file = `lib/modules/${VERSION}/kernel/${m}`;
    mkdirSync(path.join(stage, path.dirname(file)), { recursive: true });
    writeFileSync(path.join(stage, file), 'module\n');
    const parts = file.split('/');
    for (let i = 1; i <= parts.length; i++) names.add(parts.slice(0, i).join('/'));
  }
  const cpio = execFileSync('cpio', ['-o', '-H', 'newc', '--quiet'], {
    cwd: stage,
    input: [...names].join('\n'),
  });
  const out = path.join(kernelDir, name);
  writeFileSync(out, sh('gzip', ['-c'], cpio));
  return out;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vmbf-deb-'));
  kernelDir = path.join(dir, 'dom0-boot');
  mkdirSync(kernelDir);
  writeFileSync(path.join(kernelDir, `vmlinuz-${VERSION}`), bzImage(xenElf('pv'), 'gzip'));
  writeFileSync(path.join(kernelDir, `config-${VERSION}`), kernelConfig(DEBIAN_CONFIG));
  img.initrd = initrd(`initrd.img-${VERSION}`, ['fs/ext4/ext4.ko', 'drivers/block/xen-blkfront.ko']);
  img.dracutNoBlk = initrd('initrd-dracut-noblk.img', ['fs/ext4/ext4.ko']);
  img.root = rootDisk('deb-root', debianTree('t-root'));
  img.rootDidf = rootDisk('deb-root-didf', debianTree('t-didf'), 'superblock');
  img.rootGrubMissing = rootDisk('deb-root-grub', debianTree('t-grub', '6.1.0-13-amd64'));
  img.data = dataDisk('deb-data', DATA_UUID);
  img.dataOther = dataDisk('deb-data-other', OTHER_UUID);
  img.dataDamaged = dataDisk('deb-data-damaged', DATA_UUID, 'superblock');
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Disks = [vdev: string, target: string][];
function spec(disks: Disks, extra: Partial<VmSpec> = {}): VmSpec {
  return {
    configPath: '/etc/xen/deb.cfg',
    name: 'deb',
    type: 'pv',
    kernel: path.join(kernelDir, `vmlinuz-${VERSION}`),
    ramdisk: img.initrd as string,
    rootDevice: `UUID=${ROOT_UUID}`,
    disks: disks.map(([vdev, target]) => ({
      vdev,
      device: 51712 + 16 * (vdev.charCodeAt(3) - 97), // xvda 51712, xvdb 51728
      target,
      spec: `format=raw, vdev=${vdev}, access=rw, target=${target}`,
    })),
    ...extra,
  };
}
const pygrub = (disks: Disks): VmSpec => {
  const s = spec(disks, { bootloader: 'pygrub' });
  s.kernel = undefined;
  s.ramdisk = undefined;
  s.rootDevice = undefined;
  return s;
};

const PVGRUB = '/usr/lib/grub-xen/grub-x86_64-xen.bin';
const pvgrub = (disks: Disks): VmSpec => {
  const s = spec(disks, { kernel: PVGRUB });
  s.ramdisk = undefined;
  s.rootDevice = undefined;
  return s;
};

// bootDespitePreflight: a recording is of a domain that was created, so replaying it means creating one.
async function replay(name: string, vm: VmSpec, bootDespitePreflight = true): Promise<BootTestReport> {
  const driver = new ReplayDriver({
    tries: [recorded(name)],
    inspectDisk: (p, o) => inspector.inspect(p, o),
  });
  return new BootTest(vm, driver, {
    consoleMatcher: newConsoleMatcher,
    retries: 0,
    timeLimitMs: 450_000,
    bootDespitePreflight,
    pvBootloaderOf,
    // The kernel a grub.cfg boots (pygrub, pvgrub) is not checked in a replay: test/46 checks it.
    checkKernel: async (s, rootFsType, fromImage) =>
      s.kernel && !fromImage
        ? checkKernelSuitability(
            { kernel: s.kernel, ...(s.ramdisk ? { ramdisk: s.ramdisk } : {}), rootFsType },
            { readnotes: false },
          )
        : undefined,
  }).run();
}

const both = (): Disks => [
  ['xvda', img.root as string],
  ['xvdb', img.data as string],
];

describe('Debian 12 guest recorded on real Xen: normal boots in every mode are OK', () => {
  for (const [name, vm] of [
    ['deb-normal-pv', () => spec(both())],
    ['deb-normal-pygrub', () => pygrub(both())],
    ['deb-normal-pvh', () => spec(both(), { type: 'pvh' })],
    ['deb-normal-dracut', () => spec(both())],
    // Recorded with the root disk an LVM volume in dom0; replayed here on the image it holds.
    ['deb-normal-lvm', () => spec(both())],
    // kernel = GRUB 2 for Xen (grub-xen-host, installed by scripts/install-deps.sh): the grub.cfg's kernel boots.
    ['deb-normal-pvgrub', () => pvgrub(both())],
  ] as const) {
    it(name, async () => {
      const report = await replay(name, vm());
      expect(report.verdict).toBe('OK');
      expect(report.causes).toEqual([]);
    });
  }
});

describe('Debian 12 guest faults recorded on real Xen: each decided when the domain exists', () => {
  const decidedAtCreation = (r: BootTestReport) => {
    expect(r.verdict).toBe('PERMANENT');
    const t = r.tries[0]?.times;
    expect(t?.verdictMs).toBe(t?.hardwareCreationMs);
  };
  it('deb-vmce: root=UUID= with only the data disk attached is VMCE', async () => {
    const r = await replay('deb-vmce', spec([['xvdb', img.data as string]]));
    decidedAtCreation(r);
    expect(r.causes[0]).toMatchObject({ code: 'VMCE' });
  });
  const loop = freeLoopDevice();
  it.skipIf(!loop.device)('deb-uvde: the root disk an unattached loop device is UVDE on xvda', async () => {
    const r = await replay(
      'deb-uvde',
      spec([
        ['xvda', loop.device as string],
        ['xvdb', img.data as string],
      ]),
    );
    decidedAtCreation(r);
    expect(r.causes[0]).toMatchObject({ code: 'UVDE', disk: 'xvda' });
  });
  it('deb-didf-superblock: the root superblock zeroed is DIDF on xvda, found by its backup UUID', async () => {
    const r = await replay(
      'deb-didf-superblock',
      spec([
        ['xvda', img.rootDidf as string],
        ['xvdb', img.data as string],
      ]),
    );
    decidedAtCreation(r);
    expect(r.causes[0]).toMatchObject({ code: 'DIDF', disk: 'xvda' });
  });
  it('deb-uvke-dracut-without-blkfront: the ramdisk lacks xen-blkfront, the kernel has it as a module: UVKE', async () => {
    const r = await replay(
      'deb-uvke-dracut-without-blkfront',
      spec(both(), { ramdisk: img.dracutNoBlk as string }),
    );
    decidedAtCreation(r);
    expect(r.causes[0]).toMatchObject({ code: 'UVKE' });
  });
  it('deb-fstab-uuid-missing: fstab mounts a UUID no disk has: VMCE at creation, not after the 90 s timeout', async () => {
    const r = await replay(
      'deb-fstab-uuid-missing',
      spec([
        ['xvda', img.root as string],
        ['xvdb', img.dataOther as string],
      ]),
    );
    decidedAtCreation(r);
    expect(r.causes[0]).toMatchObject({ code: 'VMCE' });
    expect(r.tries[0]?.times.verdictMs).toBeLessThan(20_000); // emergency mode came at 129 s
  });
  it('deb-data-disk-damaged: the data disk fstab needs will not mount: DIDF on xvdb', async () => {
    const r = await replay(
      'deb-data-disk-damaged',
      spec([
        ['xvda', img.root as string],
        ['xvdb', img.dataDamaged as string],
      ]),
    );
    decidedAtCreation(r);
    expect(r.causes[0]).toMatchObject({ code: 'DIDF', disk: 'xvdb' });
  });
  it('deb-pygrub-missing-kernel: xl create fails in pygrub; the cause is the missing kernel (UVKE), xl text kept', async () => {
    const r = await replay(
      'deb-pygrub-missing-kernel',
      pygrub([
        ['xvda', img.rootGrubMissing as string],
        ['xvdb', img.data as string],
      ]),
    );
    expect(r.verdict).toBe('PERMANENT');
    expect(r.causes[0]).toMatchObject({ code: 'UVKE', disk: 'xvda' });
    expect(JSON.stringify(r.causes)).toContain('bootloader failed');
  });
});
