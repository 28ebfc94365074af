/** In-process disk inspection against spawning `parted -s IMG unit s print`. */
import { execFile } from 'node:child_process';
import { truncate } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { DiskInspector } from '../src/disk/inspector.js';
import { nativeAddon } from '../src/native/loader.js';
import { buildSampleDisks } from '../src/samples/sample-disks.js';
import { table, time } from './stats.js';

const run = promisify(execFile);

export async function benchDisk(dir: string, runs: number): Promise<string> {
  const [healthy, damaged] = await buildSampleDisks(dir, ['msdos-ext4', 'zeroed-superblock']);
  if (!healthy || !damaged) throw new Error('sample disks missing');
  const inspector = new DiskInspector();
  const addon = nativeAddon();
  const parted = (img: string) => run('parted', ['-s', img, 'unit', 's', 'print']).catch(() => undefined);
  const rows = [
    {
      ours: await time('libparted probe only (in-process)', runs, () => addon.partedProbe(healthy.path)),
      theirs: await time('spawn parted -s IMG unit s print', runs, () => parted(healthy.path)),
    },
    {
      ours: await time('full inspection, healthy msdos+ext4', runs, () => inspector.inspect(healthy.path)),
      theirs: await time('spawn parted print', runs, () => parted(healthy.path)),
    },
    {
      ours: await time('full inspection, zeroed superblock (+backup search)', runs, () =>
        inspector.inspect(damaged.path),
      ),
      theirs: await time('spawn parted + dumpe2fs -o superblock=8193', runs, async () => {
        await parted(damaged.path);
        await run('dumpe2fs', [
          '-h',
          '-o',
          'superblock=8193',
          '-o',
          'blocksize=1024',
          `${damaged.path}?offset=1048576`,
        ]).catch(() => undefined);
      }),
    },
    {
      // What an operator would script for the same verdict on the ext filesystem (issue 8).
      ours: await time('full inspection with the kernel mount model, healthy', runs, () =>
        inspector.inspect(healthy.path),
      ),
      theirs: await time('spawn dumpe2fs -h + e2fsck -n on the partition', runs, async () => {
        const part = `${healthy.path}?offset=1048576`;
        await run('dumpe2fs', ['-h', part]).catch(() => undefined);
        await run('e2fsck', ['-n', '-f', part]).catch(() => undefined);
      }),
    },
  ];
  // A btrfs filled with /usr/share/doc's many small files: extent, fs and checksum trees of many
  // leaves, all of which the kernel reads at mount except the file data (btrfs-trees.ts).
  const btrfs = path.join(dir, 'btrfs-populated.img');
  await truncate(btrfs, 0).catch(() => undefined);
  await run('truncate', ['-s', '1G', btrfs]);
  await run('mkfs.btrfs', ['-q', '-f', '-r', '/usr/share/doc', btrfs]);
  rows.push({
    ours: await time('full inspection, btrfs of /usr/share/doc (tree blocks read at mount)', runs, () =>
      inspector.inspect(btrfs),
    ),
    theirs: await time('spawn btrfs check --readonly (every tree)', runs, () =>
      run('btrfs', ['check', '--readonly', btrfs]).catch(() => undefined),
    ),
  });
  return table('Disk inspection (64 MiB sparse images, page cache warm; the btrfs one 1 GiB)', rows);
}
