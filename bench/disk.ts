/** In-process disk inspection against spawning `parted -s IMG unit s print`. */
import { execFile } from 'node:child_process';
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
  return table('Disk inspection (64 MiB sparse images, page cache warm)', rows);
}
