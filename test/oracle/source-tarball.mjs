// What the scripts that take another project's test images from Debian's sources share: the mirror,
// a sha256-pinned download, and writing an image with its zero runs left as holes.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';

/** The Debian mirror apt is set up with (deb822 or one-line sources), else deb.debian.org. */
export function debianMirror() {
  const files = ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list'];
  for (const f of files) {
    let text;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    const m =
      /^URIs:\s*(https?:\/\/\S+\/debian)\/?\s*$/m.exec(text) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(https?:\/\/\S+\/debian)\/?\s/m.exec(text);
    if (m) return m[1];
  }
  return 'http://deb.debian.org/debian';
}

export const sha256 = (buf) => crypto.createHash('sha256').update(buf).digest('hex');

/** `file`, downloaded from `url` unless it is already there with the pinned checksum. */
export function fetchPinned(url, file, pinned) {
  if (fs.existsSync(file) && sha256(fs.readFileSync(file)) === pinned) return file;
  execFileSync('curl', ['-fsSL', '--retry', '3', '-o', `${file}.part`, url], { stdio: 'inherit' });
  const got = sha256(fs.readFileSync(`${file}.part`));
  if (got !== pinned) throw new Error(`${url}: sha256 ${got}, expected ${pinned}`);
  fs.renameSync(`${file}.part`, file);
  return file;
}

/** Most of a test image is zeros: only the rest is written. */
export function writeSparse(file, image) {
  const fd = fs.openSync(file, 'w');
  try {
    fs.ftruncateSync(fd, image.length);
    const chunk = 64 * 1024;
    const zeros = Buffer.alloc(chunk);
    for (let off = 0; off < image.length; off += chunk) {
      const part = image.subarray(off, Math.min(off + chunk, image.length));
      if (!part.equals(zeros.subarray(0, part.length))) fs.writeSync(fd, part, 0, part.length, off);
    }
  } finally {
    fs.closeSync(fd);
  }
}
