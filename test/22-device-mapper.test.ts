/**
 * A disk that is a device-mapper device, as an LVM logical volume given to a guest (phy:/dev/vg/lv) is.
 * libparted asks device-mapper for its target type through /dev/mapper/control, which the read-only
 * disk thread could not open: the inspection failed with "Unable to determine the dm type" (found by
 * the testbed's deb-normal-lvm case). Needs root and a kernel with device-mapper: the testbed's dom0
 * runs it (npm run test:xen); a host without dm_mod skips it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskInspector } from '../src/disk/inspector.js';
import { buildSampleDisks } from '../src/samples/sample-disks.js';
import { sha256File } from './support/checksum.js';
import { detachLoop } from './support/loop-devices.js';

const dmsetup = spawnSync('dmsetup', ['version'], { encoding: 'utf8' });
const dmReady = process.getuid?.() === 0 && dmsetup.status === 0 && /Driver version/.test(dmsetup.stdout);
const NAME = `vmbf-test-${process.pid}`;

describe.skipIf(!dmReady)('a device-mapper disk (an LVM volume)', () => {
  let dir: string;
  let image: string;
  let loop: string | undefined;
  const inspector = new DiskInspector();

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vmbf-dm-'));
    const built = await buildSampleDisks(dir, ['msdos-ext4']);
    image = built.find((b) => b.name === 'msdos-ext4')?.path as string;
    loop = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim();
    const sectors = execFileSync('blockdev', ['--getsz', loop], { encoding: 'utf8' }).trim();
    execFileSync('dmsetup', ['create', NAME, '--table', `0 ${sectors} linear ${loop} 0`]);
    execFileSync('udevadm', ['settle'], { stdio: 'ignore' });
  });

  afterAll(async () => {
    spawnSync('dmsetup', ['remove', NAME]);
    if (loop) detachLoop(loop);
    await rm(dir, { recursive: true, force: true });
  });

  it('is inspected like any disk: its partition and filesystem found, nothing written', async () => {
    const before = await sha256File(image);
    // Rejects (ERR_PARTED_DEVICE) where libparted cannot ask device-mapper.
    const inspection = await inspector.inspect(`/dev/mapper/${NAME}`);
    expect(inspection.kind).toBe('block-device');
    expect(inspection.partitions.map((p) => p.filesystem?.type)).toEqual(['ext4']);
    expect(inspection.findings).toEqual([]);
    expect(inspection.libraryMessages).toEqual([]);
    expect(await sha256File(image)).toBe(before);
  });
});
