/**
 * The CLI as an operator runs it: `inspect` predicts the paper's four faults
 * from configs and disks built here (no Xen), and bad input gets a precise
 * message and its documented exit code.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSampleDisks } from '../src/samples/sample-disks.js';
import { sha256File } from './support/checksum.js';
import { DEBIAN_CONFIG, installKernel } from './support/kernel-fixtures.js';
import { freeLoopDevice } from './support/loop-devices.js';

let dir: string;
let images: Record<string, string>;
let debianKernel: string;
let builtInKernel: string;

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, XENSTORED_PATH: path.join(os.tmpdir(), 'vmbootfail-no-such-xenstored') },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

async function config(name: string, lines: string[]): Promise<string> {
  const file = path.join(dir, `${name}.cfg`);
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

const pv = (kernel: string, name: string) => [
  `name = "${name}"`,
  'type = "pv"',
  `kernel = "${kernel}"`,
  'memory = 256',
  'extra = "root=/dev/xvda1 console=hvc0"',
];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vmbf-cli-'));
  const built = await buildSampleDisks(dir, [
    'msdos-ext4',
    'zeroed-partition-table',
    'zeroed-superblock',
    'truncated-image',
  ]);
  images = Object.fromEntries(built.map((b) => [b.name, b.path]));
  await mkdir(path.join(dir, 'debian'));
  await mkdir(path.join(dir, 'builtin'));
  debianKernel = await installKernel(path.join(dir, 'debian'), DEBIAN_CONFIG);
  builtInKernel = await installKernel(path.join(dir, 'builtin'), {
    ...DEBIAN_CONFIG,
    CONFIG_XEN_BLKDEV_FRONTEND: 'y',
    CONFIG_EXT4_FS: 'y',
  });
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('vmbootfail inspect <config> predicts the paper faults without Xen', () => {
  it('a healthy config and healthy disk: exit 0', async () => {
    const cfg = await config('healthy', [
      ...pv(builtInKernel, 'healthy'),
      `disk = [ 'format=raw, vdev=xvda, access=rw, target=${images['msdos-ext4']}' ]`,
    ]);
    const before = await sha256File(images['msdos-ext4'] as string);
    const r = cli('inspect', cfg);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('OK (no fault predicted)');
    expect(await sha256File(images['msdos-ext4'] as string)).toBe(before);
  });

  it('VMCE: no disk line (commented out) -> exit 4, the line to uncomment', async () => {
    const cfg = await config('vmce', [
      ...pv(builtInKernel, 'vmce'),
      `#disk = [ 'phy:/dev/vg0/vmce,xvda,w' ]`,
    ]);
    const r = cli('inspect', '--json', cfg);
    expect(r.code).toBe(4);
    const json = JSON.parse(r.out);
    expect(json.schemaVersion).toBe(1);
    expect(json.configs[0].causes[0]).toMatchObject({ code: 'VMCE', paperFault: 'VMCE' });
    expect(json.configs[0].causes[0].remedy).toBe(
      `uncomment line 6 of ${cfg}: disk = [ 'phy:/dev/vg0/vmce,xvda,w' ]`,
    );
  });

  const loop = freeLoopDevice();
  it.skipIf(!loop.device)(
    `UVDE: phy: on an unattached loop device -> exit 4, losetup ${loop.reason ?? ''}`,
    async () => {
      const cfg = await config('uvde', [
        ...pv(builtInKernel, 'uvde'),
        `disk = [ 'phy:${loop.device},xvda,w' ]`,
      ]);
      const r = cli('inspect', '--json', cfg);
      expect(r.code).toBe(4);
      const cause = JSON.parse(r.out).configs[0].causes[0];
      expect(cause).toMatchObject({
        code: 'UVDE',
        disk: 'xvda',
        remedy: `losetup ${loop.device} IMAGE_FILE  # IMAGE_FILE: the image this device should hold`,
      });
      expect(cli('inspect', cfg).out).toContain('This virtual disk is not allocated device');
    },
  );

  it('DIDF: zeroed partition table -> exit 4, the parted command that restores it', async () => {
    const img = images['zeroed-partition-table'] as string;
    const cfg = await config('didf1', [...pv(builtInKernel, 'didf1'), `disk = [ '${img},raw,xvda,rw' ]`]);
    const r = cli('inspect', '--json', cfg);
    expect(r.code).toBe(4);
    expect(JSON.parse(r.out).configs[0].causes[0]).toMatchObject({
      code: 'DIDF',
      remedy: `parted -s ${img} mklabel msdos mkpart primary ext4 2048s 100%`,
    });
  });

  it('DIDF: zeroed superblock -> exit 4, the backup superblock and e2fsck command', async () => {
    const img = images['zeroed-superblock'] as string;
    const cfg = await config('didf2', [...pv(builtInKernel, 'didf2'), `disk = [ 'file:${img},xvda,w' ]`]);
    const r = cli('inspect', cfg);
    expect(r.code).toBe(4);
    expect(r.out).toContain(`fix: e2fsck -b 8193 -B 1024 '${img}?offset=1048576'`);
  });

  it('DIDF: an image copy cut short -> exit 4, the size the partition table needs', async () => {
    const img = images['truncated-image'] as string;
    const cfg = await config('didf3', [...pv(builtInKernel, 'didf3'), `disk = [ '${img},raw,xvda,rw' ]`]);
    const r = cli('inspect', '--json', cfg);
    expect(r.code).toBe(4);
    const causes = JSON.parse(r.out).configs[0].causes;
    expect(causes).toHaveLength(1);
    expect(causes[0]).toMatchObject({ code: 'DIDF', disk: 'xvda' });
    expect(causes[0].remedy).toContain(`truncate -s 67108864 ${img}`);
  });

  it('UVKE: a Debian kernel (ext4 and xen-blkfront as modules) with no ramdisk -> exit 4', async () => {
    const cfg = await config('uvke', [
      ...pv(debianKernel, 'uvke'),
      `disk = [ 'format=raw, vdev=xvda, access=rw, target=${images['msdos-ext4']}' ]`,
    ]);
    const r = cli('inspect', '--json', cfg);
    expect(r.code).toBe(4);
    const causes = JSON.parse(r.out).configs[0].causes;
    expect(causes[0].code).toBe('UVKE');
    // One cause, both missing drivers as its evidence.
    expect(causes[0].evidence.map((e: { detail: string }) => e.detail)).toEqual([
      'BLOCK_FRONTEND_MISSING',
      'ROOT_FS_DRIVER_MISSING',
    ]);
  });
});

describe('inspect --samples: the README command, a self-check of the inspector', () => {
  it('builds the 20 samples, shows each diagnosis, and exits 0 when every one is as its description says', async () => {
    const samples = path.join(dir, 'samples');
    const r = cli('inspect', '--samples', samples);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('20 sample disks: each diagnosed as its description says');
    expect(r.out).toContain('! IMAGE_TRUNCATED: partition 1 of');
    expect(r.out).toContain('! SUPERBLOCK_DAMAGED: partition 1 of');
    const json = JSON.parse(cli('inspect', '--json', '--samples', samples).out);
    expect(json.disks).toHaveLength(20);
    expect(json.samplesNotAsDescribed).toEqual([]);
  }, 120_000);

  it('with other targets beside the samples, the usual rule: a fault found exits 4', async () => {
    const r = cli('inspect', '--samples', path.join(dir, 'samples2'), images['msdos-ext4'] as string);
    expect(r.code).toBe(4);
    expect(r.out).not.toContain('sample disks:');
  }, 120_000);
});

describe('bad input: precise message, documented exit code', () => {
  it.each([
    ['a missing file', ['inspect', '/nonexistent/disk.img'], 2, 'ERR_DISK_NOT_FOUND'],
    ['a directory', ['inspect', '/tmp'], 2, 'ERR_DISK_IS_DIRECTORY'],
    ['/dev/null', ['inspect', '/dev/null'], 2, 'ERR_DISK_NOT_BLOCK_OR_FILE'],
    ['an unknown option', ['inspect', '--frobnicate'], 2, "unknown option '--frobnicate'"],
    ['nothing to inspect', ['inspect'], 2, 'nothing to inspect'],
    [
      'a bad --retries',
      ['test', '/etc/hostname', '--retries', 'many'],
      2,
      '--retries must be a whole number',
    ],
  ])('%s', (_what, args, code, words) => {
    const r = cli(...args);
    expect(r.code).toBe(code);
    expect(r.out + r.err).toContain(words);
  });

  it('a 0-byte image and a garbage config', async () => {
    const empty = path.join(dir, 'empty.img');
    await writeFile(empty, '');
    const e = cli('inspect', empty);
    expect(e.code).toBe(2);
    expect(e.out).toContain('ERR_DISK_EMPTY');
    const garbage = await config('garbage', ['name = "x"', 'disk = [ "unterminated', 'memory = 12']);
    const g = cli('inspect', garbage);
    expect(g.code).toBe(2);
    expect(g.out).toContain(`ERR_XL_CONFIG: ${garbage}:2:10: unterminated string`);
  });

  it('test on a host without xenstored: exit 3, saying so', async () => {
    const cfg = await config('nohost', [
      ...pv(builtInKernel, 'nohost'),
      `disk = [ '${images['msdos-ext4']},raw,xvda,rw' ]`,
    ]);
    const r = cli('test', cfg);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/vmbootfail: ERR_NOT_DOM0: not a Xen dom0: cannot reach xenstored \(xs_open: /);
  });

  it('--help on every command', () => {
    for (const cmd of [[], ['inspect'], ['test'], ['capabilities']]) {
      const r = cli(...cmd, '--help');
      expect(r.code).toBe(0);
      expect(r.out).toContain('Usage: vmbootfail');
    }
  });
});

describe('vmbootfail diagnose <log> on any machine', () => {
  const failing = [
    '[    1.20] blkfront: xvda: barrier or flush: disabled; persistent grants: enabled;',
    'Begin: Waiting for root file system ... done.',
    'Gave up waiting for root file system device.  Common problems:',
    'ALERT!  /dev/xvda1 does not exist.  Dropping to a shell!',
    '(initramfs) ',
  ].join('\n');
  it('a failed boot: exit 6, the family, the deciding line; --json is one document', async () => {
    const log = path.join(dir, 'failed.log');
    await writeFile(log, failing);
    const text = cli('diagnose', log);
    expect(text.code).toBe(6);
    expect(text.out).toMatch(/FAILED/);
    const json = cli('diagnose', '--json', log);
    expect(json.code).toBe(6);
    const report = JSON.parse(json.out);
    expect(report).toMatchObject({ schemaVersion: 1, verdict: 'FAILED' });
    expect(report.causes.length).toBeGreaterThan(0);
  });
  it('a boot that reached login: exit 0', async () => {
    const log = path.join(dir, 'ok.log');
    await writeFile(log, '[    2.10]  xvda: xvda1\nDebian GNU/Linux 12 web01 hvc0\n\nweb01 login: ');
    const r = cli('diagnose', '--json', log);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ verdict: 'BOOTED', causes: [] });
  });
  it('--config: what the preflight proved about the VM ranks first (the disk has no partition table)', async () => {
    const log = path.join(dir, 'failed-cfg.log');
    await writeFile(log, failing);
    const cfg = await config('diag', [
      ...pv(builtInKernel, 'diag'),
      `disk = [ '${images['zeroed-partition-table']},raw,xvda,rw' ]`,
    ]);
    const r = cli('diagnose', '--json', '--config', cfg, log);
    expect(r.code).toBe(6);
    const report = JSON.parse(r.out);
    expect(report.causes[0]).toMatchObject({ paperFault: 'DIDF', disk: 'xvda' });
    expect(report.preflight.causes[0]).toMatchObject({ paperFault: 'DIDF' });
  });
  it('--rules: a user rule decides a line the defaults do not know', async () => {
    const rulesDir = path.join(dir, 'rules');
    await mkdir(rulesDir, { recursive: true });
    await writeFile(
      path.join(rulesDir, 'site.yaml'),
      "version: 1\nrules:\n  - id: site-appliance-halt\n    severity: fatal\n    category: OTHER\n    fault: UVKE\n    match: 'APPLIANCE HALTED: (?<why>.+)'\n    message: the appliance's init halted\n",
    );
    const log = path.join(dir, 'site.log');
    await writeFile(log, 'booting\nAPPLIANCE HALTED: no firmware blob\n');
    expect(cli('diagnose', '--json', log).code).toBe(0);
    const r = cli('diagnose', '--json', '--rules', rulesDir, log);
    expect(r.code).toBe(6);
    expect(JSON.parse(r.out).decidedBy).toMatchObject({ ruleId: 'site-appliance-halt', lineNumber: 2 });
  });
  it('bad input: a missing log, a directory: exit 2 with the path', async () => {
    const missing = cli('diagnose', path.join(dir, 'nope.log'));
    expect(missing.code).toBe(2);
    expect(missing.out + missing.err).toContain('nope.log');
    const d = cli('diagnose', dir);
    expect(d.code).toBe(2);
  });
});
