import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyseVirtualDisks } from '../src/analysis/virtual-disk-analysis.js';
import { type DiskInspection, DiskInspector } from '../src/disk/inspector.js';
import { inspectVmDisks } from '../src/monitor/virtual-disk-information-inspector.js';
import { type SampleDisk, buildSampleDisks } from '../src/samples/sample-disks.js';
import { xxhash64 } from '../src/util/xxhash64.js';
import { sha256File } from './support/checksum.js';
import { attachLoop, detachLoop, freeLoopDevice } from './support/loop-devices.js';

const run = promisify(execFile);
let dir: string;
let samples: Map<string, SampleDisk>;
const checksumsBefore = new Map<string, string>();
const inspector = new DiskInspector();

function sample(name: string): string {
  const s = samples.get(name);
  if (!s) throw new Error(`no sample ${name}`);
  return s.path;
}

/** The parts of an inspection that must match exactly. */
function summary(d: DiskInspection) {
  return {
    label: d.label,
    partitions: d.partitions.map((p) => ({
      number: p.number,
      start: p.startSector,
      fs: p.filesystem.type,
      ext: p.filesystem.ext?.primary,
      backup: p.filesystem.ext?.backupSuperblock,
    })),
    wholeDisk: d.wholeDisk
      ? { fs: d.wholeDisk.type, ext: d.wholeDisk.ext?.primary, backup: d.wholeDisk.ext?.backupSuperblock }
      : undefined,
    gpt: d.gpt,
    findings: d.findings.map((f) => f.code),
  };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vmbf-disks-'));
  samples = new Map((await buildSampleDisks(dir)).map((s) => [s.name, s]));
  for (const s of samples.values()) checksumsBefore.set(s.path, await sha256File(s.path));
});

afterAll(async () => {
  // Inspection must never write: every image is byte-for-byte what was built.
  for (const [file, before] of checksumsBefore) expect(await sha256File(file), file).toBe(before);
  await rm(dir, { recursive: true, force: true });
});

describe('disk inspection of built images', () => {
  it('msdos + ext4: one healthy partition, no findings', async () => {
    const d = await inspector.inspect(sample('msdos-ext4'));
    expect(summary(d)).toEqual({
      label: 'msdos',
      partitions: [{ number: 1, start: 2048, fs: 'ext4', ext: 'valid', backup: undefined }],
      wholeDisk: undefined,
      gpt: undefined,
      findings: [],
    });
    expect(d.openedReadOnly).toBe(true);
    expect(d.libraryMessages).toEqual([]);
    expect(d.partitions[0]?.lengthSectors).toBe(129024);
  });

  it('gpt + ext4', async () => {
    const d = await inspector.inspect(sample('gpt-ext4'));
    expect(summary(d)).toEqual({
      label: 'gpt',
      partitions: [{ number: 1, start: 2048, fs: 'ext4', ext: 'valid', backup: undefined }],
      wholeDisk: undefined,
      gpt: { primaryHeader: 'valid', backupHeader: 'not-needed' },
      findings: [],
    });
  });

  it('whole-disk ext4 is libparted label "loop" with the filesystem on the whole disk', async () => {
    const d = await inspector.inspect(sample('whole-disk-ext4'));
    expect(summary(d)).toEqual({
      label: 'loop',
      partitions: [],
      wholeDisk: { fs: 'ext4', ext: 'valid', backup: undefined },
      gpt: undefined,
      findings: [],
    });
  });

  it('zeroed MBR: no table, and the orphaned ext4 at sector 2048 is named in the remedy', async () => {
    const d = await inspector.inspect(sample('zeroed-partition-table'));
    expect(summary(d)).toEqual({
      label: 'none',
      partitions: [],
      wholeDisk: { fs: null, ext: undefined, backup: undefined },
      gpt: undefined,
      findings: ['NO_PARTITION_TABLE'],
    });
    expect(d.findings[0]?.message).toContain('an ext4 filesystem starts at sector 2048');
    expect(d.findings[0]?.remedy).toBe(`parted -s ${d.path} mklabel msdos mkpart primary ext4 2048s 100%`);
  });

  it('zeroed superblock: backup superblock 8193 (1 KiB blocks) and the exact e2fsck command', async () => {
    const d = await inspector.inspect(sample('zeroed-superblock'));
    expect(summary(d)).toEqual({
      label: 'msdos',
      partitions: [
        { number: 1, start: 2048, fs: null, ext: 'bad-magic', backup: { block: 8193, blockSize: 1024 } },
      ],
      wholeDisk: undefined,
      gpt: undefined,
      findings: ['SUPERBLOCK_DAMAGED'],
    });
    expect(d.findings[0]?.partition).toBe(1);
    expect(d.findings[0]?.remedy).toBe(`e2fsck -b 8193 -B 1024 '${d.path}?offset=1048576'`);
  });

  it('broken superblock checksum: caught (libparted and libblkid still say ext4)', async () => {
    const d = await inspector.inspect(sample('superblock-checksum'));
    expect(summary(d)).toEqual({
      label: 'msdos',
      partitions: [
        { number: 1, start: 2048, fs: 'ext4', ext: 'bad-checksum', backup: { block: 8193, blockSize: 1024 } },
      ],
      wholeDisk: undefined,
      gpt: undefined,
      findings: ['SUPERBLOCK_CHECKSUM'],
    });
    expect(d.findings[0]?.message).toContain('superblock checksum does not match');
    expect(d.findings[0]?.kernelSays).toBe(
      'VFS: Found ext4 filesystem with invalid superblock checksum.  Run e2fsck?',
    );
  });

  it('an msdos image cut short: the partition runs past the end; named with the size to restore, no probe past the end', async () => {
    const d = await inspector.inspect(sample('truncated-image'));
    expect(summary(d)).toEqual({
      label: 'msdos',
      partitions: [{ number: 1, start: 2048, fs: 'ext4', ext: 'valid', backup: undefined }],
      wholeDisk: undefined,
      gpt: undefined,
      findings: ['IMAGE_TRUNCATED'],
    });
    expect(d.findings[0]).toMatchObject({
      partition: 1,
      message: `partition 1 of ${d.path} ends at sector 131072, but the disk has only 65536 sectors: the image was cut short`,
    });
    expect(d.findings[0]?.remedy).toBe(
      `restore the complete image ${d.path} from its source; if the lost tail held no data: truncate -s 67108864 ${d.path}, then e2fsck -f '${d.path}?offset=1048576'`,
    );
    // libparted's own complaint is explained by the finding, not repeated as PARTED_ERROR.
    expect(d.libraryMessages.map((m) => m.message)).toContain("Can't have a partition outside the disk!");
  });

  it('a GPT image cut short: libparted reads past the end and drops the partition; IMAGE_TRUNCATED', async () => {
    const d = await inspector.inspect(sample('truncated-gpt'));
    expect(summary(d)).toMatchObject({ label: 'gpt', partitions: [], findings: ['IMAGE_TRUNCATED'] });
    expect(d.findings[0]?.message).toContain('libparted read past the end of');
  });

  it('a whole-disk ext4 image cut short: the filesystem needs more blocks than the image holds', async () => {
    const file = path.join(dir, 'whole-disk-truncated.img');
    await copyFile(sample('whole-disk-ext4'), file);
    await truncate(file, 32 * 1024 * 1024);
    const before = await sha256File(file);
    const d = await inspector.inspect(file);
    expect(summary(d)).toEqual({
      label: 'loop',
      partitions: [],
      wholeDisk: { fs: 'ext4', ext: 'valid', backup: undefined },
      gpt: undefined,
      findings: ['IMAGE_TRUNCATED'],
    });
    expect(d.findings[0]?.message).toBe(
      `the filesystem on ${file} needs 67108864 bytes (65536 blocks of 1024), but only 33554432 remain: the image was cut short`,
    );
    expect(await sha256File(file)).toBe(before);
  });

  it('zeroed GPT primary header: libparted sees no label, the backup header still lists the partition', async () => {
    const d = await inspector.inspect(sample('gpt-primary-zeroed'));
    expect(summary(d)).toEqual({
      label: 'none',
      partitions: [{ number: 1, start: 2048, fs: 'ext4', ext: 'valid', backup: undefined }],
      wholeDisk: { fs: null, ext: undefined, backup: undefined },
      gpt: { primaryHeader: 'damaged', backupHeader: 'valid' },
      findings: ['GPT_PRIMARY_DAMAGED'],
    });
  });

  it('corrupt GPT primary CRC: libparted warns (answered OK, never Fix) and uses the backup', async () => {
    const d = await inspector.inspect(sample('gpt-primary-bad-crc'));
    expect(summary(d)).toEqual({
      label: 'gpt',
      partitions: [{ number: 1, start: 2048, fs: 'ext4', ext: 'valid', backup: undefined }],
      wholeDisk: undefined,
      gpt: { primaryHeader: 'damaged', backupHeader: 'valid' },
      findings: ['GPT_PRIMARY_DAMAGED'],
    });
    expect(d.libraryMessages).toEqual([
      {
        type: 'error',
        message: 'The primary GPT table is corrupt, but the backup appears OK, so that will be used.',
        answer: 'ok',
      },
    ]);
  });

  it('whole-disk ext4 with its first 4 KiB zeroed: backup superblock found', async () => {
    const d = await inspector.inspect(sample('whole-disk-zeroed-4k'));
    expect(summary(d)).toEqual({
      label: 'none',
      partitions: [],
      wholeDisk: { fs: null, ext: 'bad-magic', backup: { block: 8193, blockSize: 1024 } },
      gpt: undefined,
      findings: ['SUPERBLOCK_DAMAGED'],
    });
    expect(d.findings[0]?.remedy).toBe(`e2fsck -b 8193 -B 1024 ${d.path}`);
  });

  it.each([
    ['msdos-xfs', 'xfs'],
    ['msdos-btrfs', 'btrfs'],
  ])('%s: filesystem named, no ext check, no findings', async (name, fs) => {
    const d = await inspector.inspect(sample(name));
    expect(summary(d)).toEqual({
      label: 'msdos',
      partitions: [{ number: 1, start: 2048, fs, ext: undefined, backup: undefined }],
      wholeDisk: undefined,
      gpt: undefined,
      findings: [],
    });
  });

  it('every sample says what its description promises', async () => {
    for (const s of samples.values()) {
      const d = await inspector.inspect(s.path);
      expect(
        d.findings.map((f) => f.code),
        s.name,
      ).toEqual(s.expectFindings);
    }
  });
});

describe('bad input gets a precise typed error', () => {
  it.each([
    ['missing path', async () => '/nonexistent/disk.img', 'ERR_DISK_NOT_FOUND', 'does not exist'],
    ['directory', async () => dir, 'ERR_DISK_IS_DIRECTORY', 'is a directory'],
    [
      '0-byte file',
      async () => {
        const f = path.join(dir, 'empty.img');
        await writeFile(f, '');
        return f;
      },
      'ERR_DISK_EMPTY',
      'empty (0-byte)',
    ],
    ['/dev/null', async () => '/dev/null', 'ERR_DISK_NOT_BLOCK_OR_FILE', 'is a character device'],
  ])('%s', async (_name, target, code, words) => {
    const p = await target();
    await expect(inspector.inspect(p)).rejects.toMatchObject({ name: 'VmbootfailError', code, path: p });
    await expect(inspector.inspect(p)).rejects.toThrow(words);
  });

  it('non-string path', async () => {
    await expect(inspector.inspect(42 as unknown as string)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    });
  });

  it('a file that is not a disk at all (random bytes) is inspected, not a crash', async () => {
    const f = path.join(dir, 'garbage.img');
    await writeFile(f, Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 7919) % 251)));
    const d = await inspector.inspect(f);
    expect(d.label).toBe('none');
    expect(d.findings.map((x) => x.code)).toEqual(['NO_PARTITION_TABLE']);
  });
});

describe('loop devices', () => {
  const free = freeLoopDevice();

  it.skipIf(!free.device)(
    `an unattached loop device is LOOP_UNATTACHED with the losetup fix ${free.reason ?? ''}`,
    async () => {
      const device = free.device as string;
      const d = await inspector.inspect(device);
      expect(d.kind).toBe('block-device');
      expect(d.loop).toEqual({ attached: false });
      expect(d.findings).toEqual([
        expect.objectContaining({
          code: 'LOOP_UNATTACHED',
          remedy: `losetup ${device} IMAGE_FILE  # IMAGE_FILE: the image this device should hold`,
        }),
      ]);
    },
  );

  it.skipIf(!free.device)(
    'an attached loop device is inspected through the block layer, read-only',
    async () => {
      const img = sample('zeroed-superblock');
      const attached = attachLoop(img);
      expect(attached.reason).toBeUndefined();
      const device = attached.device as string;
      try {
        const d = await inspector.inspect(device);
        expect(d.loop).toMatchObject({ attached: true, backingFile: img });
        expect(d.label).toBe('msdos');
        expect(d.findings.map((f) => f.code)).toEqual(['SUPERBLOCK_DAMAGED']);
        expect(d.findings[0]?.remedy).toBe(`e2fsck -b 8193 -B 1024 ${device}p1`);
        expect(d.openedReadOnly).toBe(true);
      } finally {
        detachLoop(device);
      }
    },
  );
});

describe('an image that is only readable by its owner (0600) is still inspected read-only', () => {
  it('works as root through CAP_DAC_READ_SEARCH on the disk thread', async () => {
    const sub = path.join(dir, 'private');
    await mkdir(sub, { mode: 0o700 });
    const f = path.join(sub, 'private.img');
    await buildSampleDisks(sub, ['msdos-ext4']).then(async ([s]) => {
      const { rename, chmod } = await import('node:fs/promises');
      await rename(s?.path as string, f);
      await chmod(f, 0o600);
    });
    const before = await sha256File(f);
    const d = await inspector.inspect(f);
    expect(d.label).toBe('msdos');
    expect(d.openedReadOnly).toBe(process.geteuid?.() === 0);
    expect(await sha256File(f)).toBe(before);
  });
});

describe('what the guest kernel would refuse (the mount model, issue 8)', () => {
  const only = (d: DiskInspection) =>
    d.findings.map((f) => ({
      code: f.code,
      severity: f.severity,
      kernelSays: f.kernelSays,
      remedy: f.remedy,
    }));
  it('group 1 inode table outside its group: will not mount, the kernel line, e2fsck', async () => {
    const img = sample('group-descriptor-outside');
    const d = await inspector.inspect(img);
    expect(d.wholeDisk?.mount).toBe('will-not-mount');
    expect(only(d)).toEqual([
      {
        code: 'GROUP_DESCRIPTORS_CORRUPT',
        severity: 'will-not-mount',
        kernelSays: 'ext4_check_descriptors: Inode table for group 1 not in group (block 5)!',
        remedy: `e2fsck -f ${img}`,
      },
    ]);
  });
  it('a zeroed journal superblock: will not mount ("error loading journal")', async () => {
    const img = sample('journal-superblock-zeroed');
    const d = await inspector.inspect(img);
    expect(only(d)).toEqual([
      {
        code: 'JOURNAL_DAMAGED',
        severity: 'will-not-mount',
        kernelSays: 'JBD2: no valid journal superblock found',
        remedy: `e2fsck -f ${img}  # or drop the journal and make a new one: tune2fs -f -O ^has_journal ${img} && tune2fs -j ${img}`,
      },
    ]);
  });
  it('a feature bit no Linux knows: DIDF, e2fsck from the backup superblock that lacks it', async () => {
    const img = sample('feature-no-linux-knows');
    const d = await inspector.inspect(img, { guestKernel: '6.1.0-13-amd64' });
    expect(only(d)).toEqual([
      {
        code: 'FEATURE_UNSUPPORTED',
        severity: 'will-not-mount',
        kernelSays: "Couldn't mount because of unsupported optional features (1000)",
        remedy: `e2fsck -b 8193 -B 1024 ${img}`,
      },
    ]);
    expect(d.findings[0]?.family).toBeUndefined(); // no Linux knows it: damage, not an old kernel
  });
  it('a feature an older guest kernel lacks: UVKE with the version that has it', async () => {
    const img = sample('whole-disk-ext4');
    // mke2fs 1.47 sets metadata_csum and 64bit: Linux 3.2 mounts neither read-write.
    const d = await inspector.inspect(img, { guestKernel: '3.2.0-4-amd64' });
    const f = d.findings.find((x) => x.code === 'FEATURE_UNSUPPORTED');
    expect(f?.family).toBe('UVKE');
    expect(f?.message).toMatch(/Linux 3\.2 does not know/);
    // On a current kernel the same image is healthy.
    expect((await inspector.inspect(img, { guestKernel: '6.1.0-13-amd64' })).findings).toEqual([]);
  });
  it('an xfs feature an older guest kernel lacks: the bits as the kernel prints them, the LTS mkfs profile', async () => {
    const img = sample('msdos-xfs');
    // bookworm's mkfs.xfs sets bigtime (incompat 0x8, Linux 5.10): Debian 10's 4.19 refuses the mount.
    const d = await inspector.inspect(img, { guestKernel: '4.19.0-27-amd64' });
    const f = d.findings.find((x) => x.code === 'FEATURE_UNSUPPORTED');
    expect(f).toMatchObject({
      family: 'UVKE',
      severity: 'will-not-mount',
      kernelSays: 'Superblock has unknown incompatible features (0x8) enabled.',
      remedy:
        'boot a newer guest kernel, or make the filesystem again with mkfs.xfs -c options=/usr/share/xfsprogs/mkfs/lts_4.19.conf and copy the files',
    });
    // A kernel with no xfsprogs profile of its own gets the option that turns the feature off.
    const other = await inspector.inspect(img, { guestKernel: '5.3.0' });
    expect(other.findings.find((x) => x.code === 'FEATURE_UNSUPPORTED')?.remedy).toBe(
      'boot a newer guest kernel, or make the filesystem again with mkfs.xfs -m bigtime=0 and copy the files',
    );
    expect((await inspector.inspect(img, { guestKernel: '6.1.0-13-amd64' })).findings).toEqual([]);
  });
  it('a FAT floppy is a whole-disk filesystem, not a broken msdos table', async () => {
    const d = await inspector.inspect(sample('fat-floppy'));
    expect(d.findings).toEqual([]);
    expect(d.wholeDisk?.type).toBe('vfat');
  });
  it('populated btrfs in several layouts: every tree block the kernel reads at mount passes its checks', async () => {
    // mkfs.btrfs --rootdir fills the trees without mounting: many leaves in the extent, fs and
    // checksum trees, DUP metadata copies, mixed block groups, 4 KiB and 64 KiB nodes, other checksums.
    const layouts: string[][] = [
      [],
      ['-m', 'dup'],
      ['-M'],
      ['-n', '4096'],
      ['-n', '65536'],
      ['--csum', 'xxhash'],
    ];
    for (const [i, args] of layouts.entries()) {
      const img = path.join(dir, `btrfs-populated-${i}.img`);
      await truncate(img, 0).catch(() => undefined);
      await run('truncate', ['-s', '512M', img]);
      await run('mkfs.btrfs', ['-q', '-f', ...args, '-r', path.join(import.meta.dirname, '..', 'src'), img]);
      const before = await sha256File(img);
      const d = await inspector.inspect(img);
      expect(d.wholeDisk?.type, args.join(' ')).toBe('btrfs');
      expect(d.findings, args.join(' ')).toEqual([]);
      expect(await sha256File(img)).toBe(before);
    }
  });
  it('a two-device btrfs: one disk alone will not mount (the kernel misses the other); the VM given both mounts it', async () => {
    const a = path.join(dir, 'btrfs-raid1-a.img');
    const b = path.join(dir, 'btrfs-raid1-b.img');
    await run('truncate', ['-s', '256M', a, b]);
    await run('mkfs.btrfs', ['-q', '-f', '-m', 'raid1', '-d', 'raid1', a, b]);
    const alone = await inspector.inspect(a);
    expect(alone.wholeDisk?.mount).toBe('will-not-mount');
    expect(alone.findings.map((f) => f.code)).toEqual(['DEVICES_MISSING']);
    expect(alone.findings[0]?.kernelSays).toMatch(/^devid 2 uuid [0-9a-f-]{36} is missing$/);
    const vm = await inspectVmDisks(
      [
        { vdev: 'xvda', target: a, spec: `${a},raw,xvda,rw` },
        { vdev: 'xvdb', target: b, spec: `${b},raw,xvdb,rw` },
      ],
      (p, o) => inspector.inspect(p, o),
    );
    expect(vm.map((r) => [r.disk.vdev, r.inspection?.wholeDisk?.mount, r.inspection?.findings])).toEqual([
      ['xvda', 'mounts', []],
      ['xvdb', 'mounts', []],
    ]);
    // Given only the first disk, the VM's root cannot mount: the config lacks the second (VMCE).
    const half = await inspectVmDisks([{ vdev: 'xvda', target: a, spec: `${a},raw,xvda,rw` }], (p, o) =>
      inspector.inspect(p, o),
    );
    expect(analyseVirtualDisks(half).map((c) => [c.code, c.disk])).toEqual([['VMCE', 'xvda']]);
  });
  it("xxhash64 (btrfs csum type 1) gives the reference implementation's values", () => {
    const vectors: [string, string][] = [
      ['', 'ef46db3751d8e999'],
      ['a', 'd24ec4f1a98c6e5b'],
      ['abc', '44bc2cf5ad770999'],
      ['Nobody inspects the spammish repetition', 'fbcea83c8a378bf1'],
    ];
    for (const [text, want] of vectors)
      expect(xxhash64(Buffer.from(text)).toString(16).padStart(16, '0')).toBe(want);
  });
  it('names are quoted in every fix: a path with a space and a quote', async () => {
    const img = path.join(dir, "it's a disk.img");
    await copyFile(sample('zeroed-superblock'), img);
    const d = await inspector.inspect(img);
    expect(d.findings[0]?.remedy).toBe(
      `e2fsck -b 8193 -B 1024 'it'\\''s a disk.img?offset=1048576'`.replace('it', `${dir}/it`),
    );
    await rm(img);
  });
});
