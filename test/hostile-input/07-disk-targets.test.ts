/**
 * Issue 10, item 1: a config whose disk target exists but is no disk (a
 * directory, a character device, a FIFO, a socket, a symlink loop) predicts a
 * fault with the reason, and so does a config with nothing to boot; the
 * inspector never blocks on a FIFO.
 */
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectConfig } from '../../src/api.js';
import { mkfifo, releaseFifo } from './support/helpers.js';

let dir: string;
let server: net.Server | undefined;
const fifos: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vmbf-hostile-targets-'));
});
afterAll(async () => {
  for (const f of fifos) releaseFifo(f);
  server?.close();
  await rm(dir, { recursive: true, force: true });
});

async function config(
  name: string,
  target: string,
  extra = 'kernel = "/boot/vmlinuz-6.1.0-13-amd64"\n',
): Promise<string> {
  const file = path.join(dir, `${name}.cfg`);
  await writeFile(
    file,
    `name = "${name}"\n${extra}extra = "root=/dev/xvda1"\ndisk = [ '${target},raw,xvda,w' ]\n`,
  );
  return file;
}

describe('disk targets that exist but are no disk', () => {
  const kinds: [string, () => Promise<string>, string][] = [
    ['a directory', async () => dir, 'ERR_DISK_IS_DIRECTORY'],
    ['a character device', async () => '/dev/null', 'ERR_DISK_NOT_BLOCK_OR_FILE'],
    [
      'a FIFO',
      async () => {
        const f = path.join(dir, 'fifo.img');
        mkfifo(f);
        fifos.push(f);
        return f;
      },
      'ERR_DISK_NOT_BLOCK_OR_FILE',
    ],
    [
      'a socket',
      async () => {
        const s = path.join(dir, 'sock.img');
        server = net.createServer();
        await new Promise<void>((resolve) => server?.listen(s, resolve));
        return s;
      },
      'ERR_DISK_NOT_BLOCK_OR_FILE',
    ],
    [
      'a symlink loop',
      async () => {
        const a = path.join(dir, 'loop-a.img');
        await symlink(path.join(dir, 'loop-b.img'), a);
        await symlink(a, path.join(dir, 'loop-b.img'));
        return a;
      },
      'ERR_DISK_UNREADABLE',
    ],
  ];
  for (const [what, make, code] of kinds) {
    it(`${what}: FAULT_PREDICTED, the backing storage is not a usable disk`, async () => {
      const report = await inspectConfig(await config(what.replace(/\W+/g, '-'), await make()));
      expect(report.verdict).toBe('FAULT_PREDICTED');
      const cause = report.causes.find((c) => c.disk === 'xvda');
      expect(cause?.code).toBe('UVDE');
      expect(cause?.evidence[0]?.value).toContain(code);
    });
  }
  it('no kernel, bootloader or firmware: VMCE, not OK', async () => {
    const img = path.join(dir, 'plain.img');
    await writeFile(img, Buffer.alloc(1024 * 1024));
    const report = await inspectConfig(await config('nothing-to-boot', img, ''));
    expect(report.verdict).toBe('FAULT_PREDICTED');
    expect(report.causes.map((c) => c.code)).toContain('VMCE');
    expect(report.causes.find((c) => c.code === 'VMCE')?.title).toMatch(/names nothing to boot/);
  });
});
