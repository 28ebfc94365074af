/**
 * The live driver on a Xen dom0: `xl create`/`xl destroy` without a shell,
 * xenstore watches on the domain's VBD and console nodes, libxenstat polling
 * for counters and domain state, and the console from its first byte
 * (xenconsoled's guest log when it keeps one, else the pty named in xenstore).
 */
import { execFile } from 'node:child_process';
import { constants, open as fsOpen } from 'node:fs';
import { access, readFile, readdir, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ReadStream } from 'node:tty';
import { promisify } from 'node:util';
import { capabilities } from '../capabilities.js';
import { type DiskInspection, DiskInspector, type InspectOptions } from '../disk/inspector.js';
import { ErrorCode, VmbootfailError } from '../errors.js';
import { openRegularFile } from '../util/safe-open.js';
import { XenStat } from '../xen/xenstat.js';
import { XenStore } from '../xen/xenstore.js';
import type { BootDriver, CreatedDomain, TryObservation } from './driver.js';
import { SignalQueue } from './signal-queue.js';
import { type DomainFlag, type Signal, VBD_COUNTERS, type VbdCounter } from './signals.js';

const run = promisify(execFile);
const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

export interface XenDriverOptions {
  /** The xl binary. Default "xl" from PATH. */
  xl?: string;
  /** How often libxenstat is sampled. Default 200 ms. */
  pollMs?: number;
  /**
   * xenconsoled's guest log directory. Default: read from the running
   * xenconsoled's --log=guest|all and --log-dir, else none (the pty is read).
   */
  consoleLogDir?: string | null;
  /** Deadline for `xl create`. Default 120000 ms. */
  createTimeoutMs?: number;
}

const COUNTER_FIELDS: Record<
  VbdCounter,
  'ooRequests' | 'readRequests' | 'writeRequests' | 'readSectors' | 'writeSectors'
> = {
  oo_req: 'ooRequests',
  rd_req: 'readRequests',
  wr_req: 'writeRequests',
  rd_sect: 'readSectors',
  wr_sect: 'writeSectors',
};
/**
 * xl config overrides for the test VM: a guest that crashes, reboots (a panic with panic=N, a triple
 * fault) or powers off during its boot test has failed it. Kept in its shut-down state it stays in
 * view, to be judged and destroyed by the test; xl would otherwise destroy it (the test could not tell
 * that from someone else's xl destroy) or restart it under a new domid, running on unwatched.
 */
export const KEEP_SHUT_DOWN = ['on_poweroff="preserve"', 'on_reboot="preserve"', 'on_crash="preserve"'];

const FLAG_NAMES: DomainFlag[] = ['running', 'blocked', 'paused', 'shutdown', 'crashed', 'dying'];

/**
 * Where the running xenconsoled keeps guest logs, from its command line
 * (`--log=guest|all`, `--log-dir`, default /var/log/xen/console), or null
 * when it keeps none.
 */
export async function xenconsoledGuestLogDir(proc = '/proc'): Promise<string | null> {
  for (const pid of await readdir(proc).catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const argv = (await readFile(`${proc}/${pid}/cmdline`, 'latin1').catch(() => '')).split('\0');
    if (!argv[0] || !/(^|\/)xenconsoled$/.test(argv[0])) continue;
    let logs = false;
    let dir = '/var/log/xen/console';
    for (let i = 1; i < argv.length; i++) {
      const [key, inline] = (argv[i] ?? '').split(/=(.*)/s, 2);
      const value = inline ?? argv[i + 1] ?? '';
      if (key === '--log' || key === '-l') logs = value === 'guest' || value === 'all';
      if (key === '--log-dir' || key === '-r') dir = value;
    }
    return logs ? dir : null;
  }
  return null;
}

/**
 * Reads a console pty through libuv's tty handle (epoll), not the thread
 * pool: a pty read blocks until the guest prints.
 */
async function followPty(
  path: string,
  stopped: () => boolean,
  now: () => number,
  emit: (s: Signal) => void,
): Promise<void> {
  const fd = await new Promise<number>((resolve, reject) =>
    fsOpen(path, constants.O_RDONLY | constants.O_NOCTTY | constants.O_NONBLOCK, (err, fd) =>
      err ? reject(err) : resolve(fd),
    ),
  ).catch(() => undefined);
  if (fd === undefined) return;
  const stream = new ReadStream(fd);
  stream.on('data', (chunk: Buffer) => emit({ at: now(), source: 'con', text: chunk.toString('latin1') }));
  stream.on('error', () => undefined);
  while (!stopped() && !stream.destroyed) await new Promise((r) => setTimeout(r, 100));
  stream.destroy();
}

/**
 * What a failed connection to xenstored means to an operator. No xenstored socket and no
 * /dev/xen/xenbus (xs_open: ENOENT), or nobody answering, is "not a Xen dom0" (exit 3), said as such
 * with what capabilities() found, instead of "ENOENT: xs_open: No such file or directory".
 */
async function notDom0(error: unknown): Promise<unknown> {
  if (!(error instanceof VmbootfailError)) return error;
  const connect = error.op === 'xs_open' || error.op === 'xs_get_domain_path';
  const missing = ['ENOENT', 'ECONNREFUSED', 'ENOTCONN', 'EACCES', 'ENXIO', ErrorCode.DEADLINE];
  if (!connect || !missing.includes(error.code)) return error;
  const caps = await capabilities().catch(() => undefined);
  const why = caps
    ? [caps.hypervisor.reason, caps.xenstore.reason].filter((r): r is string => Boolean(r)).join('; ')
    : '';
  const advice =
    'Run vmbootfail test on a Xen dom0 with xenstored running; "vmbootfail capabilities" shows what is missing';
  return new VmbootfailError(
    `not a Xen dom0: cannot reach xenstored (${error.op}: ${error.message})${why ? `; ${why}` : ''}. ${advice}`,
    { code: ErrorCode.NOT_DOM0, lib: 'xenstore', op: error.op ?? 'xs_open', cause: error },
  );
}

// The block hotplug script writes the device it attached as "<major>:<minor>" in hex
// (tools/hotplug/Linux/block-common.sh write_dev: printf '%x:%x').
const PHYSICAL_DEVICE = /^\/local\/domain\/0\/backend\/vbd\/\d+\/(\d+)\/physical-device$/;

/** The size in 512-byte sectors of the block device physical-device names, from sysfs. */
async function backingSectors(
  value: string,
): Promise<{ physicalDevice: string; sectors: number } | undefined> {
  const m = /^([0-9a-f]{1,8}):([0-9a-f]{1,8})$/i.exec(value.trim());
  if (!m) return undefined;
  const physicalDevice = `${Number.parseInt(m[1] as string, 16)}:${Number.parseInt(m[2] as string, 16)}`;
  const text = await readFile(`/sys/dev/block/${physicalDevice}/size`, 'utf8').catch(() => undefined);
  const sectors = text === undefined ? Number.NaN : Number(text.trim());
  return Number.isSafeInteger(sectors) ? { physicalDevice, sectors } : undefined;
}

export class XenDriver implements BootDriver {
  readonly kind = 'xen' as const;
  readonly #store: XenStore;
  readonly #stat = new XenStat();
  readonly #inspector = new DiskInspector();
  readonly #options: Required<XenDriverOptions>;
  readonly #ours = new Map<number, string>();

  private constructor(store: XenStore, options: XenDriverOptions) {
    this.#store = store;
    this.#options = {
      xl: options.xl ?? 'xl',
      pollMs: options.pollMs ?? 200,
      consoleLogDir: options.consoleLogDir ?? null,
      createTimeoutMs: options.createTimeoutMs ?? 120_000,
    };
  }

  /** Connects to xenstored; fails with a typed error on a host that is not a dom0. */
  static async open(options: XenDriverOptions = {}): Promise<XenDriver> {
    let store: XenStore;
    try {
      store = await XenStore.open();
    } catch (error) {
      throw await notDom0(error);
    }
    store.on('error', () => undefined); // reported per try as a fault signal
    const consoleLogDir =
      options.consoleLogDir === undefined ? await xenconsoledGuestLogDir() : options.consoleLogDir;
    return new XenDriver(store, { ...options, consoleLogDir });
  }

  async findDomainByName(name: string): Promise<number | undefined> {
    const ids = (await this.#store.directory('/local/domain')) ?? [];
    for (const id of ids) {
      if ((await this.#store.read(`/local/domain/${id}/name`)) === name) return Number(id);
    }
    return undefined;
  }

  startTry(configPath: string, name: string, _tryIndex: number): TryObservation {
    const queue = new SignalQueue();
    const t0 = performance.now();
    const now = () => Math.round(performance.now() - t0);
    const cleanups: (() => Promise<void> | void)[] = [];
    let domid: number | undefined;
    let createdSent = false;
    const early: Signal[] = []; // xenstore changes seen before `xl create` returned
    const push = (s: Signal) => {
      if (createdSent || s.source === 'xl' || s.source === 'fault' || s.source === 'tick') queue.push(s);
      else early.push(s);
    };
    const emit = (s: Signal) => {
      push(s);
      const device = s.source === 'xs' && s.value ? PHYSICAL_DEVICE.exec(s.path)?.[1] : undefined;
      if (device && s.source === 'xs' && s.value)
        void backingSectors(s.value).then((b) => {
          if (b && !stopped) push({ at: now(), source: 'backing', device: Number(device), ...b });
        });
    };
    let stopped = false;

    const onFault = (error: Error) =>
      emit({ at: now(), source: 'fault', what: 'xenstored', message: error.message });
    this.#store.on('error', onFault);
    cleanups.push(() => void this.#store.off('error', onFault));

    const onWatch = (path: string) => {
      if (domid === undefined) {
        if (path === '@introduceDomain') {
          void this.#lookForDomain(name).then(async (id) => {
            if (id !== undefined) await attach(id);
          });
        }
        return;
      }
      if (path === '@releaseDomain') return;
      void this.#store.read(path).then(
        (value) => emit({ at: now(), source: 'xs', path, value }),
        () => undefined,
      );
    };
    this.#store.on('watch', onWatch);
    cleanups.push(() => void this.#store.off('watch', onWatch));

    const watched: string[] = [];
    const watch = async (path: string) => {
      await this.#store.watch(path, `vmbootfail:${name}`);
      watched.push(path);
    };

    // xenconsoled appends to the guest log across boots: this boot starts at its current end.
    const logDir = this.#options.consoleLogDir;
    const consoleLog = logDir === null ? null : `${logDir}/guest-${name}.log`;
    const consoleStart = consoleLog
      ? stat(consoleLog).then(
          (s) => s.size,
          () => 0,
        )
      : Promise.resolve(0);

    const attach = async (id: number) => {
      if (domid !== undefined || stopped) return;
      domid = id;
      this.#ours.set(id, name);
      await watch(`/local/domain/${id}/device`);
      await watch(`/local/domain/0/backend/vbd/${id}`);
      await watch(`/local/domain/${id}/console/tty`);
      await watch('@releaseDomain');
      // Nodes written before the watches existed (libxl sets devices up before
      // `xl create` returns) are read once; the watches report what changes after.
      await this.#scan(`/local/domain/${id}/device`, now, emit);
      await this.#scan(`/local/domain/0/backend/vbd/${id}`, now, emit);
      cleanups.push(this.#followConsole(id, consoleLog, await consoleStart, now, emit));
      cleanups.push(this.#pollStats(id, now, emit));
    };

    const ticker = setInterval(() => emit({ at: now(), source: 'tick' }), 250);
    cleanups.push(() => clearInterval(ticker));

    void (async () => {
      try {
        await watch('@introduceDomain');
        const result = await run(this.#options.xl, ['create', configPath, ...KEEP_SHUT_DOWN], {
          timeout: this.#options.createTimeoutMs,
        }).then(
          () => undefined,
          (error: NodeJS.ErrnoException & { stderr?: string }) => (error.stderr || error.message).trim(),
        );
        const returnedAt = now(); // Th: the virtual hardware exists once xl create returns
        if (result !== undefined) {
          emit({ at: returnedAt, source: 'xl', event: 'create-failed', message: result });
          return;
        }
        const id = domid ?? (await this.#lookForDomain(name));
        if (id === undefined) {
          emit({
            at: now(),
            source: 'xl',
            event: 'create-failed',
            message: `xl create succeeded but no domain named ${name} exists`,
          });
          return;
        }
        await attach(id);
        emit({ at: returnedAt, source: 'xl', event: 'created', domid: id });
        createdSent = true;
        for (const s of early.splice(0)) queue.push(s);
      } catch (error) {
        emit({ at: now(), source: 'fault', what: 'driver', message: (error as Error).message });
      }
    })();

    return {
      signals: queue,
      stop: async () => {
        if (stopped) return;
        stopped = true;
        for (const path of watched)
          await this.#store.unwatch(path, `vmbootfail:${name}`).catch(() => undefined);
        for (const c of cleanups.reverse()) await c();
        queue.end();
      },
    };
  }

  /** Emits every node below `path` as an xs signal (depth-limited: VBD nodes sit 3 levels down). */
  async #scan(path: string, now: () => number, emit: (s: Signal) => void, depth = 0): Promise<void> {
    if (depth > 4) return;
    const children = await this.#store.directory(path).catch(() => null);
    if (!children) return;
    for (const child of children) {
      const childPath = `${path}/${child}`;
      const value = await this.#store.read(childPath).catch(() => null);
      if (value !== null) emit({ at: now(), source: 'xs', path: childPath, value });
      await this.#scan(childPath, now, emit, depth + 1);
    }
  }

  async #lookForDomain(name: string): Promise<number | undefined> {
    return this.findDomainByName(name).catch(() => undefined);
  }

  /** Samples libxenstat; emits VBD counters and domain flags when they change, and 'gone'. */
  #pollStats(domid: number, now: () => number, emit: (s: Signal) => void): () => void {
    const last = new Map<string, number | string>();
    let busy = false;
    const timer = setInterval(async () => {
      if (busy) return;
      busy = true;
      try {
        const d = await this.#stat.domain(domid);
        if (!d) {
          emit({ at: now(), source: 'dom', flags: 'gone' });
          clearInterval(timer);
          return;
        }
        const flags = FLAG_NAMES.filter((f) => d.state[f]);
        if (last.get('flags') !== flags.join(',')) {
          last.set('flags', flags.join(','));
          emit({ at: now(), source: 'dom', flags });
        }
        for (const v of d.vbds) {
          if (!v.counters) continue;
          for (const counter of VBD_COUNTERS) {
            const value = v.counters[COUNTER_FIELDS[counter]];
            const key = `${v.device}/${counter}`;
            if (last.get(key) !== value) {
              last.set(key, value);
              emit({ at: now(), source: 'vbd', device: v.device, counter, value });
            }
          }
        }
      } catch {
        // A failed sample is retried at the next tick; xenstored death arrives as a fault.
      } finally {
        busy = false;
      }
    }, this.#options.pollMs);
    return () => clearInterval(timer);
  }

  /**
   * Follows the console from its first byte. xenconsoled's guest log has it
   * all; a pty opened late loses what came before (QubesOS#6973).
   */
  #followConsole(
    domid: number,
    log: string | null,
    logStart: number,
    now: () => number,
    emit: (s: Signal) => void,
  ): () => Promise<void> {
    let stopped = false;
    const done = (async () => {
      // xenconsoled creates the log, or the pty and its xenstore node, only
      // after it sees the domain, which can be after we attach: wait for it.
      for (;;) {
        if (stopped) return;
        if (log !== null) {
          if (await exists(log)) return this.#followLog(log, logStart, () => stopped, now, emit);
        } else {
          const tty = await this.#store.read(`/local/domain/${domid}/console/tty`).catch(() => null);
          if (tty) return followPty(tty, () => stopped, now, emit);
        }
        await sleep(50);
      }
    })().catch(() => undefined);
    return async () => {
      stopped = true;
      await done;
    };
  }

  async #followLog(
    log: string,
    start: number,
    stopped: () => boolean,
    now: () => number,
    emit: (s: Signal) => void,
  ): Promise<void> {
    // A regular file only (safe-open.ts): a FIFO or device in the log's place must not block us.
    const { handle } = await openRegularFile(log, { what: 'console log' });
    // The log is read from where this boot began.
    let position = start;
    const buffer = Buffer.alloc(64 * 1024);
    try {
      while (!stopped()) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        if (bytesRead > 0) {
          position += bytesRead;
          emit({ at: now(), source: 'con', text: buffer.subarray(0, bytesRead).toString('latin1') });
        } else {
          await sleep(100);
        }
      }
    } finally {
      await handle.close();
    }
  }

  async destroy(domain: CreatedDomain): Promise<void> {
    // Only ever a domain this driver created, and only while it still has that name.
    if (this.#ours.get(domain.domid) !== domain.name) {
      throw new VmbootfailError(`refusing to destroy domain ${domain.domid}: not created by this test`, {
        code: 'ERR_NOT_OUR_DOMAIN',
      });
    }
    const current = await this.#store.read(`/local/domain/${domain.domid}/name`);
    if (current === null) return; // already gone
    if (current !== domain.name) {
      throw new VmbootfailError(
        `refusing to destroy domain ${domain.domid}: it is now named ${current}, not ${domain.name}`,
        {
          code: 'ERR_NOT_OUR_DOMAIN',
        },
      );
    }
    await run(this.#options.xl, ['destroy', String(domain.domid)], { timeout: 60_000 }).catch(
      (error: Error & { stderr?: string }) => {
        throw new VmbootfailError(
          `xl destroy ${domain.domid} failed: ${(error.stderr || error.message).trim()}`,
          {
            code: ErrorCode.LIB_UNAVAILABLE,
            op: 'xl destroy',
          },
        );
      },
    );
    this.#ours.delete(domain.domid);
  }

  inspectDisk(path: string, options?: InspectOptions): Promise<DiskInspection> {
    return this.#inspector.inspect(path, options);
  }

  async close(): Promise<void> {
    await this.#store.close();
  }
}
