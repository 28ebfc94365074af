#!/usr/bin/env node
// Another project's damaged images for the kernel oracle: the btrfs images of btrfs-progs's own test
// suite (tests/fsck-tests: trees that btrfs check must find broken; tests/fuzz-tests/images: fuzzed
// images from kernel and btrfs-progs bug reports; tests/misc-tests), taken from the btrfs-progs source
// Debian 12 ships, whose checksum is pinned here. Raw images (.raw, .raw.xz, .img.xz) are used as
// they are; btrfs-image metadumps (.img) are restored with the packaged `btrfs-image -r`.
//   node test/oracle/btrfs-progs-images.mjs [--out DIR]   (default ~/.cache/vmbootfail-oracle/btrfs-progs)
// writes DIR/images/<name>.img and DIR/images/manifest.json in generate.mjs's shape (class
// "btrfs-progs"), for kernel-verdicts.mjs --images and test/62-other-projects-oracle.test.ts.
// Node 20 builtins, curl, tar, xz and btrfs-image; every tool runs through execFileSync with an
// argument array.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { debianMirror, fetchPinned, sha256, writeSparse } from './source-tarball.mjs';

const VERSION = '6.2';
const TARBALL = `btrfs-progs_${VERSION}.orig.tar.xz`;
// Debian's btrfs-progs_6.2-1+deb12u2.dsc (bookworm) lists this sha256 for the tarball.
const SHA256 = '5fa59b9304bec59a8f0cb505f60c95d8c46b2948389033ad9d3cd72928bfd144';
/** Restored metadumps are as large as the filesystem they describe, but sparse. */
const MAX_IMAGE = 1024 * 1024 * 1024;
const BTRFS_MAGIC = Buffer.from('_BHRfS_M');
// btrfs-progs image/metadump.h HEADER_MAGIC, little-endian, at the start of a metadump.
const METADUMP_MAGIC = Buffer.from('8b669572e2255cbd', 'hex');

const argv = process.argv.slice(2);
const at = argv.indexOf('--out');
const OUT = at >= 0 ? argv[at + 1] : path.join(os.homedir(), '.cache', 'vmbootfail-oracle', 'btrfs-progs');
if (!OUT) throw new Error('--out needs a directory');

fs.mkdirSync(OUT, { recursive: true });
const tarball = fetchPinned(`${debianMirror()}/pool/main/b/btrfs-progs/${TARBALL}`, path.join(OUT, TARBALL), SHA256);

const src = path.join(OUT, 'src');
fs.rmSync(src, { recursive: true, force: true });
fs.mkdirSync(src);
const top = `btrfs-progs-v${VERSION}/tests`;
execFileSync('tar', ['-xJf', tarball, '-C', src, `${top}/fsck-tests`, `${top}/fuzz-tests`, `${top}/misc-tests`]);
const tests = path.join(src, top);
const dir = path.join(OUT, 'images');
fs.rmSync(dir, { recursive: true, force: true });
fs.mkdirSync(dir);
const work = fs.mkdtempSync(path.join(OUT, 'restore-'));

/** Every image file under the three suites, as [suite/test, file]. */
function imageFiles() {
  const found = [];
  for (const suite of ['fsck-tests', 'fuzz-tests', 'misc-tests']) {
    const walk = (d, rel) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p, `${rel}/${e.name}`);
        else if (/\.(?:raw|img)(?:\.xz)?$/.test(e.name)) found.push([rel, p]);
      }
    };
    walk(path.join(tests, suite), suite);
  }
  return found;
}

/** The raw image a test file holds, or why it is not one: a btrfs filesystem on one device. */
function rawImage(file) {
  let plain = file;
  if (file.endsWith('.xz')) {
    plain = path.join(work, 'plain');
    const fd = fs.openSync(plain, 'w');
    try {
      execFileSync('xz', ['-dc', file], { stdio: ['ignore', fd, 'pipe'] });
    } finally {
      fs.closeSync(fd);
    }
  }
  if (fs.statSync(plain).size > MAX_IMAGE) return { why: 'image over 1 GiB' };
  let data = fs.readFileSync(plain);
  if (data.subarray(0, 8).equals(METADUMP_MAGIC)) {
    const dump = path.join(work, 'dump');
    const restored = path.join(work, 'restored');
    fs.writeFileSync(dump, data);
    fs.rmSync(restored, { force: true });
    try {
      execFileSync('btrfs-image', ['-r', dump, restored], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      return { why: `btrfs-image -r failed: ${String(e.stderr ?? e).trim().split('\n').pop()}` };
    }
    if (fs.statSync(restored).size > MAX_IMAGE) return { why: 'restored image over 1 GiB' };
    data = fs.readFileSync(restored);
  }
  if (data.length < 0x10048 || !data.subarray(0x10040, 0x10048).equals(BTRFS_MAGIC))
    return { why: 'no btrfs superblock at 64 KiB (another filesystem, or not an image)' };
  return { data };
}

const images = [];
const skipped = [];
const names = new Set();
for (const [rel, file] of imageFiles()) {
  const base = path.basename(file).replace(/\.(?:raw|img)(?:\.xz)?$/, '');
  let name = `${rel.replace(/^(fsck|fuzz|misc)-tests/, '$1').replace(/\/images$/, '').replace(/\//g, '-')}-${base}`;
  while (names.has(name)) name += '_';
  const got = rawImage(file);
  if (!got.data) {
    skipped.push({ name, why: got.why });
    continue;
  }
  names.add(name);
  writeSparse(path.join(dir, `${name}.img`), got.data);
  const txt = file.replace(/\.(?:raw|img)(?:\.xz)?$/, '.txt');
  const about = fs.existsSync(txt) ? fs.readFileSync(txt, 'utf8').trim().split('\n')[0] : rel;
  images.push({
    name,
    file: `${name}.img`,
    class: 'btrfs-progs',
    fs: 'btrfs',
    partitioned: false,
    mutation: about.slice(0, 200),
    source: `btrfs-progs ${VERSION} tests/${path.relative(tests, file)}`,
    sizeBytes: got.data.length,
    sha256: sha256(got.data),
  });
}
fs.rmSync(work, { recursive: true, force: true });
fs.rmSync(src, { recursive: true, force: true });
fs.writeFileSync(
  path.join(dir, 'manifest.json'),
  `${JSON.stringify({ generator: 'test/oracle/btrfs-progs-images.mjs', source: `${TARBALL} (sha256 ${SHA256})`, count: images.length, skipped, images }, null, 1)}\n`,
);
console.log(`${images.length} images (${skipped.length} skipped) -> ${dir}/manifest.json`);
