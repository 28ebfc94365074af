/**
 * The kernel is the oracle (issue 8): test/oracle/generate.mjs rebuilds the
 * seeded corpus of damaged and healthy images with the real tools, and inspect's
 * verdict on each is held against what Debian 12's kernel did when it mounted
 * that image inside a throwaway VM (test/oracle/kernel-verdicts.json, made by
 * kernel-verdicts.mjs; never mounted here). One class at a time, deleted after,
 * so the run needs at most about 1.5 GiB of temporary disk.
 *   0 images the kernel refuses (any mount, or a read-write one) may be called OK;
 *   at most 2 % of the images it mounts and writes to may be called faults (one that mounts
 *   but fails its first write with a filesystem error is neither).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { type OracleRow, VERDICTS, compare, kernelRefuses, table } from './oracle/compare.js';
import { sha256File } from './support/checksum.js';

const run = promisify(execFile);
const GENERATOR = path.join(import.meta.dirname, 'oracle', 'generate.mjs');
const classes = [...new Set(Object.values(VERDICTS.verdicts).map((v) => v.class))];
const rows: OracleRow[] = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
  if (rows.length) process.stdout.write(`\n${table(rows)}\n`);
});

describe('inspect against the guest kernel on the oracle corpus', () => {
  for (const cls of classes) {
    it(
      `${cls}: every image the kernel refuses is a fault; what it mounts is not`,
      { timeout: 600_000 },
      async () => {
        const dir = await mkdtemp(path.join(os.tmpdir(), `vmbf-oracle-${cls}-`));
        dirs.push(dir);
        await run('node', [GENERATOR, '--out', dir, '--only', cls], { maxBuffer: 64 * 1024 * 1024 });
        const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as {
          images: { name: string }[];
        };
        // The generator still makes the images the kernel judged.
        const judged = Object.entries(VERDICTS.verdicts)
          .filter(([, v]) => v.class === cls)
          .map(([name]) => name)
          .sort();
        expect(manifest.images.map((i) => i.name).sort()).toEqual(judged);
        const got = await compare(dir, false, cls);
        rows.push(...got);
        await rm(dir, { recursive: true, force: true });
        const calledOk = got.filter((r) => kernelRefuses(r.kernel) && r.ours === 'ok').map((r) => r.name);
        expect(calledOk, 'refused by the kernel, called OK').toEqual([]);
      },
    );
  }
  it('at most 2 % of the images the kernel mounts and writes to are called faults', () => {
    const mounted = rows.filter((r) => !kernelRefuses(r.kernel) && !r.firstWriteFails);
    const alarms = mounted.filter((r) => r.ours !== 'ok').map((r) => `${r.name} [${r.codes.join(', ')}]`);
    expect(mounted.length).toBeGreaterThan(100);
    expect(alarms.length / mounted.length, alarms.join('\n')).toBeLessThanOrEqual(0.02);
  });
});
