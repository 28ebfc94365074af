/** XenStore: promises over libxenstore, watch events, and dead-daemon detection. */
import { EventEmitter } from 'node:events';
import { ErrorCode, VmbootfailError, invalidArgument } from '../errors.js';
import { Lane, withDeadline } from '../native/deadline.js';
import { nativeAddon } from '../native/loader.js';
import type { NativeXenStoreHandle } from '../native/native-types.js';
import { MAX_TIMER_MS, optionsObject, timeoutMs, wholeNumber } from '../util/validate-options.js';

export interface XenStoreOptions {
  /** Deadline for each call; a hung xenstored turns into ERR_DEADLINE. Default 5000 ms. */
  callTimeoutMs?: number;
  /**
   * While watches are registered, the daemon is pinged this often, because a dead
   * xenstored does not wake the watch pipe. 0 disables. Default 1000 ms.
   */
  livenessIntervalMs?: number;
}

export interface XenStoreEvents {
  watch: [path: string, token: string];
  /** The connection is unusable (code ERR_XENSTORE_DISCONNECTED); open a new XenStore. */
  error: [error: VmbootfailError];
}

/** Reads and writes inside one xenstore transaction. */
export interface XenStoreTransaction {
  read(path: string): Promise<string | null>;
  directory(path: string): Promise<string[] | null>;
  write(path: string, value: string | Buffer): Promise<void>;
  mkdir(path: string): Promise<void>;
  rm(path: string): Promise<void>;
}

const NO_TRANSACTION = 0;
const MAX_PATH = 3072; // xenstore's XENSTORE_ABS_PATH_MAX
const MAX_PAYLOAD = 4096; // XENSTORE_PAYLOAD_MAX

function checkPath(path: unknown): asserts path is string {
  if (typeof path !== 'string') throw invalidArgument(`xenstore path must be a string, got ${typeof path}`);
  if (path.length === 0 || (path[0] !== '/' && path[0] !== '@')) {
    throw invalidArgument(`xenstore path must be absolute or a special @ path: ${JSON.stringify(path)}`);
  }
  if (path.includes('\0')) throw invalidArgument('xenstore path must not contain NUL');
  if (Buffer.byteLength(path) > MAX_PATH)
    throw invalidArgument(`xenstore path longer than ${MAX_PATH} bytes`);
}

function toValueBuffer(value: unknown): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (Buffer.isBuffer(value)) return value;
  throw invalidArgument(`xenstore value must be a string or Buffer, got ${typeof value}`);
}

export class XenStore extends EventEmitter<XenStoreEvents> {
  readonly #handle: NativeXenStoreHandle;
  readonly #timeoutMs: number;
  readonly #livenessMs: number;
  readonly #watches = new Set<string>();
  /** This connection's calls, in turn on its native thread (deadline.ts). */
  readonly #lane = new Lane();
  #livenessTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #disconnected = false;

  private constructor(options: XenStoreOptions) {
    super();
    const o = optionsObject(options, 'XenStore options');
    this.#timeoutMs = timeoutMs(o.callTimeoutMs, 'callTimeoutMs') ?? 5000;
    this.#livenessMs = wholeNumber(o.livenessIntervalMs, 'livenessIntervalMs', 0, MAX_TIMER_MS) ?? 1000;
    const { XenStoreHandle } = nativeAddon();
    this.#handle = new XenStoreHandle(
      (path, token) => this.emit('watch', path, token),
      (error) => this.#disconnect(error),
    );
  }

  /**
   * Connects the way libxenstore does (XENSTORED_PATH, XENSTORED_RUNDIR, then
   * /dev/xen/xenbus), and proves the daemon answers: xs_open alone proves nothing.
   */
  static async open(options: XenStoreOptions = {}): Promise<XenStore> {
    const store = new XenStore(options);
    try {
      await store.#call('xs_open', () => store.#handle.open());
      await store.getDomainPath(0);
      return store;
    } catch (error) {
      await store.close().catch(() => undefined);
      throw error;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  async read(path: string): Promise<string | null> {
    const bytes = await this.readBuffer(path);
    return bytes === null ? null : bytes.toString('utf8');
  }

  async readBuffer(path: string): Promise<Buffer | null> {
    checkPath(path);
    return this.#call('xs_read', () => this.#handle.read(NO_TRANSACTION, path), path);
  }

  async directory(path: string): Promise<string[] | null> {
    checkPath(path);
    return this.#call('xs_directory', () => this.#handle.directory(NO_TRANSACTION, path), path);
  }

  async write(path: string, value: string | Buffer): Promise<void> {
    checkPath(path);
    const bytes = toValueBuffer(value);
    if (bytes.length > MAX_PAYLOAD) throw invalidArgument(`xenstore value longer than ${MAX_PAYLOAD} bytes`);
    return this.#call('xs_write', () => this.#handle.write(NO_TRANSACTION, path, bytes), path);
  }

  async mkdir(path: string): Promise<void> {
    checkPath(path);
    return this.#call('xs_mkdir', () => this.#handle.mkdir(NO_TRANSACTION, path), path);
  }

  async rm(path: string): Promise<void> {
    checkPath(path);
    return this.#call('xs_rm', () => this.#handle.rm(NO_TRANSACTION, path), path);
  }

  async getDomainPath(domid: number): Promise<string> {
    if (!Number.isInteger(domid) || domid < 0 || domid > 0x7fef) {
      throw invalidArgument(`domid must be an integer 0..32751, got ${String(domid)}`);
    }
    return this.#call('xs_get_domain_path', () => this.#handle.getDomainPath(domid));
  }

  /**
   * Runs `body` in a transaction and commits it, retrying the whole body when
   * the daemon reports a conflict (EAGAIN). A throwing body aborts.
   */
  async transaction<T>(
    body: (tx: XenStoreTransaction) => Promise<T>,
    options: { attempts?: number } = {},
  ): Promise<T> {
    const attempts = options.attempts ?? 8;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const tx = await this.#call('xs_transaction_start', () => this.#handle.transactionStart());
      let result: T;
      try {
        result = await body(this.#transactionView(tx));
      } catch (error) {
        await this.#call('xs_transaction_end', () => this.#handle.transactionEnd(tx, true)).catch(
          () => undefined,
        );
        throw error;
      }
      const committed = await this.#call('xs_transaction_end', () => this.#handle.transactionEnd(tx, false));
      if (committed) return result;
    }
    throw new VmbootfailError(`xenstore transaction still conflicting after ${attempts} attempts`, {
      code: ErrorCode.TRANSACTION_CONFLICT,
      lib: 'xenstore',
      op: 'xs_transaction_end',
    });
  }

  #transactionView(tx: number): XenStoreTransaction {
    const h = this.#handle;
    return {
      read: async (path) => {
        checkPath(path);
        const bytes = await this.#call('xs_read', () => h.read(tx, path), path);
        return bytes === null ? null : bytes.toString('utf8');
      },
      directory: async (path) => {
        checkPath(path);
        return this.#call('xs_directory', () => h.directory(tx, path), path);
      },
      write: async (path, value) => {
        checkPath(path);
        const bytes = toValueBuffer(value);
        return this.#call('xs_write', () => h.write(tx, path, bytes), path);
      },
      mkdir: async (path) => {
        checkPath(path);
        return this.#call('xs_mkdir', () => h.mkdir(tx, path), path);
      },
      rm: async (path) => {
        checkPath(path);
        return this.#call('xs_rm', () => h.rm(tx, path), path);
      },
    };
  }

  /** Watches `path` and its subtree. xenstored fires once at once for the path itself. */
  async watch(path: string, token = path): Promise<void> {
    checkPath(path);
    if (typeof token !== 'string') throw invalidArgument('watch token must be a string');
    await this.#call('xs_watch', () => this.#handle.watch(path, token), path);
    this.#watches.add(`${path}\0${token}`);
    this.#startLiveness();
  }

  async unwatch(path: string, token = path): Promise<void> {
    checkPath(path);
    await this.#call('xs_unwatch', () => this.#handle.unwatch(path, token), path);
    this.#watches.delete(`${path}\0${token}`);
    if (this.#watches.size === 0) this.#stopLiveness();
  }

  /** Lets the process exit while watches are registered (like socket.unref()). */
  unref(): this {
    this.#handle.unref();
    return this;
  }

  ref(): this {
    this.#handle.ref();
    return this;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopLiveness();
    await this.#handle.close();
  }

  async #call<T>(op: string, call: () => Promise<T>, path?: string): Promise<T> {
    if (this.#closed) {
      throw new VmbootfailError('the xenstore connection is closed', {
        code: ErrorCode.CLOSED,
        lib: 'xenstore',
        op,
      });
    }
    return withDeadline(
      call,
      this.#timeoutMs,
      { lib: 'xenstore', op, ...(path ? { path } : {}) },
      this.#lane,
    );
  }

  #startLiveness(): void {
    if (this.#livenessTimer || this.#livenessMs <= 0) return;
    this.#livenessTimer = setInterval(() => {
      this.getDomainPath(0).catch((error: unknown) => {
        if (!this.#closed) this.#disconnect(error);
      });
    }, this.#livenessMs);
    // The watch itself decides whether the process stays alive, not the ping.
    this.#livenessTimer.unref();
  }

  #stopLiveness(): void {
    clearInterval(this.#livenessTimer);
    this.#livenessTimer = undefined;
  }

  #disconnect(cause: unknown): void {
    if (this.#disconnected) return;
    this.#disconnected = true;
    this.#stopLiveness();
    const reason = cause instanceof Error ? cause.message : String(cause);
    const error = new VmbootfailError(`xenstored stopped answering: ${reason}`, {
      code: ErrorCode.XENSTORE_DISCONNECTED,
      lib: 'xenstore',
      op: 'watch',
      cause,
    });
    // As with any EventEmitter, an 'error' without a listener is thrown.
    this.emit('error', error);
  }
}
