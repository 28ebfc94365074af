/**
 * The live Xen driver's wiring, off-Xen: xenstore watches through the addon on
 * the test xenstored, a stand-in `xl` that writes what libxl and a guest would,
 * and a console log like xenconsoled's. libxenstat has no hypervisor here, so
 * counters and domain state are absent; the real testbed covers those.
 */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleMatcher } from '../src/analysis/console/matcher.js';
import { loadRules } from '../src/analysis/console/rules.js';
import { XenDriver, xenconsoledGuestLogDir } from '../src/driver/xen-driver.js';
import { BootTest } from '../src/engine/boot-test.js';
import { XenStore } from '../src/xen/xenstore.js';
import type { VmSpec } from '../src/xl/vm-spec.js';
import { freeLoopDevice } from './support/loop-devices.js';
import { startXenstored } from './support/xenstored/index.js';

let daemon: Awaited<ReturnType<typeof startXenstored>>;
let dir: string;
let driver: XenDriver;
const fakeXl = path.resolve('test/support/fake-xl.sh');

beforeAll(async () => {
  daemon = await startXenstored('fake');
  Object.assign(process.env, daemon.env);
  dir = await mkdtemp(path.join(os.tmpdir(), 'vmbf-driver-'));
  Object.assign(process.env, { FAKE_XL_CONSOLE_DIR: dir, FAKE_XL_LOG: path.join(dir, 'xl.log') });
  driver = await XenDriver.open({ xl: fakeXl, consoleLogDir: dir, pollMs: 100 });
});

afterEach(async () => {
  const store = await XenStore.open();
  for (const id of (await store.directory('/local/domain')) ?? [])
    if (id !== '0') await store.rm(`/local/domain/${id}`);
  await store.close();
});

afterAll(async () => {
  await driver?.close();
  await daemon?.stop();
  delete process.env.XENSTORED_PATH;
  await rm(dir, { recursive: true, force: true });
});

async function cfg(name: string): Promise<string> {
  const file = path.join(dir, `${name}.cfg`);
  await writeFile(
    file,
    `name = "${name}"\nkernel = "/boot/vmlinuz"\nextra = "root=/dev/xvda1"\ndisk = [ 'phy:/dev/loop6,xvda,w' ]\n`,
  );
  return file;
}

function spec(name: string, file: string): VmSpec {
  return {
    configPath: file,
    name,
    rootDevice: '/dev/xvda1',
    disks: [{ vdev: 'xvda', device: 51712, spec: 'phy:/dev/loop6,xvda,w' }],
  };
}

/** One try of `name` through the XenDriver and the fake xl's scenario. */
async function bootTest(name: string, file: string, scenario: 'normal' | 'uvde' | 'backing') {
  process.env.FAKE_XL_SCENARIO = scenario;
  const { rules } = await loadRules();
  return new BootTest(spec(name, file), driver, {
    consoleMatcher: () => new ConsoleMatcher(rules),
    retries: 0,
    timeLimitMs: 20_000,
  }).run();
}

describe('XenDriver through BootTest', () => {
  it('a booting guest: xl created, xenstore changes and the console log give OK; the VM is destroyed via xl', async () => {
    const file = await cfg('normalvm');
    // An older boot of the same name left lines in the log: they must not count.
    await writeFile(path.join(dir, 'guest-normalvm.log'), 'old boot\nnormalvm login: \n');
    const report = await bootTest('normalvm', file, 'normal');
    expect(report.verdict).toBe('OK');
    expect(report.tries[0]?.domid).toBe(5);
    expect(report.tries[0]?.times.hardwareCreationMs).toBeGreaterThan(0);
    expect(report.tries[0]?.destroyed).toBe(true);
    // A crash, reboot or power-off during the test stays in view (KEEP_SHUT_DOWN).
    expect(await readFile(path.join(dir, 'xl.log'), 'utf8')).toBe(
      `create ${file} on_poweroff="preserve" on_reboot="preserve" on_crash="preserve"\ndestroy 5\n`,
    );
  });

  it('a first boot: the console log xenconsoled creates after xl create returned is read from its first byte', async () => {
    const file = await cfg('firstbootvm');
    const report = await bootTest('firstbootvm', file, 'normal');
    expect(report.verdict).toBe('OK');
  });

  it('finds the guest log directory on the running xenconsoled command line', async () => {
    const proc = await mkdtemp(path.join(os.tmpdir(), 'vmbf-proc-'));
    const argv = async (pid: string, ...args: string[]) => {
      await mkdir(path.join(proc, pid));
      await writeFile(path.join(proc, pid, 'cmdline'), `${args.join('\0')}\0`);
    };
    await argv('1', '/sbin/init');
    await argv('88', '/usr/lib/xen-4.17/bin/xenconsoled', '--log=guest', '--log-dir', '/srv/console');
    expect(await xenconsoledGuestLogDir(proc)).toBe('/srv/console');
    await writeFile(
      path.join(proc, '88', 'cmdline'),
      '/usr/lib/xen-4.17/bin/xenconsoled\0--pid-file=/run/x\0',
    );
    expect(await xenconsoledGuestLogDir(proc)).toBeNull();
    await writeFile(path.join(proc, '88', 'cmdline'), '/usr/sbin/xenconsoled\0--log=all\0');
    expect(await xenconsoledGuestLogDir(proc)).toBe('/var/log/xen/console');
    await rm(proc, { recursive: true, force: true });
  });

  it('a backend that connects with sectors=0 is UVDE, from live xenstore watches', async () => {
    const file = await cfg('uvdevm');
    const report = await bootTest('uvdevm', file, 'uvde');
    expect(report.verdict).toBe('PERMANENT');
    expect(report.tries[0]?.reason).toContain('0 sectors');
    expect(report.causes.map((c) => c.code)).toContain('UVDE');
  });

  const loop = freeLoopDevice();
  it.skipIf(!loop.device)(
    `a backend whose physical-device has 0 sectors in sysfs is UVDE before the frontend connects ${loop.reason ?? ''}`,
    async () => {
      // An unattached loop device: /sys/dev/block/7:N/size is 0 on this host too.
      const st = await stat(loop.device as string);
      const major = Math.floor(st.rdev / 256);
      const minor = st.rdev % 256;
      process.env.FAKE_XL_PHYSDEV = `${major.toString(16)}:${minor.toString(16)}`;
      const report = await bootTest('backingvm', await cfg('backingvm'), 'backing');
      delete process.env.FAKE_XL_PHYSDEV;
      expect(report.verdict).toBe('PERMANENT');
      expect(report.tries[0]?.reason).toBe(
        'the virtual disk has no backing storage (its block device has 0 sectors)',
      );
      expect(
        report.tries[0]?.evidence.some((e) => e.detail.includes(`/sys/dev/block/${major}:${minor}/size`)),
      ).toBe(true);
      expect(report.causes.map((c) => c.code)).toContain('UVDE');
    },
  );

  it('refuses to destroy a domain it did not create, or one renamed since', async () => {
    const store = await XenStore.open();
    await store.write('/local/domain/9/name', 'someone-else');
    await expect(driver.destroy({ domid: 9, name: 'someone-else' })).rejects.toMatchObject({
      code: 'ERR_NOT_OUR_DOMAIN',
    });
    expect(await store.read('/local/domain/9/name')).toBe('someone-else');
    await store.close();
  });

  it('finds an existing domain by name (pre-check)', async () => {
    const store = await XenStore.open();
    await store.write('/local/domain/12/name', 'taken');
    expect(await driver.findDomainByName('taken')).toBe(12);
    expect(await driver.findDomainByName('free')).toBeUndefined();
    await store.close();
  });
});
