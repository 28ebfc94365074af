#!/usr/bin/env node
// Another project's damaged images for the kernel oracle: the test images of e2fsprogs's own test
// suite (tests/*/image.gz: superblocks, bitmaps, directories, journals and quota files that e2fsck
// must repair), taken from the e2fsprogs source that Debian 12 ships, whose checksum is pinned here.
//   node test/oracle/e2fsprogs-images.mjs [--out DIR]     (default ~/.cache/vmbootfail-oracle/e2fsprogs)
// writes DIR/images/<test>.img and DIR/images/manifest.json in generate.mjs's shape (class
// "e2fsprogs"), for kernel-verdicts.mjs --images and test/62-other-projects-oracle.test.ts. Node 20
// builtins, curl and tar only; every tool runs through execFileSync with an argument array.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { debianMirror, fetchPinned, sha256, writeSparse } from './source-tarball.mjs';

const VERSION = '1.47.0';
const TARBALL = `e2fsprogs_${VERSION}.orig.tar.gz`;
// Debian's e2fsprogs_1.47.0-2.dsc (bookworm) lists this sha256 for the tarball.
const SHA256 = '6667afde56eef0c6af26684974400e4d2288ea49e9441bf5e6229195d51a3578';
const MAX_IMAGE = 64 * 1024 * 1024;

const argv = process.argv.slice(2);
const at = argv.indexOf('--out');
const OUT = at >= 0 ? argv[at + 1] : path.join(os.homedir(), '.cache', 'vmbootfail-oracle', 'e2fsprogs');
if (!OUT) throw new Error('--out needs a directory');

fs.mkdirSync(OUT, { recursive: true });
const tarball = fetchPinned(`${debianMirror()}/pool/main/e/e2fsprogs/${TARBALL}`, path.join(OUT, TARBALL), SHA256);

const src = path.join(OUT, 'src');
fs.rmSync(src, { recursive: true, force: true });
fs.mkdirSync(src);
execFileSync('tar', ['-xzf', tarball, '-C', src, '--wildcards', `e2fsprogs-${VERSION}/tests/*/image.gz`, `e2fsprogs-${VERSION}/tests/*/name`]);
const tests = path.join(src, `e2fsprogs-${VERSION}`, 'tests');
const dir = path.join(OUT, 'images');
fs.rmSync(dir, { recursive: true, force: true });
fs.mkdirSync(dir);
const images = [];
const skipped = [];
for (const t of fs.readdirSync(tests).sort()) {
  const gz = path.join(tests, t, 'image.gz');
  if (!fs.existsSync(gz)) continue;
  const image = zlib.gunzipSync(fs.readFileSync(gz));
  const nameFile = path.join(tests, t, 'name');
  const description = fs.existsSync(nameFile) ? fs.readFileSync(nameFile, 'utf8').trim() : '(no name file)';
  if (image.length > MAX_IMAGE) {
    skipped.push({ name: t, sizeBytes: image.length });
    continue;
  }
  writeSparse(path.join(dir, `${t}.img`), image);
  images.push({
    name: t,
    file: `${t}.img`,
    class: 'e2fsprogs',
    fs: 'ext4',
    partitioned: false,
    mutation: description,
    source: `e2fsprogs ${VERSION} tests/${t}/image.gz`,
    sizeBytes: image.length,
    sha256: sha256(image),
  });
}
fs.rmSync(src, { recursive: true, force: true });
fs.writeFileSync(
  path.join(dir, 'manifest.json'),
  `${JSON.stringify({ generator: 'test/oracle/e2fsprogs-images.mjs', source: `${TARBALL} (sha256 ${SHA256})`, count: images.length, skipped, images }, null, 1)}\n`,
);
console.log(`${images.length} images (${skipped.length} over 64 MiB skipped) -> ${dir}/manifest.json`);
