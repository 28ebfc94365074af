/**
 * Issue 10, items 6, 7, 8, 12, 15, 18: what the CLI prints from outside is neutralised, pasted fixes do
 * what they say, bad configs are bad input, --json always prints one document, "not a dom0" is said as
 * such, and --samples cleans up after itself.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cause } from '../../src/analysis/evidence.js';
import { missingDiskRemedy } from '../../src/analysis/missing-disk.js';
import type { InspectReport } from '../../src/api.js';
import { formatInspectReport } from '../../src/cli/format-report.js';
import { checkKernelSuitability } from '../../src/kernel/kernel-suitability.js';
import { printable, safeJson } from '../../src/util/printable.js';
import { parseXlConfig } from '../../src/xl/config.js';
import { vmSpecFromXlConfig } from '../../src/xl/vm-spec.js';
import { cli } from './support/helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vmbf-hostile-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for raw control characters is the point
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

describe('item 7: outside text is neutralised in text output and escaped in JSON', () => {
  it(
    'a newline in a path cannot forge a line, an ESC in a VM name never reaches the terminal',
    { timeout: 40_000 },
    async () => {
      const sub = path.join(dir, 'forge\nweb.img: OK\n');
      await mkdir(sub);
      const cfg = path.join(sub, 'evil.cfg');
      await writeFile(
        cfg,
        'name = "vm\u001b]0;owned\u0007\u001b[2J"\nkernel = "/nonexistent/vmlinuz"\nextra = "root=/dev/xvda1"\n',
      );
      const r = cli(['inspect', cfg]);
      expect(r.timedOut).toBe(false);
      expect(r.out).not.toMatch(RAW_CONTROL);
      expect(r.out.split('\n')).not.toContain('web.img: OK');
      expect(r.out).toContain('forge\\nweb.img: OK\\n');
      expect(r.out).toContain('vm\\x1b]0;owned\\a\\x1b[2J');
      const json = cli(['inspect', '--json', cfg]);
      expect(json.out).not.toMatch(RAW_CONTROL);
      expect(JSON.parse(json.out).configs[0].spec.name).toBe('vm\u001b]0;owned\u0007\u001b[2J');
    },
  );

  it('a hotplug-error value with ESC and CR is shown escaped', () => {
    const hotplug: Cause = {
      code: 'HOTPLUG_ERROR',
      paperFault: 'UVDE',
      title: 'xvda: the dom0 hotplug script could not attach the backing storage',
      confidence: 0.9,
      evidence: [{ source: 'xenstore', detail: 'hotplug-error', value: 'bad\r\u001b[1A\u001b[2Kall good' }],
      remedy: 'fix the target of xvda (/img): bad\r\u001b[2K',
    };
    const spec = vmSpecFromXlConfig(parseXlConfig('name = "x"\nkernel = "/k"\n', '/etc/xen/x.cfg'));
    const report: InspectReport = {
      schemaVersion: 1,
      vm: { name: 'x', configPath: '/etc/xen/x.cfg' },
      spec,
      preflight: { disks: [], causes: [hotplug], elapsedMs: 1 },
      causes: [hotplug],
      verdict: 'FAULT_PREDICTED',
    };
    const text = formatInspectReport(report);
    expect(text).not.toMatch(RAW_CONTROL);
    expect(text).toContain('bad\\r\\x1b[1A\\x1b[2Kall good');
    expect(safeJson({ v: '\u009b2J\u2028\u202e' })).toBe('{\n  "v": "\\u009b2J\\u2028\\u202e"\n}');
    expect(printable('a\u202eb')).toBe('a\\u{202e}b');
  });
});

describe('item 6: printed fixes are shell-quoted', () => {
  it('a kernel version with $(...) and spaces stays one argument of update-initramfs', async () => {
    const kdir = path.join(dir, "k'q dir");
    await mkdir(kdir);
    const kernel = path.join(kdir, 'vmlinuz-6.1 $(touch PWNED)');
    await writeFile(kernel, Buffer.alloc(4096, 0x41));
    const result = await checkKernelSuitability(
      { kernel, ramdisk: path.join(kdir, 'missing.img') },
      { readnotes: false, bootDir: kdir },
    );
    const remedy = result.problems.find((p) => p.code === 'RAMDISK_MISSING')?.remedy ?? '';
    const command = /build it: (update-initramfs .*)\.$/.exec(remedy)?.[1];
    expect(command).toBeDefined();
    const args = execFileSync(
      'sh',
      ['-c', `printf '%s\\n' ${(command as string).replace(/^update-initramfs /, '')}`],
      {
        cwd: dir,
        encoding: 'utf8',
      },
    );
    expect(args.split('\n').slice(0, 3)).toEqual(['-c', '-k', '6.1 $(touch PWNED)']);
    expect(await readdir(dir)).not.toContain('PWNED');
  });

  it('a config path with a quote and a space is quoted in the VMCE fix', () => {
    const spec = vmSpecFromXlConfig(
      parseXlConfig('name = "x"\n# disk = [ "/img,xvda,w" ]\n', "/etc/xen/it's here.cfg"),
    );
    expect(missingDiskRemedy(spec)).toContain("of '/etc/xen/it'\\''s here.cfg':");
  });
});

describe('item 8: a .cfg that is not a config is bad input, not a disk', () => {
  it('binary .cfg -> exit 2', { timeout: 40_000 }, async () => {
    const cfg = path.join(dir, 'binary.cfg');
    await writeFile(cfg, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 0, 1, 2, 3, 0, 0]));
    const r = cli(['inspect', cfg]);
    expect(r.code).toBe(2);
    expect(r.out).toContain('ERR_XL_CONFIG');
  });

  it('50 MB .cfg -> exit 2', { timeout: 40_000 }, async () => {
    const cfg = path.join(dir, 'huge.cfg');
    await writeFile(cfg, '');
    await truncate(cfg, 50 * 1024 * 1024);
    const r = cli(['inspect', cfg]);
    expect(r.code).toBe(2);
    expect(r.out).toContain('larger than 1 MiB');
  });
});

describe('item 12: --json always prints one JSON document on stdout', () => {
  it('test --json on an error', { timeout: 40_000 }, () => {
    const r = cli(['test', path.join(dir, 'no-such.cfg'), '--json']);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.out);
    expect(doc).toMatchObject({ schemaVersion: 1, command: 'test', error: { code: 'ERR_XL_CONFIG' } });
  });

  it('inspect --json with no targets', { timeout: 40_000 }, () => {
    const r = cli(['inspect', '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out)).toMatchObject({
      schemaVersion: 1,
      command: 'inspect',
      error: { code: 'ERR_INVALID_ARGUMENT' },
    });
  });

  it('an unknown option with --json', { timeout: 40_000 }, () => {
    const r = cli(['inspect', '--json', '--bogus']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out)).toMatchObject({ schemaVersion: 1, error: { code: 'ERR_USAGE' } });
  });
});

describe('item 15: test on a host that is not a dom0', () => {
  it('says "not a Xen dom0" (exit 3), not ENOENT: xs_open', { timeout: 40_000 }, async () => {
    const cfg = path.join(dir, 'dom0.cfg');
    await writeFile(cfg, 'name = "d"\nkernel = "/boot/vmlinuz"\n');
    const r = cli(['test', cfg]);
    expect(r.code).toBe(3);
    expect(r.err).toContain('not a Xen dom0');
    expect(r.err).toContain('ERR_NOT_DOM0');
  });
});

describe('item 18: inspect --samples removes the temporary directory it created', () => {
  it('leaves nothing in TMPDIR', { timeout: 120_000 }, async () => {
    const tmp = path.join(dir, 'tmp');
    await mkdir(tmp);
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'inspect', '--samples'], {
      encoding: 'utf8',
      timeout: 100_000,
      env: { ...process.env, TMPDIR: tmp },
    });
    expect(r.status, r.stderr).toBe(0);
    // tsx keeps its own cache there.
    expect((await readdir(tmp)).filter((n) => !n.startsWith('tsx-'))).toEqual([]);
  });
});
