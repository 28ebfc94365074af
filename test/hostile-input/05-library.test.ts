/**
 * Issue 10, items 13, 14, 17: the library cleans up whatever a caller's callback does, its deadlines
 * count only time on the native thread, and wrong option types are typed errors, never TypeErrors or
 * Node warnings.
 */
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testVm } from '../../src/api.js';
import { DiskInspector } from '../../src/disk/inspector.js';
import { ReplayDriver } from '../../src/driver/replay-driver.js';
import { VmbootfailError } from '../../src/errors.js';
import { withDeadline } from '../../src/native/deadline.js';
import { XenStat } from '../../src/xen/xenstat.js';
import { XenStore } from '../../src/xen/xenstore.js';
import { recorded } from '../support/timelines.js';

let dir: string;
let cfg: string;
let image: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vmbf-hostile-lib-'));
  cfg = path.join(dir, 'guest.cfg');
  await writeFile(cfg, 'name = "guest"\nkernel = "/nonexistent/vmlinuz"\nextra = "root=/dev/xvda1"\n');
  image = path.join(dir, 'blank.img');
  await writeFile(image, '');
  await truncate(image, 1024 * 1024);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('item 13: a callback that throws never leaves the created domain running', () => {
  it.each([
    [
      'onPhase throws',
      {
        onPhase: (p: string) => {
          if (p === 'watch-boot') throw new Error('boom');
        },
      },
    ],
    [
      'onProgress throws',
      {
        onProgress: () => {
          throw new Error('boom');
        },
      },
    ],
    [
      'onPhase rejects',
      {
        onPhase: async () => {
          throw new Error('boom');
        },
      },
    ],
  ])('%s', async (_name, callbacks) => {
    const driver = new ReplayDriver({ tries: [recorded('vmce')] });
    // bootDespitePreflight: the config has no disk, which the preflight proves; the domain is the point here.
    const outcome = await testVm(cfg, { driver, retries: 0, bootDespitePreflight: true, ...callbacks }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(driver.created.length).toBeGreaterThan(0);
    expect(driver.destroyed).toEqual(driver.created);
    expect(outcome).toBeInstanceOf(VmbootfailError);
    expect(outcome).toMatchObject({
      code: 'ERR_CALLBACK',
      cause: expect.objectContaining({ message: 'boom' }),
    });
  });
});

describe('item 14: deadlines count time on the native thread, not time queued for it', () => {
  it(
    '2000 concurrent inspections with a 2 s deadline: no false ERR_DEADLINE',
    { timeout: 120_000 },
    async () => {
      const inspector = new DiskInspector({ callTimeoutMs: 2000 });
      const results = await Promise.allSettled(Array.from({ length: 2000 }, () => inspector.inspect(image)));
      const deadlines = results.filter(
        (r) => r.status === 'rejected' && (r.reason as VmbootfailError).code === 'ERR_DEADLINE',
      );
      expect(deadlines.length).toBe(0);
      expect(
        results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason),
      ).toEqual([]);
    },
  );

  it('a call that really hangs still fails with ERR_DEADLINE', async () => {
    await expect(
      withDeadline(() => new Promise(() => undefined), 50, { lib: 'parted', op: 'ped_disk_probe' }),
    ).rejects.toMatchObject({ code: 'ERR_DEADLINE' });
    // ...and frees its lane for the next call.
    await expect(withDeadline(async () => 7, 50, { lib: 'parted', op: 'ped_disk_probe' })).resolves.toBe(7);
  });
});

describe('item 17 and the callTimeoutMs part of 14: options are validated with typed errors', () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  beforeAll(() => {
    process.on('warning', onWarning);
  });
  afterAll(() => {
    process.off('warning', onWarning);
  });

  const invalid = expect.objectContaining({ name: 'VmbootfailError', code: 'ERR_INVALID_ARGUMENT' });

  it.each([null, 5, 'x', [1]])('new DiskInspector(%j)', (options) => {
    expect(() => new DiskInspector(options as never)).toThrow(invalid);
  });

  it.each([1e12, -1, 0, 'abc', Number.NaN, Number.POSITIVE_INFINITY, 1.5])(
    'callTimeoutMs %j is refused up front, with no Node warning',
    async (callTimeoutMs) => {
      expect(() => new DiskInspector({ callTimeoutMs } as never)).toThrow(invalid);
      expect(() => new XenStat({ callTimeoutMs } as never)).toThrow(invalid);
      await expect(XenStore.open({ callTimeoutMs } as never)).rejects.toEqual(invalid);
      await new Promise((r) => setTimeout(r, 10));
      expect(warnings).toEqual([]);
    },
  );

  it.each([
    ['signal', 'x'],
    ['signal', {}],
    ['onPhase', 'not a function'],
    ['onProgress', 3],
    ['retries', -1],
    ['retries', '3'],
    ['timeLimitMs', 'soon'],
    ['keepOnFailure', 'yes'],
    ['bootDespitePreflight', 1],
    ['rulesDir', 42],
  ])('testVm option %s = %j', async (key, value) => {
    const driver = new ReplayDriver({ tries: [recorded('vmce')] });
    await expect(testVm(cfg, { driver, [key]: value } as never)).rejects.toEqual(invalid);
    expect(driver.created).toEqual([]);
  });

  it('testVm(path, null) and a non-string path', async () => {
    await expect(testVm(cfg, null as never)).rejects.toEqual(invalid);
    await expect(testVm(42 as never)).rejects.toEqual(invalid);
  });
});
