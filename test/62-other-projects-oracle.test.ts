/**
 * Other projects' damaged images, judged by the guest kernel: the test images of e2fsprogs's and
 * btrfs-progs's own suites, taken from the sources Debian 12 ships (sha256-pinned:
 * test/oracle/e2fsprogs-images.mjs, test/oracle/btrfs-progs-images.mjs), were mounted inside a
 * throwaway VM by kernel-verdicts.mjs, which wrote test/oracle/<project>-kernel-verdicts.json.
 * Here inspect judges the same images:
 *   none the kernel mounts and writes to may be called a fault;
 *   the ones it refuses that inspect calls OK are exactly the lists below, each with its reason
 *   (what the model does not read), so a regression and a fix both show.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OracleRow, compare, kernelRefuses, loadVerdicts, table } from './oracle/compare.js';
import { sha256File } from './support/checksum.js';

const run = promisify(execFile);
const ORACLE = path.join(import.meta.dirname, 'oracle');

interface Project {
  name: string;
  /** Refused by Linux 6.1, called OK, and why. */
  knownMisses: Record<string, string>;
}

const PROJECTS: Project[] = [
  {
    name: 'e2fsprogs',
    knownMisses: {
      // A FAT12 boot sector beside the ext2 magic: libblkid (and so inspect) names it vfat, which
      // mounts; only a guest that mounts it as ext4 meets "Invalid log block size".
      f_crashdisk: 'vfat and ext2 signatures on one image',
      // The journal needs recovery and its transactions fail their checksums: jbd2's replay.
      j_corrupt_commit_csum: 'journal replay',
      j_corrupt_descr_csum: 'journal replay',
      j_corrupt_journal_block: 'journal replay',
      j_corrupt_revoke_rcount: 'journal replay',
      // (j_recover_fast_commit fails only its read-only mount and mounts read-write: not counted.)
    },
  },
  {
    name: 'btrfs-progs',
    knownMisses: {},
  },
];

describe.each(PROJECTS)(
  "inspect against the guest kernel on $name's test images",
  ({ name, knownMisses }) => {
    const verdicts = loadVerdicts(path.join(ORACLE, `${name}-kernel-verdicts.json`));
    let dir = '';
    let rows: OracleRow[] = [];
    const before = new Map<string, string>();

    beforeAll(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), `vmbf-${name}-`));
      await run('node', [path.join(ORACLE, `${name}-images.mjs`), '--out', dir], {
        maxBuffer: 16 * 1024 * 1024,
      });
      const manifest = JSON.parse(await readFile(path.join(dir, 'images', 'manifest.json'), 'utf8')) as {
        images: { name: string; sha256: string }[];
      };
      for (const i of manifest.images) before.set(i.name, i.sha256);
      rows = await compare(path.join(dir, 'images'), false, undefined, verdicts);
      process.stdout.write(`\n${table(rows)}\n`);
    }, 600_000);

    afterAll(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('the images are the ones the kernel judged', () => {
      expect([...before.keys()].sort()).toEqual(Object.keys(verdicts.verdicts).sort());
      expect(rows.length).toBe(before.size);
    });

    it('no image the kernel mounts and writes to is called a fault', () => {
      const alarms = rows
        .filter((r) => !kernelRefuses(r.kernel) && !r.firstWriteFails && r.ours !== 'ok')
        .map((r) => `${r.name}: kernel ${r.kernel}, ours ${r.ours} [${r.codes.join(', ')}]`);
      expect(alarms).toEqual([]);
    });

    it('the refused images called OK are exactly the known misses', () => {
      const missed = rows.filter((r) => kernelRefuses(r.kernel) && r.ours === 'ok').map((r) => r.name);
      expect(missed.sort()).toEqual(Object.keys(knownMisses).sort());
    });

    // Every byte is hashed, holes included: btrfs-progs's restored metadumps are up to 1 GiB each
    // (15.8 GiB in all, 189 MiB of it data), 45-50 s on an idle 2-core machine.
    it('inspection never changed an image', async () => {
      for (const [image, sum] of before)
        expect(await sha256File(path.join(dir, 'images', `${image}.img`)), image).toBe(sum);
    }, 600_000);
  },
);
