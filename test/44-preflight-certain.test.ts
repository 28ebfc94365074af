/**
 * What the preflight proves about what the boot needs decides a try at once
 * (issue 9): the root disk and partition, the kernel. A damaged disk the boot
 * does not need is a finding, never a failure.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskInspector } from '../src/disk/inspector.js';
import { certainFailureOf, preflight } from '../src/monitor/pre-checking.js';
import { buildSampleDisks } from '../src/samples/sample-disks.js';
import type { VmSpec } from '../src/xl/vm-spec.js';

let dir: string;
const images: Record<string, string> = {};
const inspector = new DiskInspector();

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vmbf-certain-'));
  for (const s of await buildSampleDisks(dir, [
    'msdos-ext4',
    'whole-disk-ext4',
    'zeroed-partition-table',
    'gpt-primary-zeroed',
    'zeroed-superblock',
  ]))
    images[s.name] = s.path;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function spec(rootDevice: string, disks: [vdev: string, image: string][]): VmSpec {
  return {
    configPath: '/etc/xen/guest.cfg',
    name: 'guest',
    type: 'pv',
    kernel: '/boot/vmlinuz-6.1.0-13-amd64',
    rootDevice,
    disks: disks.map(([vdev, image]) => ({
      vdev,
      target: images[image] as string,
      spec: `${image},raw,${vdev},w`,
    })),
  };
}

async function judge(s: VmSpec) {
  const pre = await preflight(s, { inspectDisk: (p, o) => inspector.inspect(p, o) });
  return { pre, certain: certainFailureOf(s, pre) };
}

describe('certain failures from the preflight', () => {
  it('a healthy root disk: nothing certain', async () => {
    const { certain, pre } = await judge(spec('/dev/xvda1', [['xvda', 'msdos-ext4']]));
    expect(certain).toBeUndefined();
    expect(pre.causes).toEqual([]);
  });
  it('root= names a disk the VM does not have', async () => {
    const { certain, pre } = await judge(spec('/dev/xvdb1', [['xvda', 'msdos-ext4']]));
    expect(certain?.reason).toBe('root=/dev/xvdb1 names a disk the VM does not have');
    expect(pre.causes[0]).toMatchObject({ code: 'VMCE', confidence: 0.9 });
    expect(pre.causes[0]?.remedy).toBe(
      'add xvdb to the disk = [...] line of /etc/xen/guest.cfg, or set root= to a disk it has (xvda) in its extra = "..." line',
    );
  });
  it('no disk at all and root=/dev/xvda1: certain VMCE; with root=/dev/sda1 the preflight leaves it to xenstore', async () => {
    expect((await judge(spec('/dev/xvda1', []))).certain?.reason).toBe(
      'the VM configuration declares no disk, but root=/dev/xvda1 names xvda',
    );
    const sda = await judge(spec('/dev/sda1', []));
    expect(sda.certain).toBeUndefined();
    expect(sda.pre.causes[0]?.code).toBe('VMCE');
  });
  it('root=/dev/xvda1 on a whole-disk filesystem: VMCE, the fix is root=/dev/xvda', async () => {
    const { certain, pre } = await judge(spec('/dev/xvda1', [['xvda', 'whole-disk-ext4']]));
    expect(certain?.reason).toMatch(/names partition 1, but xvda has no partition table/);
    expect(pre.causes[0]).toMatchObject({ code: 'VMCE', disk: 'xvda' });
    expect(pre.causes[0]?.remedy).toBe(
      'set root=/dev/xvda in the extra = "..." (or cmdline) line of the config',
    );
  });
  it('root=/dev/xvda2 on a disk with one partition: VMCE', async () => {
    const { certain, pre } = await judge(spec('/dev/xvda2', [['xvda', 'msdos-ext4']]));
    expect(certain?.reason).toMatch(/names partition 2, but xvda has only partition 1/);
    expect(pre.causes[0]?.code).toBe('VMCE');
  });
  it('a zeroed primary GPT header on the root disk: certain DIDF', async () => {
    const { certain, pre } = await judge(spec('/dev/xvda1', [['xvda', 'gpt-primary-zeroed']]));
    expect(certain?.reason).toBe('the root disk xvda will not mount: GPT_PRIMARY_DAMAGED');
    expect(pre.causes[0]).toMatchObject({ code: 'DIDF', disk: 'xvda' });
    expect(pre.causes[0]?.remedy).toMatch(/^sgdisk -e /);
  });
  it('a damaged data disk the boot does not need: a finding, not a certain failure', async () => {
    const { certain, pre } = await judge(
      spec('/dev/xvda1', [
        ['xvda', 'msdos-ext4'],
        ['xvdb', 'zeroed-superblock'],
      ]),
    );
    expect(certain).toBeUndefined();
    expect(pre.causes.map((c) => `${c.code} ${c.disk}`)).toEqual(['DIDF xvdb']);
  });
  it('the same damage on the root disk is certain', async () => {
    const { certain } = await judge(spec('/dev/xvda1', [['xvda', 'zeroed-superblock']]));
    expect(certain?.reason).toBe('the root disk xvda will not mount: SUPERBLOCK_DAMAGED');
  });
});
