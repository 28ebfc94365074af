/**
 * A guest owns the bytes of its disk, and dom0 inspects them as root: disk
 * content is hostile input. Healthy images get their partition tables, GPT
 * headers and entries, ext4 superblocks and group descriptors mutated by a
 * seeded generator, with the checksums fixed afterwards so the libraries parse
 * deep instead of stopping at a bad CRC. Every inspection must come back as a
 * result with known finding codes (never a thrown library errno, never a
 * crash), and must not write a byte.
 *
 * This found three faults, each now a test below or in 10-disk-inspector:
 * - a partition past the end of the disk (a copy cut short, or a crafted
 *   table) made libblkid refuse the probe and the inspection fail with EINVAL;
 * - a GPT entry with a negative start makes libparted fail an assertion, print
 *   a backtrace on stdout and abort() the process;
 * - a crafted GPT entry count kept libparted busy for 12 s when its read past
 *   the end was answered Ignore.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KNOWN_FINDING_CODES } from '../src/analysis/virtual-disk-analysis.js';
import { type DiskFindingCode, DiskInspector } from '../src/disk/inspector.js';
import { buildSampleDisks } from '../src/samples/sample-disks.js';
import { sha256File } from './support/checksum.js';

const ROUNDS = Number(process.env.VMBF_HOSTILE_ROUNDS ?? 90);
const SEED = Number(process.env.VMBF_HOSTILE_SEED ?? 20121123);
const KNOWN: DiskFindingCode[] = KNOWN_FINDING_CODES;
const PARTITION_START = 1024 * 1024;

/** xorshift32: the same mutations on every run and machine. */
function generator(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
  return { next, int: (n: number) => Math.floor(next() * n) };
}
type Rng = ReturnType<typeof generator>;

const EDGES = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff];

function mutate(rng: Rng, buf: Buffer, from: number, to: number, count: number): void {
  for (let i = 0; i < count; i++) {
    const at = from + rng.int(to - from);
    const how = rng.int(4);
    const edge = EDGES[rng.int(EDGES.length)] ?? 0;
    if (how === 0) buf[at] = rng.int(256);
    else if (how === 1) buf[at] = (buf[at] ?? 0) ^ (1 << rng.int(8));
    else if (how === 2 && at + 4 <= to) buf.writeUInt32LE(edge >>> 0, at);
    else if (at + 8 <= to) buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(edge) << BigInt(rng.int(40))), at);
  }
}

const CRC32C = new Uint32Array(256).map((_, i) => {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  return c >>> 0;
});
/** What ext4 stores as s_checksum: crc32c seeded with ~0, not inverted. */
function ext4SuperblockChecksum(sb: Buffer): number {
  let c = 0xffffffff;
  for (const b of sb.subarray(0, 0x3fc)) c = (CRC32C[(c ^ b) & 0xff] ?? 0) ^ (c >>> 8);
  return c >>> 0;
}

interface Region {
  offset: number;
  bytes: Buffer;
}

/** One mutation of a structure, with its checksum fixed; returns the regions written. */
async function mutation(
  rng: Rng,
  image: string,
  read: (o: number, n: number) => Promise<Buffer>,
): Promise<Region[]> {
  const target = rng.int(3);
  const partitioned = !image.startsWith('whole-disk');
  if (target === 0 && image === 'msdos-ext4') {
    const mbr = await read(0, 512);
    mutate(rng, mbr, 446, 512, 1 + rng.int(6));
    return [{ offset: 0, bytes: mbr }];
  }
  if (target === 0 && image === 'gpt-ext4') {
    const header = await read(512, 512);
    const entries = await read(1024, 16384);
    if (rng.next() < 0.5) mutate(rng, header, 8, 92, 1 + rng.int(4));
    else mutate(rng, entries, 0, 512, 1 + rng.int(8));
    const count = header.readUInt32LE(80);
    const size = header.readUInt32LE(84);
    if (size > 0 && count * size <= entries.length)
      header.writeUInt32LE(crc32(entries.subarray(0, count * size)), 88);
    const headerSize = header.readUInt32LE(12);
    header.writeUInt32LE(0, 16);
    if (headerSize >= 92 && headerSize <= 512)
      header.writeUInt32LE(crc32(header.subarray(0, headerSize)), 16);
    return [
      { offset: 512, bytes: header },
      { offset: 1024, bytes: entries },
    ];
  }
  const base = partitioned ? PARTITION_START : 0;
  const superblock = await read(base + 1024, 1024);
  const regions: Region[] = [];
  if (rng.next() < 0.7) mutate(rng, superblock, 0, 0x3fc, 1 + rng.int(4));
  else {
    const descriptors = await read(base + 2048, 1024);
    mutate(rng, descriptors, 0, 1024, 1 + rng.int(8));
    regions.push({ offset: base + 2048, bytes: descriptors });
  }
  superblock.writeUInt32LE(ext4SuperblockChecksum(superblock), 0x3fc);
  regions.push({ offset: base + 1024, bytes: superblock });
  return regions;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let dir: string;
const images: { name: string; work: string; pristine: string }[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vmbf-hostile-'));
  for (const s of await buildSampleDisks(dir, ['msdos-ext4', 'gpt-ext4', 'whole-disk-ext4'])) {
    const work = path.join(dir, `work-${s.name}.img`);
    await copyFile(s.path, work);
    images.push({ name: s.name, work, pristine: await sha256File(s.path) });
  }
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe(`hostile disk content (${ROUNDS} seeded mutations, seed ${SEED})`, () => {
  it('every inspection returns known findings, never throws a library error, and writes nothing', async () => {
    const rng = generator(SEED);
    const inspector = new DiskInspector();
    const seen = new Map<string, number>();
    for (let round = 0; round < ROUNDS; round++) {
      const image = images[round % images.length];
      if (!image) throw new Error('no image');
      const fd = await open(image.work, 'r+');
      try {
        const original: Region[] = [];
        const mutated = await mutation(rng, image.name, async (offset, length) => {
          const bytes = Buffer.alloc(length);
          await fd.read(bytes, 0, length, offset);
          original.push({ offset, bytes: Buffer.from(bytes) });
          return bytes;
        });
        for (const r of mutated) await fd.write(r.bytes, 0, r.bytes.length, r.offset);
        const what = `round ${round}, ${image.name}`;

        let findings: string[];
        try {
          findings = (await inspector.inspect(image.work)).findings.map((f) => f.code);
        } catch (error) {
          // VMBF_HOSTILE_KEEP=DIR keeps the image that failed, to reproduce it.
          const keep = process.env.VMBF_HOSTILE_KEEP;
          if (keep) await copyFile(image.work, path.join(keep, `hostile-${SEED}-${round}-${image.name}.img`));
          throw new Error(
            `${what}: inspection threw ${(error as { code?: string }).code}: ${(error as Error).message}`,
          );
        }
        for (const code of findings) expect(KNOWN, `${what}: ${code}`).toContain(code);
        const codes = findings.join(',') || 'none';
        seen.set(codes, (seen.get(codes) ?? 0) + 1);

        for (const r of mutated) {
          const now = Buffer.alloc(r.bytes.length);
          await fd.read(now, 0, now.length, r.offset);
          expect(sha(now), `${what}: bytes at ${r.offset} changed by inspection`).toBe(sha(r.bytes));
        }
        for (const r of original) await fd.write(r.bytes, 0, r.bytes.length, r.offset);
      } finally {
        await fd.close();
      }
    }
    // Restored byte for byte: nothing else on the images was written either.
    for (const image of images) expect(await sha256File(image.work), image.name).toBe(image.pristine);
    // The mutations reached the interesting paths, not only harmless bytes.
    const findings = [...seen.keys()].join(',');
    for (const code of ['SUPERBLOCK_DAMAGED', 'NO_PARTITION_TABLE', 'GPT_PRIMARY_DAMAGED']) {
      expect(findings, JSON.stringify(Object.fromEntries(seen))).toContain(code);
    }
  }, 120_000);
});

/** The GPT entry the mutations found: start LBA 0xffff000000000000 (negative as libparted's PedSector). */
async function gptWithNegativeStart(file: string): Promise<void> {
  const fd = await open(file, 'r+');
  try {
    const header = Buffer.alloc(92);
    await fd.read(header, 0, 92, 512);
    const entries = Buffer.alloc(128 * 128);
    await fd.read(entries, 0, entries.length, 1024);
    entries.writeBigUInt64LE(0xffff000000000000n, 32);
    header.writeUInt32LE(crc32(entries), 88);
    header.writeUInt32LE(0, 16);
    header.writeUInt32LE(crc32(header), 16);
    await fd.write(entries, 0, entries.length, 1024);
    await fd.write(header, 0, 92, 512);
  } finally {
    await fd.close();
  }
}

describe('a GPT entry that makes libparted fail an assertion (it calls abort())', () => {
  let file: string;
  beforeAll(async () => {
    const gpt = images.find((i) => i.name === 'gpt-ext4');
    if (!gpt) throw new Error('no gpt image');
    file = path.join(dir, 'gpt-negative-start.img');
    await copyFile(gpt.work, file);
    await gptWithNegativeStart(file);
  });

  it('the process survives; the probe is abandoned and the table reported corrupt; nothing written', async () => {
    const before = await sha256File(file);
    const d = await new DiskInspector().inspect(file);
    expect(d.libraryMessages).toContainEqual({
      type: 'bug',
      message: expect.stringMatching(/^Assertion \(start >= 0\) .* failed\.$/),
      answer: 'probe-abandoned',
    });
    expect(d.findings.map((f) => f.code)).toEqual(['PARTITION_TABLE_CORRUPT', 'PARTED_ERROR']);
    expect(d.findings[0]?.message).toMatch(/start sector -\d+/);
    expect(await sha256File(file)).toBe(before);
    // libparted still works for the next disk.
    const healthy = images.find((i) => i.name === 'msdos-ext4');
    expect((await new DiskInspector().inspect(healthy?.work ?? '')).findings).toEqual([]);
  });

  it('the CLI prints clean JSON: no libparted backtrace on stdout, exit 4 (fault predicted)', () => {
    const r = spawnSync(process.execPath, ['dist/src/cli/main.js', 'inspect', '--json', file], {
      encoding: 'utf8',
    });
    expect(r.stdout).not.toContain('Backtrace');
    expect(r.stderr).not.toContain('Backtrace');
    expect(r.status, r.stderr).toBe(4);
    expect(JSON.parse(r.stdout).disks[0].findings.map((f: { code: string }) => f.code)).toContain(
      'PARTITION_TABLE_CORRUPT',
    );
  });
});
