import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { VmbootfailError } from '../src/errors.js';
import { nativeAddon } from '../src/native/loader.js';
import { XenStore } from '../src/xen/xenstore.js';

const addon = nativeAddon();

describe('wrong argument types reach the native layer without crashing it', () => {
  it.each([
    ['partedProbe()', () => (addon.partedProbe as unknown as () => unknown)()],
    ['partedProbe(42)', () => addon.partedProbe(42 as unknown as string)],
    ['blkidProbe({})', () => addon.blkidProbe({} as unknown as string, 0, 0)],
    ['ext2Probe(null)', () => addon.ext2Probe(null as unknown as string, 0)],
    ['loopProbe([])', () => addon.loopProbe([] as unknown as string)],
    ['new XenStoreHandle()', () => new (addon.XenStoreHandle as unknown as new () => unknown)()],
    ['new XenStoreHandle(1, 2)', () => new addon.XenStoreHandle(1 as never, 2 as never)],
    ['setErrorClass("x")', () => addon.setErrorClass('x' as never)],
  ])('%s throws TypeError', (_name, call) => {
    expect(call).toThrow(TypeError);
  });

  it('handle methods with bad arguments throw TypeError', () => {
    const h = new addon.XenStoreHandle(
      () => {},
      () => {},
    );
    expect(() => h.read('0' as unknown as number, '/x')).toThrow(TypeError);
    expect(() => h.read(0, 5 as unknown as string)).toThrow(TypeError);
    expect(() => h.write(0, '/x', 'not a buffer' as unknown as Buffer)).toThrow(TypeError);
    expect(() => h.watch(1 as unknown as string, 't')).toThrow(TypeError);
  });
});

describe('lifecycle abuse of a xenstore handle', () => {
  it('calls before open, after close, and double close are typed rejections', async () => {
    const h = new addon.XenStoreHandle(
      () => {},
      () => {},
    );
    await expect(h.read(0, '/local')).rejects.toMatchObject({ code: 'ERR_NOT_OPEN', lib: 'xenstore' });
    await h.close();
    await h.close();
    await expect(h.read(0, '/local')).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    await expect(h.open()).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    const rejected = await h.directory(0, '/').catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(VmbootfailError);
  });

  it('open against a path with no daemon is a typed errno error naming the path', async () => {
    const old = process.env.XENSTORED_PATH;
    process.env.XENSTORED_PATH = '/nonexistent/xenstored.socket';
    try {
      await expect(XenStore.open({ callTimeoutMs: 2000 })).rejects.toMatchObject({
        name: 'VmbootfailError',
        code: 'ENOENT',
        lib: 'xenstore',
        op: 'xs_open',
        path: '/nonexistent/xenstored.socket',
      });
    } finally {
      if (old === undefined) delete process.env.XENSTORED_PATH;
      else process.env.XENSTORED_PATH = old;
    }
  });

  it('many handles created and dropped without close are collected without a crash', async () => {
    for (let i = 0; i < 200; i++)
      new addon.XenStoreHandle(
        () => {},
        () => {},
      );
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setTimeout(r, 50));
  });
});

/** CommonJS that loads the addon as src/native/loader.ts does (the sanitizer build when VMBF_NATIVE_ADDON is set). */
const requireAddon = (root: string) =>
  `(process.env.VMBF_NATIVE_ADDON ? require(process.env.VMBF_NATIVE_ADDON) : require('bindings')({ bindings: 'vmbootfail', module_root: ${JSON.stringify(root)} }))`;

describe('environments', () => {
  it.runIf(process.env.VMBF_NATIVE_ADDON)(
    'the addon under test is the one VMBF_NATIVE_ADDON names (sanitizer tier)',
    async () => {
      nativeAddon();
      const maps = await readFile('/proc/self/maps', 'utf8');
      expect(maps).toContain(path.resolve(process.env.VMBF_NATIVE_ADDON ?? ''));
    },
  );

  it('loads and inspects inside worker threads, and the workers exit cleanly', async () => {
    const loader = path.resolve('src/native/loader.ts');
    const code = `
      const { parentPort } = require('node:worker_threads');
      const addon = ${requireAddon(path.dirname(path.dirname(path.dirname(loader))))};
      addon.loopProbe('/dev/null').then((r) => parentPort.postMessage(r), (e) => parentPort.postMessage({ error: e.message }));
    `;
    const runs = await Promise.all(
      [1, 2, 3].map(
        () =>
          new Promise<{ message: unknown; exitCode: number }>((resolve, reject) => {
            const w = new Worker(code, {
              eval: true,
              workerData: { root: path.dirname(path.dirname(path.dirname(loader))) },
            });
            let message: unknown;
            w.on('message', (m) => {
              message = m;
            });
            w.on('error', reject);
            w.on('exit', (exitCode) => resolve({ message, exitCode }));
          }),
      ),
    );
    for (const r of runs) {
      expect(r.exitCode).toBe(0);
      expect(r.message).toEqual({ isLoop: false, attached: false });
    }
  });

  it('a worker terminated while its disk thread is busy does not take the process down', async () => {
    const code = `
      const addon = ${requireAddon(path.resolve('.'))};
      const { parentPort } = require('node:worker_threads');
      // Keeps the disk thread busy until the worker is terminated; says so once a result came back.
      let told = false;
      setInterval(() => { for (let i = 0; i < 20; i++) addon.partedProbe('/dev/null').catch(() => {
        if (!told) { told = true; parentPort.postMessage('busy'); }
      }); }, 1);
    `;
    const w = new Worker(code, { eval: true, workerData: { root: path.resolve('.') } });
    // Terminate only once the worker runs and calls are in flight: a fixed delay raced
    // the addon's load under the sanitizer build (terminated before it ran, exit code 0).
    await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
      w.once('exit', (c) => reject(new Error(`worker exited early with ${c}`)));
    });
    expect(await w.terminate()).toBe(1);
  });

  it('40 workers terminated while results are settling: no fatal error or segfault (1 run in 10 crashed before promises and flags survived teardown)', () => {
    // In a child process, so a native abort fails this test instead of the runner.
    const script = `
      const { Worker } = require('node:worker_threads');
      const code = \`
        const addon = ${requireAddon(path.resolve('.'))};
        class E extends Error { constructor(m, d) { super(m); Object.assign(this, d); } }
        addon.setErrorClass(E);
        setInterval(() => { for (let i = 0; i < 20; i++) {
          addon.partedProbe('/dev/null').catch(() => {});
          addon.xenstatSnapshot(true).catch(() => {});
          addon.loopProbe('/nonexistent').catch(() => {});
        } }, 1);
      \`;
      (async () => {
        for (let i = 0; i < 40; i++) {
          const w = new Worker(code, { eval: true });
          await new Promise((r) => setTimeout(r, 5 + (i * 7) % 40));
          await w.terminate();
        }
        console.log('survived');
      })();
    `;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
    const how = `status ${r.status}, signal ${r.signal}, stderr: ${r.stderr.slice(0, 800)}`;
    expect(r.stderr, how).not.toContain('FATAL');
    expect(r.stdout.trim(), how).toBe('survived');
  }, 70_000);

  it('a process that only loads the addon exits at once (idle library threads hold nothing open)', () => {
    const r = spawnSync(
      process.execPath,
      [
        '-e',
        `const a = ${requireAddon(path.resolve('.'))}; a.loopProbe('/dev/null').then(() => console.log('done'))`,
      ],
      { encoding: 'utf8', timeout: 10_000 },
    );
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('done');
  });
});
