/**
 * The live Xen driver's wiring, off-Xen: xenstore watches through the addon on
 * the test xenstored, a stand-in `xl` that writes what libxl and a guest would,
 * and a console log like xenconsoled's. libxenstat has no hypervisor here, so
 * counters and domain state are absent; the real testbed covers those.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConsoleMatcher } from '../src/analysis/console/matcher.js';
import { loadRules } from '../src/analysis/console/rules.js';
import { XenDriver } from '../src/driver/xen-driver.js';
import { BootTest } from '../src/engine/boot-test.js';
import type { VmSpec } from '../src/engine/vm-spec.js';
import { XenStore } from '../src/xen/xenstore.js';
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

describe('XenDriver through BootTest', () => {
  it('a booting guest: xl created, xenstore changes and the console log give OK; the VM is destroyed via xl', async () => {
    const file = await cfg('normalvm');
    // An older boot of the same name left lines in the log: they must not count.
    await writeFile(path.join(dir, 'guest-normalvm.log'), 'old boot\nnormalvm login: \n');
    process.env.FAKE_XL_SCENARIO = 'normal';
    const { rules } = await loadRules();
    const report = await new BootTest(spec('normalvm', file), driver, {
      consoleMatcher: () => new ConsoleMatcher(rules),
      retries: 0,
      timeLimitMs: 20_000,
    }).run();
    expect(report.verdict).toBe('OK');
    expect(report.tries[0]?.domid).toBe(5);
    expect(report.tries[0]?.times.hardwareCreationMs).toBeGreaterThan(0);
    expect(report.tries[0]?.destroyed).toBe(true);
    expect(await readFile(path.join(dir, 'xl.log'), 'utf8')).toBe(`create ${file}\ndestroy 5\n`);
  });

  it('a backend that connects with sectors=0 is UVDE, from live xenstore watches', async () => {
    const file = await cfg('uvdevm');
    process.env.FAKE_XL_SCENARIO = 'uvde';
    const { rules } = await loadRules();
    const report = await new BootTest(spec('uvdevm', file), driver, {
      consoleMatcher: () => new ConsoleMatcher(rules),
      retries: 0,
      timeLimitMs: 20_000,
    }).run();
    expect(report.verdict).toBe('PERMANENT');
    expect(report.tries[0]?.reason).toContain('0 sectors');
    expect(report.causes.map((c) => c.code)).toContain('UVDE');
  });

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
